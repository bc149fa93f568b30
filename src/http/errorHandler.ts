import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { codeOf, statusOf, type ErrorCode } from '../errors/appError.ts';
import { respondError } from './envelope.ts';

/**
 * The one error middleware, first in the chain. Writes the envelope for every error and every
 * unmatched route; logs only what is not the client's fault (5xx), never request bodies.
 */
export function errorHandler(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.body === undefined && ctx.status === 404) {
        respondError(ctx, 404, 'NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`, { method: ctx.method, path: ctx.path });
      }
    } catch (error) {
      const code: ErrorCode = codeOf(error) ?? httpErrorCode(error) ?? 'INTERNAL_ERROR';
      const status = statusOf(code);
      const exposed = status < 500 || code === 'SERVICE_UNAVAILABLE' || code === 'TIMEOUT';
      const message = exposed && error instanceof Error ? error.message : 'internal error';
      const details = exposed && typeof error === 'object' && error !== null && 'details' in error ? ((error as { details: Record<string, unknown> }).details ?? {}) : {};
      // A client that hung up mid-request is not a server fault.
      const clientGone = (error as { code?: unknown }).code === 'ECONNRESET' || (error as { code?: unknown }).code === 'ECONNABORTED';
      if (status >= 500 && !clientGone) logger.error({ err: error, requestId: ctx.state.requestId, method: ctx.method, path: ctx.path }, 'request failed');
      respondError(ctx, status, code, message, { ...details });
      const retryAfter = (details as { retryAfterSeconds?: unknown }).retryAfterSeconds;
      if (typeof retryAfter === 'number') ctx.set('Retry-After', String(retryAfter));
    }
  };
}

/** Maps errors thrown by Koa or its helpers (which carry an HTTP status) onto our codes. */
function httpErrorCode(error: unknown): ErrorCode | undefined {
  const status = typeof error === 'object' && error !== null ? ((error as { status?: unknown; statusCode?: unknown }).status ?? (error as { statusCode?: unknown }).statusCode) : undefined;
  switch (status) {
    case 400:
      return 'VALIDATION_ERROR';
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'FORBIDDEN';
    case 404:
      return 'NOT_FOUND';
    case 413:
      return 'PAYLOAD_TOO_LARGE';
    case 415:
      return 'UNSUPPORTED_MEDIA_TYPE';
    default:
      return undefined;
  }
}
