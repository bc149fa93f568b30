import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { Service } from '../composition/root.ts';
import { closeServer } from '../http/draining.ts';
import { createHttpServer } from '../http/httpServer.ts';
import { createAppSwitch, createStartingApp } from '../http/startingApp.ts';

/** Past the shutdown timeout, what is left gets this long to close before the process exits anyway. */
const hardStopMs = 1000;

/**
 * Runs the HTTP service until SIGTERM or SIGINT. It listens at once: while the service starts,
 * `/healthz` answers (the process runs) and `/readyz` and every other route answer 503 naming the
 * phase; each phase's duration is logged. Resolves with the exit code: 0 when every connection
 * and every part closed within SHUTDOWN_TIMEOUT_MS, 1 otherwise. The process ends within
 * SHUTDOWN_TIMEOUT_MS + 1 s in every case.
 */
export async function serve(config: Config, logger: Logger): Promise<number> {
  const startedAt = Date.now();
  let phase = 'loading the code';
  let phaseStartedAt = startedAt;
  const phases: Record<string, number> = {};
  const enter = (next: string) => {
    const now = Date.now();
    phases[phase] = now - phaseStartedAt;
    logger.info({ phase: next, previous: phase, ms: now - phaseStartedAt }, 'start-up phase');
    phase = next;
    phaseStartedAt = now;
  };
  const app = createAppSwitch(createStartingApp(logger, { phase: () => phase, startedAt }));
  const server: Server = createHttpServer(app, config.http).listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  logger.info({ address: typeof address === 'object' && address ? `${address.address}:${address.port}` : address, ms: Date.now() - startedAt }, 'listening');

  let service: Service | undefined;
  let stopping: Promise<number> | undefined;
  const stop = (signal: string): Promise<number> =>
    (stopping ??= (async () => {
      const started = Date.now();
      const deadline = started + config.shutdownTimeoutMs;
      logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: no new connections; answering requests in flight');
      // Whatever still holds the event loop after the deadline (a stuck query, a worker) cannot
      // keep the process: it ends with code 1 a second later at most.
      const hardStop = setTimeout(() => {
        logger.error({ ms: Date.now() - started }, 'shutdown did not finish in time; exiting');
        process.exit(1);
      }, config.shutdownTimeoutMs + hardStopMs - 50);
      hardStop.unref();
      service?.drain.start();
      const { forced } = await closeServer(server, { deadline, idleGraceMs: config.shutdownIdleGraceMs });
      if (forced) logger.warn({ ms: Date.now() - started }, 'shutdown timeout reached: closed the remaining connections');
      // A signal during start-up waits for the start to finish, then closes what it opened.
      const closed = await Promise.race([
        composing.then((composed) => composed?.close()).then(() => true),
        new Promise<false>((done) => setTimeout(() => done(false), Math.max(0, deadline + hardStopMs - 200 - Date.now())).unref()),
      ]);
      clearTimeout(hardStop);
      const code = forced || !closed ? 1 : 0;
      logger.info({ ms: Date.now() - started, code }, closed ? 'stopped' : 'stopped; some parts did not close in time');
      return code;
    })());
  const signalled = new Promise<number>((resolve) => {
    process.once('SIGTERM', () => resolve(stop('SIGTERM')));
    process.once('SIGINT', () => resolve(stop('SIGINT')));
  });

  // The service's code is loaded only now, so that the port answers first.
  enter('loading the service');
  const composing: Promise<Service | undefined> = import('../composition/root.ts')
    .then(({ composeService }) =>
      composeService(
        config,
        logger,
        { startProjections: true, onPhase: enter },
        (tenantId, keys) => {
          // Shown once, on the first start of the embedded default, on stdout and never in a log line.
          process.stdout.write(
            [
              '',
              'First start: created the default tenant and its first API keys. They are shown this once; store them now.',
              `  tenant    ${tenantId} (enterprise plan: the live key has no rate limit; the test key counts as free, 10 requests a minute)`,
              `  live key  ${keys.live.key}`,
              `  test key  ${keys.test.key}`,
              '',
              '',
            ].join('\n'),
          );
        },
      ),
    )
    .then(
      (composed) => composed,
      (error: unknown) => {
        logger.fatal({ err: error }, 'cannot start');
        return undefined;
      },
    );
  const composed = await composing;
  if (!composed) {
    server.closeAllConnections();
    server.close();
    return 1;
  }
  service = composed;
  if (stopping) return stopping;
  enter('serving');
  app.use(composed.app);
  logger.info({ ms: Date.now() - startedAt, phases }, 'started');
  return signalled;
}
