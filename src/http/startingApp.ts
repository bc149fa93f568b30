import Koa from 'koa';
import type { Logger } from 'pino';
import { errorHandler } from './errorHandler.ts';
import { respond, respondError } from './envelope.ts';
import { requestId } from './requestId.ts';

/** What the HTTP server answers while the service is still starting: it listens at once. */
export interface StartingState {
  /** The start-up phase running now (e.g. "loading the matcher"). */
  phase(): string;
  readonly startedAt: number;
}

/**
 * The app the server answers with until the service is composed: `/healthz` says the process
 * runs (liveness), `/readyz` is 503 naming the phase (readiness), and everything else is 503
 * SERVICE_UNAVAILABLE with Retry-After, in the envelope.
 */
export function createStartingApp(logger: Logger, state: StartingState): Koa {
  const app = new Koa({ proxy: false });
  app.silent = true;
  app.use(errorHandler(logger));
  app.use(requestId());
  app.use((ctx) => {
    // No kept-alive connections while starting: opening the embedded database can hold the event
    // loop for seconds, after which Node's keep-alive timer closes an idle socket the client has
    // just reused (a reset). Each probe gets its own connection until the service answers.
    ctx.set('Connection', 'close');
    const phase = state.phase();
    if (ctx.path === '/healthz' && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      respond(ctx, { status: 'ok', uptimeSeconds: Math.round((Date.now() - state.startedAt) / 1000), starting: phase });
      return;
    }
    ctx.set('Retry-After', '1');
    if (ctx.path === '/readyz') {
      respondError(ctx, 503, 'SERVICE_UNAVAILABLE', 'not ready: starting', { checks: [{ name: 'startup', ok: false, phase }] });
      return;
    }
    respondError(ctx, 503, 'SERVICE_UNAVAILABLE', `the service is starting (${phase}); retry shortly`, { retryAfterSeconds: 1, phase });
  });
  return app;
}

/** A request handler that can be switched from one app to another (the starting app, then the service). */
export interface AppSwitch {
  callback(): (req: Parameters<ReturnType<Koa['callback']>>[0], res: Parameters<ReturnType<Koa['callback']>>[1]) => Promise<void>;
  use(app: Koa): void;
}

export function createAppSwitch(initial: Koa): AppSwitch {
  let handle = initial.callback();
  return {
    callback: () => (req, res) => handle(req, res),
    use(app) {
      handle = app.callback();
    },
  };
}
