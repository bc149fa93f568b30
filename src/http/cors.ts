import type { Context, Middleware } from 'koa';
import { AppError } from '../errors/appError.ts';
import type { TenantContext } from '../tenancy/tenant.ts';
import { groupOf } from './routes/groups.ts';

/** Headers a page may send: the key (either way), JSON, idempotency and read-after. */
const allowedRequestHeaders = ['Authorization', 'X-API-Key', 'Content-Type', 'Idempotency-Key', 'X-Read-After'];
/** Headers a page's script may read besides the simple ones. */
const exposedResponseHeaders = ['X-Request-Id', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Retry-After', 'X-Position', 'Idempotent-Replayed'];
/** How long a browser may cache a preflight answer. */
const preflightMaxAgeSeconds = 600;

export interface CorsOptions {
  /** Whether some active key allows this origin (a preflight carries no key). */
  readonly originAllowed: (origin: string) => Promise<boolean>;
  /** How long an answer of `originAllowed` is reused; a key change also clears it (`forget`). */
  readonly cacheTtlMs?: number;
  readonly now?: () => number;
}

export interface Cors {
  /** Goes before the method and key checks: answers preflights, and puts the CORS headers on every answer to an allowed origin. */
  readonly middleware: Middleware;
  /** After the key is known: a request whose Origin the key does not list is refused before any work. */
  checkKey(ctx: Context, tenant: TenantContext): void;
  /** Drops cached origin answers (after a key was issued, changed or revoked on this instance). */
  forget(): void;
}

/**
 * CORS for browsers using keys with allowed origins, on the route groups open to browsers (/v1's and the SDK's). Requests
 * without an `Origin` (servers) and same-origin requests (the console) are not affected.
 *
 * - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) answers 204 with the
 *   CORS headers when some active key allows the origin, and 403 FORBIDDEN otherwise.
 * - A request with an `Origin` gets `Access-Control-Allow-Origin` (and the exposed headers) when
 *   some key allows that origin, so the page can read the answer, errors included; its own key
 *   must list the origin, or it is 403 FORBIDDEN with `details.origin`.
 */
export function createCors(options: CorsOptions): Cors {
  const ttl = options.cacheTtlMs ?? 5000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { allowed: boolean; until: number }>();

  async function allowed(origin: string): Promise<boolean> {
    const cached = cache.get(origin);
    if (cached && cached.until > now()) return cached.allowed;
    const answer = await options.originAllowed(origin);
    if (cache.size > 10_000) cache.clear();
    cache.set(origin, { allowed: answer, until: now() + ttl });
    return answer;
  }

  return {
    middleware: async (ctx, next) => {
      const origin = crossOrigin(ctx);
      if (origin === undefined) return next();
      const preflight = ctx.method === 'OPTIONS' && ctx.get('Access-Control-Request-Method') !== '';
      const isAllowed = await allowed(origin);
      ctx.vary('Origin');
      if (preflight) {
        if (!isAllowed) throw new AppError('FORBIDDEN', `no API key allows requests from ${origin}`, { origin });
        ctx.set('Access-Control-Allow-Origin', origin);
        ctx.set('Access-Control-Allow-Methods', 'GET, POST, PATCH, DELETE');
        ctx.set('Access-Control-Allow-Headers', allowedRequestHeaders.join(', '));
        ctx.set('Access-Control-Max-Age', String(preflightMaxAgeSeconds));
        ctx.status = 204;
        return;
      }
      try {
        await next();
      } finally {
        if (isAllowed) {
          ctx.set('Access-Control-Allow-Origin', origin);
          ctx.set('Access-Control-Expose-Headers', exposedResponseHeaders.join(', '));
        }
      }
    },
    checkKey(ctx, tenant) {
      const origin = crossOrigin(ctx);
      if (origin === undefined) return;
      if (!(tenant.allowedOrigins ?? []).includes(origin)) throw new AppError('FORBIDDEN', `this API key may not be used from ${origin}; add the origin to the key's allowedOrigins`, { origin });
    },
    forget() {
      cache.clear();
    },
  };
}

/** The request's Origin when it is a cross-origin request to a CORS path; undefined otherwise. */
function crossOrigin(ctx: Context): string | undefined {
  if (!groupOf(ctx.path).browserAccess) return undefined;
  const origin = ctx.get('Origin');
  if (origin === '') return undefined;
  // Same origin (a page this service serves, like the console): the browser's own rules apply.
  try {
    if (new URL(origin).host === ctx.host) return undefined;
  } catch {
    // Not a URL ("null", garbage): a cross-origin request no key can allow.
  }
  return origin;
}
