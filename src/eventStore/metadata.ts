import type { TenantContext } from '../tenancy/tenant.ts';
import type { EventMetadata } from './eventStore.ts';

/** Who caused a command: the tenant context, the request, and (for sign-ins) where it came from. */
export interface CommandContext {
  readonly tenant: TenantContext;
  readonly requestId: string;
  readonly ip?: string;
  readonly userAgent?: string;
}

export const schemaVersion = 1;

/** The metadata every event of a command carries; nothing personal. */
export function eventMetadata(context: CommandContext, occurredAt: Date): EventMetadata {
  return {
    occurredAt: occurredAt.toISOString(),
    schemaVersion,
    tenantId: context.tenant.tenantId,
    mode: context.tenant.mode,
    requestId: context.requestId,
    ...(context.tenant.actorKeyId !== undefined ? { actorKeyId: context.tenant.actorKeyId } : {}),
  };
}
