import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { TenantContext } from '../tenancy/tenant.ts';

/**
 * One `info` line per request, written after the error middleware has set the real status.
 * It names the route template, never the path or query (they can carry an email or an id a
 * client chose), and the tenant and key id, never a key, token, body or header.
 */
export function accessLog(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const tenant = ctx.state.tenant as TenantContext | undefined;
      const route = (ctx as unknown as { _matchedRoute?: unknown })._matchedRoute;
      logger.info(
        {
          requestId: ctx.state.requestId,
          method: ctx.method,
          route: typeof route === 'string' ? route : null,
          status: ctx.status,
          ms: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
          ...(tenant ? { tenantId: tenant.tenantId, mode: tenant.mode, keyId: tenant.actorKeyId } : {}),
        },
        'request',
      );
    }
  };
}
