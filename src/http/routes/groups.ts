/**
 * The route groups of the service: where each one is mounted and how it answers errors. Declared
 * here, without their routes, so that what answers before the routes exist (the start-up app, the
 * HTTP server's refusals of malformed requests) answers in the same shape.
 */
export type ErrorShape = 'envelope' | 'sdk';

export interface GroupInfo {
  readonly name: string;
  /** Every path under it belongs to the group, routes or not (an unknown SDK path answers in the SDK's shape). */
  readonly prefix: string;
  /** `envelope`: `{success, error: {code, message, details}, meta}`; `sdk`: the FaceSmash SDK's flat `{success, error: message, code}`. */
  readonly errorShape: ErrorShape;
  /** Browsers may call it from the origins a key allows (CORS). */
  readonly browserAccess: boolean;
}

export const groups = {
  faces: { name: 'faces', prefix: '/v1/faces', errorShape: 'envelope', browserAccess: true },
  users: { name: 'users', prefix: '/v1/users', errorShape: 'envelope', browserAccess: true },
  erasures: { name: 'erasures', prefix: '/v1/erasures', errorShape: 'envelope', browserAccess: true },
  webhooks: { name: 'webhooks', prefix: '/v1/webhooks', errorShape: 'envelope', browserAccess: true },
  sdk: { name: 'sdk', prefix: '/api/devportal', errorShape: 'sdk', browserAccess: true },
  admin: { name: 'admin', prefix: '/admin', errorShape: 'envelope', browserAccess: false },
  docs: { name: 'docs', prefix: '/docs', errorShape: 'envelope', browserAccess: false },
  console: { name: 'console', prefix: '/console', errorShape: 'envelope', browserAccess: false },
  service: { name: 'service', prefix: '', errorShape: 'envelope', browserAccess: false },
} as const satisfies Record<string, GroupInfo>;

const byPrefix: readonly GroupInfo[] = Object.values(groups).sort((a, b) => b.prefix.length - a.prefix.length);

/** The group that owns a path: the one with the longest prefix that is the path or a parent of it. */
export function groupOf(path: string): GroupInfo {
  for (const group of byPrefix) {
    if (group.prefix === '' || path === group.prefix || path.startsWith(`${group.prefix}/`)) return group;
  }
  return groups.service;
}
