import type { Context, Middleware } from 'koa';
import { AppError } from '../../errors/appError.ts';
import type { TenantContext } from '../../tenancy/tenant.ts';
import type { Scope } from '../../tenancy/tenantEvents.ts';
import { requireScope, type Authenticator } from '../auth.ts';
import type { RateLimiter } from '../rateLimit.ts';
import { sdkPathPrefix } from '../envelope.ts';
import type { Cors } from '../cors.ts';

/** Paths under /v1 that need no key (the public API description). */
const publicPaths = new Set(['/v1/openapi.json']);

function setRateHeaders(ctx: Context, limit: number | null, remaining: number | null, reset: number): void {
  ctx.set('X-RateLimit-Limit', limit === null ? 'unlimited' : String(limit));
  ctx.set('X-RateLimit-Remaining', remaining === null ? 'unlimited' : String(Math.max(0, remaining)));
  ctx.set('X-RateLimit-Reset', String(reset));
}

/**
 * Every /v1 request (and the SDK's /api/devportal routes): authenticate the key, count it against the tenant's plan, and put the
 * rate-limit headers on the response (errors included). Routes then check their scope.
 */
export function v1Guard(auth: Authenticator, limiter: RateLimiter, cors?: Pick<Cors, 'checkKey'>): Middleware {
  return async (ctx, next) => {
    const guarded = ctx.path.startsWith('/v1/') || ctx.path === '/v1' || ctx.path.startsWith(sdkPathPrefix);
    if (!guarded || publicPaths.has(ctx.path)) return next();
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
    await next();
  };
}

/** The authenticated tenant of a /v1 request, after checking the route's scope. */
export function tenantOf(ctx: Context, scope: Scope): TenantContext {
  const tenant = ctx.state.tenant as TenantContext | undefined;
  if (!tenant) throw new AppError('UNAUTHORIZED', 'an API key is required');
  requireScope(tenant, scope);
  return tenant;
}
