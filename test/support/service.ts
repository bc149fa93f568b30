import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { composeService, type Service } from '../../src/composition/root.ts';
import { createHttpServer } from '../../src/http/httpServer.ts';
import { freshPostgres, postgresUrl } from './databases.ts';
import { embeddedDatabaseCopy } from './pgliteTemplate.ts';
import { quietLogger } from './quietLogger.ts';
import type { Logger } from '../../src/logging/logger.ts';

export interface RunningService {
  readonly service: Service;
  readonly baseUrl: string;
  readonly dataDir: string;
  /** A tenant made for the test (enterprise plan: no rate limits unless a test asks), and its first keys. */
  readonly tenantId: string;
  readonly liveKey: string;
  readonly testKey: string;
  /** `Authorization` header of the live key. */
  readonly auth: Record<string, string>;
  /** Stops the process's service and starts a new one on the same database and data dir (keys stay valid). */
  restart(): Promise<RunningService>;
  /** Another instance on the same PostgreSQL database (its own data dir); stopping it leaves the database. */
  sibling(): Promise<RunningService>;
  stop(): Promise<void>;
}

/**
 * The whole service on port 0: real PostgreSQL (a fresh database) when DATABASE_URL is set,
 * the embedded default in a temporary data dir otherwise (or the store `options.store` names).
 */
export async function startService(
  env: Record<string, string> = {},
  options: {
    startProjections?: boolean;
    plan?: 'free' | 'pro' | 'enterprise';
    clock?: () => Date;
    store?: 'postgres' | 'pglite';
    logger?: Logger;
    /** Runs on the fresh, empty database before the service starts on it (to load a fixture). */
    prepare?: (database: { kind: 'postgres'; url: string } | { kind: 'pglite'; dir: string }) => Promise<void>;
  } = {},
): Promise<RunningService> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-svc-'));
  const store = options.store ?? (postgresUrl ? 'postgres' : 'pglite');
  if (store === 'postgres' && !postgresUrl) throw new Error('a PostgreSQL service needs DATABASE_URL');
  const fresh = store === 'postgres' ? await freshPostgres() : undefined;
  if (!fresh) await fs.rename(await embeddedDatabaseCopy(), path.join(dataDir, 'pglite'));
  await options.prepare?.(fresh ? { kind: 'postgres', url: fresh.url } : { kind: 'pglite', dir: path.join(dataDir, 'pglite') });
  const config = loadConfig({
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    ...(fresh ? { DATABASE_URL: fresh.url, MASTER_KEY: randomBytes(32).toString('base64') } : {}),
    ...env,
  });
  const service = await composeService(config, options.logger ?? quietLogger(), { startProjections: options.startProjections ?? true, checkResponses: true, ...(options.clock ? { clock: options.clock } : {}) });
  const tenant = options.startProjections === false ? undefined : await service.tenants.createTenant({ name: 'test tenant', plan: options.plan ?? 'enterprise' }, 'test-setup');
  const identity = { tenantId: tenant?.tenant.id ?? '', liveKey: tenant?.keys.live.key ?? '', testKey: tenant?.keys.test.key ?? '' };
  const cleanup = async () => {
    await fresh?.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  };
  return serveOn(service, { config, dataDir, identity, options, cleanup });
}

async function serveOn(
  service: Service,
  setup: { config: Config; dataDir: string; identity: { tenantId: string; liveKey: string; testKey: string }; options: { startProjections?: boolean; clock?: () => Date }; cleanup: () => Promise<void> },
): Promise<RunningService> {
  const server: Server = createHttpServer(service.app, setup.config.http).listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await service.close();
  };
  return {
    service,
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir: setup.dataDir,
    ...setup.identity,
    auth: setup.identity.liveKey ? { authorization: `Bearer ${setup.identity.liveKey}` } : {},
    async restart() {
      await close();
      const next = await composeService(setup.config, quietLogger(), { startProjections: setup.options.startProjections ?? true, checkResponses: true, ...(setup.options.clock ? { clock: setup.options.clock } : {}) });
      return serveOn(next, setup);
    },
    async sibling() {
      if (setup.config.database.kind !== 'postgres') throw new Error('only PostgreSQL takes a second instance (the embedded database is one process per data dir)');
      const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-svc-'));
      const config = Object.freeze({ ...setup.config, dataDir });
      const next = await composeService(config, quietLogger(), { startProjections: setup.options.startProjections ?? true, checkResponses: true, ...(setup.options.clock ? { clock: setup.options.clock } : {}) });
      return serveOn(next, { ...setup, config, dataDir, cleanup: () => fs.rm(dataDir, { recursive: true, force: true }) });
    },
    async stop() {
      await close();
      await setup.cleanup();
    },
  };
}
