import type { Context } from 'koa';
import type { TenantContext } from '../../tenancy/tenant.ts';
import type { Authenticator } from '../auth.ts';
import type { RateLimiter } from '../rateLimit.ts';
import type { Cors } from '../cors.ts';
import type { OperatorAccess } from './operatorAccess.ts';

function setRateHeaders(ctx: Context, limit: number | null, remaining: number | null, reset: number): void {
  ctx.set('X-RateLimit-Limit', limit === null ? 'unlimited' : String(limit));
  ctx.set('X-RateLimit-Remaining', remaining === null ? 'unlimited' : String(Math.max(0, remaining)));
  ctx.set('X-RateLimit-Reset', String(reset));
}

/**
 * What every route declared with a key runs first (/v1 and the SDK's routes): authenticate the
 * key, refuse a browser origin the key does not list, count the request against the tenant's plan
 * and put the rate-limit headers on the answer (errors included). The route then checks its scope.
 * An operator acting on a tenant (operatorAccess.ts) is not counted against the tenant's plan.
 */
export function keyGuard(auth: Authenticator, limiter: RateLimiter, cors?: Pick<Cors, 'checkKey'>, operator?: OperatorAccess): (ctx: Context) => Promise<TenantContext> {
  return async (ctx) => {
    const acting = await operator?.resolve(ctx);
    if (acting) {
      cors?.checkKey(ctx, acting);
      ctx.state.tenant = acting;
      setRateHeaders(ctx, null, null, Math.floor(Date.now() / 60_000) * 60 + 60);
      return acting;
    }
    const tenant = await auth.authenticate(ctx);
    // A browser on an origin this key does not list: refused before it counts or does anything.
    cors?.checkKey(ctx, tenant);
    ctx.state.tenant = tenant;
    try {
      const decision = await limiter.admit(tenant);
      setRateHeaders(ctx, decision.limit, decision.remaining, decision.reset);
    } catch (error) {
      const rate = (error as { details?: { rateLimit?: { limit: number; remaining: number; reset: number } } }).details?.rateLimit;
      if (rate) setRateHeaders(ctx, rate.limit, rate.remaining, rate.reset);
      throw error;
    }
    return tenant;
  };
}
