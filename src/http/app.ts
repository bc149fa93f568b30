import Koa from 'koa';
import type Router from '@koa/router';
import type { Logger } from 'pino';
import { accessLog } from './accessLog.ts';
import { allowedMethods } from './allowedMethods.ts';
import { errorHandler } from './errorHandler.ts';
import { requestId } from './requestId.ts';

export interface HttpAppOptions {
  readonly logger: Logger;
  /** Observes every request (outermost with the access log, so it sees the final status). */
  readonly metrics?: Koa.Middleware;
  /** CORS: before the method check, so that preflights are answered (and every answer to an allowed origin carries its headers). */
  readonly cors?: Koa.Middleware;
  /** Middleware that runs before every router (e.g. the /v1 key and rate-limit guard). */
  readonly middleware?: readonly Koa.Middleware[];
  readonly routers: readonly Router[];
}

/** The Koa application: access log, error envelope, request ids, methods, then the middleware and routers. */
export function createHttpApp(options: HttpAppOptions): Koa {
  const app = new Koa({ proxy: false });
  // Errors are written by errorHandler; Koa's default handler would print them a second time.
  app.silent = true;
  // Outermost, so it logs the status the error middleware answered with.
  app.use(accessLog(options.logger));
  if (options.metrics) app.use(options.metrics);
  app.use(errorHandler(options.logger));
  app.use(requestId());
  if (options.cors) app.use(options.cors);
  app.use(allowedMethods(options.routers));
  for (const middleware of options.middleware ?? []) app.use(middleware);
  for (const router of options.routers) app.use(router.routes());
  return app;
}
