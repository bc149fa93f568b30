import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { openDatabase, type Database } from '../src/database/database.ts';
import type { EventStore } from '../src/eventStore/eventStore.ts';
import { createPostgresEventStore } from '../src/eventStore/postgres/postgresEventStore.ts';
import { createProjectionRunner } from '../projections/runner.ts';
import { rebuildProjection } from '../projections/rebuild.ts';
import { readCheckpoint } from '../projections/checkpoint.ts';
import { readTally, tallyProjection } from './fixtures/tallyProjection.ts';
import { freshPostgres, postgresUrl } from './support/databases.ts';
import { quietLogger } from './support/quietLogger.ts';

const child = path.join(import.meta.dirname, 'fixtures', 'crashingProjectionProcess.ts');

async function seed(store: EventStore): Promise<void> {
  for (let s = 0; s < 10; s++) {
    const events = Array.from({ length: 20 }, () => ({ id: randomUUID(), type: 'Counted', data: {}, metadata: { occurredAt: new Date().toISOString(), schemaVersion: 1 } }));
    await store.appendToStream(`crash-${s}`, events);
  }
}

/** Starts the projection process, waits until it stalls mid-batch, and kills it with SIGKILL. */
async function killMidBatch(env: Record<string, string>): Promise<void> {
  const proc = spawn(process.execPath, ['--import', 'tsx', child], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the projection process never reached the middle of a batch')), 60_000);
    proc.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('MID')) {
        clearTimeout(timer);
        proc.kill('SIGKILL');
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`projection process exited early with ${code}`));
    });
  });
  await new Promise((resolve) => proc.once('exit', resolve));
}

async function restartAndCompare(t: import('ava').ExecutionContext, database: Database, store: EventStore): Promise<void> {
  const killedAt = await readCheckpoint(database.db, 'rm_tally');
  const partial = await readTally(database.db);
  t.true(killedAt.position > 0n, 'some batches committed before the kill');
  t.true(partial.seen.every((p) => BigInt(p) <= killedAt.position), 'nothing of the killed batch was committed');
  const runner = createProjectionRunner({ db: database.db, store, projections: [tallyProjection()], logger: quietLogger(), batchSize: 20 });
  await runner.catchUp();
  const resumed = await readTally(database.db);
  await rebuildProjection(database.db, store, tallyProjection());
  t.deepEqual(resumed, await readTally(database.db));
  t.is(resumed.seen.length, 200);
}

// Needs a server other processes can reach: runs where DATABASE_URL is set, shows as skipped elsewhere.
(postgresUrl ? test.serial : test.skip)('PostgreSQL: a projection process killed mid-batch resumes to the same read model as a clean rebuild', async (t) => {
  const fresh = await freshPostgres();
  const database = await openDatabase({ kind: 'postgres', url: fresh.url });
  const store = await createPostgresEventStore(database);
  try {
    await seed(store);
    await killMidBatch({ CRASH_DATABASE_URL: fresh.url });
    await restartAndCompare(t, database, store);
  } finally {
    await store.close();
    await database.close();
    await fresh.drop();
  }
});

test.serial('embedded PGlite: a projection process killed mid-batch resumes to the same read model as a clean rebuild', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-crash-'));
  try {
    {
      const database = await openDatabase({ kind: 'pglite', dir });
      const store = await createPostgresEventStore(database);
      await seed(store);
      await store.close();
      await database.close();
    }
    await killMidBatch({ CRASH_PGLITE_DIR: dir });
    const database = await openDatabase({ kind: 'pglite', dir });
    const store = await createPostgresEventStore(database);
    try {
      await restartAndCompare(t, database, store);
    } finally {
      await store.close();
      await database.close();
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
