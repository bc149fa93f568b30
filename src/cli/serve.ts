import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { composeService } from '../composition/root.ts';
import { createHttpServer } from '../http/httpServer.ts';

/** Runs the HTTP service until SIGTERM or SIGINT, then closes in reverse order. Resolves with the exit code. */
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
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => {
        logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; exiting');
        resolve(1);
      }, config.shutdownTimeoutMs);
      force.unref();
      server.close(() => {
        void service.close().then(() => {
          clearTimeout(force);
          logger.info('stopped');
          resolve(0);
        });
      });
      // Idle keep-alive sockets would hold server.close() open.
      server.closeIdleConnections();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
