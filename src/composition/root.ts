import type Koa from 'koa';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { createBlindIndex, type BlindIndex } from '../crypto/blindIndex.ts';
import { createFieldCipher, type FieldCipher } from '../crypto/fieldCipher.ts';
import { resolveMasterKey } from '../crypto/masterKey.ts';
import { createSqlSubjectKeyStore, type SubjectKeyStore } from '../crypto/subjectKeys.ts';
import { openDatabase, type Database } from '../database/database.ts';
import { lockDataDir } from '../database/dataDirLock.ts';
import type { EventStore } from '../eventStore/eventStore.ts';
import { createKurrentDbEventStore } from '../eventStore/kurrentdb/kurrentDbEventStore.ts';
import { createPostgresEventStore } from '../eventStore/postgres/postgresEventStore.ts';
import { createHttpApp } from '../http/app.ts';
import { healthRouter } from '../http/health.ts';
import { allProjections } from '../../projections/all.ts';
import type { Projection } from '../../projections/projection.ts';
import { createProjectionRunner, type ProjectionRunner } from '../../projections/runner.ts';

/** Everything the service is made of, built from the configuration in one place. */
export interface Service {
  readonly config: Config;
  readonly logger: Logger;
  readonly database: Database;
  readonly store: EventStore;
  readonly subjectKeys: SubjectKeyStore;
  readonly cipher: FieldCipher;
  readonly blindIndex: BlindIndex;
  readonly projections: readonly Projection[];
  readonly runner: ProjectionRunner;
  readonly app: Koa;
  /** Closes everything in reverse order of creation. */
  close(): Promise<void>;
}

export interface ComposeOptions {
  /** Start following the event store (the server does; one-shot CLI commands do not). */
  readonly startProjections: boolean;
}

/** The composition root: builds every adapter from the parsed config and returns `{ app, close }` and the parts. */
export async function composeService(config: Config, logger: Logger, options: ComposeOptions): Promise<Service> {
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closer of closers.reverse()) {
      try {
        await closer();
      } catch (error) {
        logger.error({ err: error }, 'error while closing');
      }
    }
    closers.length = 0;
  };
  try {
    if (config.database.kind === 'pglite' && !config.database.dir.startsWith('memory://')) closers.push(await lockDataDir(config.dataDir));
    const database = await openDatabase(config.database.kind === 'postgres' ? { kind: 'postgres', url: config.database.url } : { kind: 'pglite', dir: config.database.dir });
    closers.push(() => database.close());

    const master = await resolveMasterKey(config.masterKey, config.dataDir);
    if (master.source === 'generated') {
      logger.warn({ file: master.file }, 'generated a new master key for the embedded database; back it up: without it no personal data can be read');
    }
    const subjectKeys = await createSqlSubjectKeyStore(database.db, master.key);
    const cipher = createFieldCipher(subjectKeys);
    const blindIndex = createBlindIndex(master.key);

    const store = config.eventStore.kind === 'kurrentdb' ? createKurrentDbEventStore({ connectionString: config.eventStore.url }) : await createPostgresEventStore(database);
    closers.push(() => store.close());
    await store.ping();

    const projections = allProjections();
    const runner = createProjectionRunner({ db: database.db, store, projections, logger, batchSize: config.projectionBatchSize });
    if (options.startProjections) {
      await runner.start();
      closers.push(() => runner.stop());
    }

    const app = createHttpApp({
      logger,
      routers: [
        healthRouter([
          { name: 'eventStore', check: async () => (await store.ping(), { ok: true, detail: { kind: store.kind } }) },
          { name: 'database', check: async () => (await database.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute(), { ok: true, detail: { kind: database.kind } }) },
          {
            name: 'projections',
            check: async () => {
              const statuses = await runner.status();
              const behind = statuses.filter((s) => s.lag > BigInt(config.readyMaxLag) || !s.running);
              return {
                ok: behind.length === 0,
                detail: { maxLag: config.readyMaxLag, projections: statuses.map((s) => ({ name: s.name, checkpoint: s.checkpoint.toString(), lag: s.lag.toString(), running: s.running })) },
              };
            },
          },
        ]),
      ],
    });

    logger.info({ database: database.kind, eventStore: store.kind, masterKey: master.source }, 'service composed');
    return { config, logger, database, store, subjectKeys, cipher, blindIndex, projections, runner, app, close };
  } catch (error) {
    await close();
    throw error;
  }
}
