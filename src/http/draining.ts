import net from 'node:net';
import type { Server } from 'node:http';
import type { Middleware } from 'koa';
import { AppError } from '../errors/appError.ts';

/**
 * Graceful shutdown of the HTTP side. Once draining: requests already running finish and are
 * answered with `Connection: close`; a request that starts afterwards (on a kept-alive socket, or
 * on a connection accepted just before) gets 503 SERVICE_UNAVAILABLE with `Connection: close`
 * and runs nothing.
 */
export interface Drain {
  /** Goes first among the app's middleware (after request ids), so refusals get the envelope. */
  readonly middleware: Middleware;
  readonly active: boolean;
  start(): void;
}

export function createDrain(): Drain {
  let active = false;
  return {
    get active() {
      return active;
    },
    start() {
      active = true;
    },
    middleware: async (ctx, next) => {
      if (active) {
        ctx.set('Connection', 'close');
        throw new AppError('SERVICE_UNAVAILABLE', 'the service is shutting down; retry on another instance or shortly', { retryAfterSeconds: 1 });
      }
      try {
        await next();
      } finally {
        // Node then closes the socket after this response instead of keeping it alive.
        if (active) ctx.set('Connection', 'close');
      }
    },
  };
}

export interface CloseOutcome {
  /** True when the deadline came first and the remaining connections were destroyed. */
  readonly forced: boolean;
}

/**
 * Stops accepting connections at once and resolves when every connection has closed, or at
 * `deadline` (epoch ms) after destroying what is left. Idle kept-alive sockets are closed after
 * `idleGraceMs`, so that a request already on its way is answered (503) rather than reset.
 */
export function closeServer(server: Server, options: { readonly deadline: number; readonly idleGraceMs: number }): Promise<CloseOutcome> {
  return new Promise<CloseOutcome>((resolve) => {
    let settled = false;
    const finish = (forced: boolean) => {
      if (settled) return;
      settled = true;
      clearInterval(idleSweep);
      clearTimeout(idleStart);
      clearTimeout(deadline);
      resolve({ forced });
    };
    // http.Server#close would also drop idle sockets at once, racing requests on their way in;
    // net.Server#close only stops accepting and calls back when the last connection is gone.
    net.Server.prototype.close.call(server, () => finish(false));
    let idleSweep: NodeJS.Timeout | undefined;
    const idleStart = setTimeout(() => {
      server.closeIdleConnections();
      idleSweep = setInterval(() => server.closeIdleConnections(), 100);
      idleSweep.unref();
    }, Math.max(0, Math.min(options.idleGraceMs, options.deadline - Date.now())));
    idleStart.unref();
    const deadline = setTimeout(() => {
      server.closeAllConnections();
      finish(true);
    }, Math.max(0, options.deadline - Date.now()));
    deadline.unref();
  });
}
