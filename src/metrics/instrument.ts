import type { Middleware } from 'koa';
import type { Matcher } from '../matching/matcher.ts';
import type { Metrics } from './metrics.ts';

/**
 * Observes every answered request: its route template (never the path, which can carry an id or
 * an email a client chose; "unmatched" when no route took it), method, status, and the error code
 * the error envelope answered with. Runs outside the error middleware, so it sees the final status.
 */
export function metricsMiddleware(metrics: Metrics): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const route = (ctx as unknown as { _matchedRoute?: unknown })._matchedRoute;
      metrics.observeRequest(typeof route === 'string' ? route : 'unmatched', ctx.method, ctx.status, Number(process.hrtime.bigint() - started) / 1e9);
      const code = errorCodeOf(ctx.body);
      if (code !== undefined) metrics.countError(code);
    }
  };
}

/** The code of an error answer: the envelope's `error.code`, or the SDK routes' flat `code`. */
function errorCodeOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || (body as { success?: unknown }).success !== false) return undefined;
  const { error, code } = body as { error?: unknown; code?: unknown };
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string') return (error as { code: string }).code;
  return typeof code === 'string' ? code : undefined;
}

/** The matcher, timing every identify scan against the size of the gallery it scanned. */
export function instrumentMatcher(matcher: Matcher, metrics: Metrics): Matcher {
  return {
    ...matcher,
    async identify(key, query, options) {
      const size = matcher.size(key);
      const started = process.hrtime.bigint();
      const result = await matcher.identify(key, query, options);
      metrics.observeScan(size, Number(process.hrtime.bigint() - started) / 1e9);
      return result;
    },
  };
}
