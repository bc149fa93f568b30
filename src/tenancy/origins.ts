import { z } from 'zod';

/** Origins a key may list: enough for an app's environments, few enough to read at a glance. */
export const maxAllowedOrigins = 20;

/**
 * Whether a text is an exact web origin as a browser sends it in `Origin`: `http` or `https`, a
 * host, an optional port, nothing else (no path, query, fragment, credentials or wildcard), and
 * already in the browser's form (lower-case, no default port).
 */
export function isExactOrigin(text: string): boolean {
  if (text.length > 300) return false;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  // A host of letters, digits, hyphens and dots (no wildcard, no underscore), or an IP literal.
  const host = url.hostname;
  const plainHost = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(host) || /^\[[0-9a-f:.]+\]$/.test(host);
  return (url.protocol === 'https:' || url.protocol === 'http:') && plainHost && url.origin === text;
}

/** A key's allowed origins in a request body: exact origins, each once. */
export const allowedOriginsSchema = z
  .array(z.string().refine(isExactOrigin, { message: 'must be an exact origin such as https://app.example.com (scheme, host and port only, lower-case)' }))
  .max(maxAllowedOrigins, `must list at most ${maxAllowedOrigins} origins`)
  .refine((origins) => new Set(origins).size === origins.length, { message: 'must not list an origin twice' })
  .meta({ description: 'Exact origins a browser may call the API from with this key (CORS). Empty: no browser may.' });
