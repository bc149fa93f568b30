import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { AppError } from '../errors/appError.ts';
import { respond } from './envelope.ts';
import { groupOf } from './routes/groups.ts';

/**
 * Methods for every path a route serves, in one place and before any key is checked (what a path
 * allows is public, in the OpenAPI document): `OPTIONS` answers 200 with `Allow` in the envelope,
 * and a method the path does not have (`PUT`, `PROPFIND`, …) is 405 METHOD_NOT_ALLOWED with
 * `Allow`, through the error middleware like every other error. Paths no route serves pass on,
 * to the /v1 key check and then the 404 answer.
 *
 * CORS preflights are plain OPTIONS requests here: they get this answer, without any
 * Access-Control-* header, so browsers do not send the cross-origin request.
 */
export function allowedMethods(routers: readonly Router[]): Middleware {
  return async (ctx, next) => {
    const allow = methodsServing(routers, ctx.path);
    if (allow.length === 0) return next();
    if (ctx.method === 'OPTIONS') {
      ctx.set('Allow', allow.join(', '));
      if (groupOf(ctx.path).errorShape === 'sdk') ctx.body = { success: true, allow };
      else respond(ctx, { allow });
      return;
    }
    if (!allow.includes(ctx.method)) {
      ctx.set('Allow', allow.join(', '));
      throw new AppError('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on this path; it allows ${allow.join(', ')}`, { method: ctx.method, allow });
    }
    return next();
  };
}

/** The methods routes declare for `path` (HEAD wherever GET is), plus OPTIONS; none when no route matches. */
function methodsServing(routers: readonly Router[], path: string): string[] {
  const methods = new Set<string>();
  for (const router of routers) {
    for (const layer of router.match(path, 'OPTIONS').path) for (const method of layer.methods) methods.add(method);
  }
  if (methods.size === 0) return [];
  methods.add('OPTIONS');
  return order.filter((method) => methods.has(method)).concat([...methods].filter((method) => !order.includes(method)).sort());
}

const order = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
