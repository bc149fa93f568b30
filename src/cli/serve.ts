import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { composeService } from '../composition/root.ts';
import { closeServer } from '../http/draining.ts';
import { createHttpServer } from '../http/httpServer.ts';

/** How long idle kept-alive sockets may stay after SIGTERM, so a request already on its way gets an answer, not a reset. */
const idleGraceMs = 250;
/** Past the shutdown timeout, what is left gets this long to close before the process exits anyway. */
const hardStopMs = 1000;

/**
 * Runs the HTTP service until SIGTERM or SIGINT. Resolves with the exit code: 0 when every
 * connection and every part closed within SHUTDOWN_TIMEOUT_MS, 1 otherwise. The process ends
 * within SHUTDOWN_TIMEOUT_MS + 1 s in every case.
 */
export async function serve(config: Config, logger: Logger): Promise<number> {
  const service = await composeService(config, logger, { startProjections: true }, (tenantId, keys) => {
    // Shown once, on the first start of the embedded default, on stdout and never in a log line.
    process.stdout.write(
      [
        '',
        'First start: created the default tenant and its first API keys. They are shown this once; store them now.',
        `  tenant    ${tenantId}`,
        `  live key  ${keys.live.key}`,
        `  test key  ${keys.test.key}`,
        '',
        '',
      ].join('\n'),
    );
  });
  const server: Server = createHttpServer(service.app, config.http).listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  }).catch(async (error: unknown) => {
    await service.close();
    throw error;
  });
  const address = server.address();
  logger.info({ address: typeof address === 'object' && address ? `${address.address}:${address.port}` : address }, 'listening');

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
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
      service.drain.start();
      const { forced } = await closeServer(server, { deadline, idleGraceMs });
      if (forced) logger.warn({ ms: Date.now() - started }, 'shutdown timeout reached: closed the remaining connections');
      const closed = await Promise.race([service.close().then(() => true), new Promise<false>((done) => setTimeout(() => done(false), Math.max(0, deadline + hardStopMs - 200 - Date.now())).unref())]);
      clearTimeout(hardStop);
      const code = forced || !closed ? 1 : 0;
      logger.info({ ms: Date.now() - started, code }, closed ? 'stopped' : 'stopped; some parts did not close in time');
      resolve(code);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
}
