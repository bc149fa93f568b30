import Koa from 'koa';
import type Router from '@koa/router';
import type { Logger } from 'pino';
import { allowedMethods } from './allowedMethods.ts';
import { errorHandler } from './errorHandler.ts';
import { requestId } from './requestId.ts';

export interface HttpAppOptions {
  readonly logger: Logger;
  /** Middleware that runs before every router (e.g. the /v1 key and rate-limit guard). */
  readonly middleware?: readonly Koa.Middleware[];
  readonly routers: readonly Router[];
}

/** The Koa application: error envelope first, then request ids, access logs, methods, and the routers. */
export function createHttpApp(options: HttpAppOptions): Koa {
  const app = new Koa({ proxy: false });
  // Errors are written by errorHandler; Koa's default handler would print them a second time.
  app.silent = true;
  app.use(errorHandler(options.logger));
  app.use(requestId());
  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      options.logger.debug({ requestId: ctx.state.requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10 }, 'request');
    }
  });
  app.use(allowedMethods(options.routers));
  for (const middleware of options.middleware ?? []) app.use(middleware);
  for (const router of options.routers) app.use(router.routes());
  return app;
}
