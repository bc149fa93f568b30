import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';

/**
 * Checks a request's `Authorization: Bearer <token>` against one configured token. The two are
 * hashed first, so that the comparison is over equal lengths and constant time: neither the token
 * nor its length leaks through timing.
 */
export function bearerTokenCheck(token: string): (ctx: Context) => boolean {
  const expected = createHash('sha256').update(token).digest();
  return (ctx) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('Authorization'));
    const given = createHash('sha256').update(match?.[1] ?? '').digest();
    return timingSafeEqual(given, expected) && match !== null;
  };
}
