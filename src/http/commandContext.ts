import type { Context } from 'koa';
import type { CommandContext } from '../eventStore/metadata.ts';
import type { TenantContext } from '../tenancy/tenant.ts';

const maxUserAgentLength = 512;

/** The command context of a request: tenant, request id, and where it came from. */
export function commandContext(ctx: Context, tenant: TenantContext): CommandContext {
  const userAgent = ctx.get('User-Agent');
  return {
    tenant,
    requestId: String(ctx.state.requestId),
    ...(ctx.ip ? { ip: ctx.ip } : {}),
    ...(userAgent ? { userAgent: userAgent.slice(0, maxUserAgentLength) } : {}),
  };
}
