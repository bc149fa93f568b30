import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';

/** A new request id: `req_` and 20 random hex characters. */
export function newRequestId(): string {
  // randomUUID draws from a buffered pool: a syscall every few hundred ids, not one per request.
  return `req_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
}

/** Gives every request an id, echoed as X-Request-Id. Client-sent ids are not trusted into logs. */
export function requestId(): Middleware {
  return async (ctx, next) => {
    ctx.state.requestId = newRequestId();
    ctx.set('X-Request-Id', ctx.state.requestId);
    await next();
  };
}
