import { randomUUID } from 'node:crypto';
import test from 'ava';
import { sql } from 'kysely';
import { createPostgresEventStore } from '../src/eventStore/postgres/postgresEventStore.ts';
import type { EventStore, NewEvent } from '../src/eventStore/eventStore.ts';
import { createProjectionRunner } from '../projections/runner.ts';
import { rebuildProjection } from '../projections/rebuild.ts';
import { usageProjection } from '../projections/usage/usageProjection.ts';
import { readTally, tallyProjection } from './fixtures/tallyProjection.ts';
import { openTestDatabase, type TestDatabase } from './support/databases.ts';
import { quietLogger } from './support/quietLogger.ts';

const counted = (type = 'Counted', tenantId = 'tenant-a'): NewEvent => ({
  id: randomUUID(),
  type,
  data: {},
  metadata: { occurredAt: '2026-11-26T10:00:00.000Z', schemaVersion: 1, tenantId, mode: 'live' },
});

async function withStore(body: (testDb: TestDatabase, store: EventStore) => Promise<void>): Promise<void> {
  const testDb = await openTestDatabase();
  const store = await createPostgresEventStore(testDb.database, { pollIntervalMs: 100 });
  try {
    await body(testDb, store);
  } finally {
    await store.close();
    await testDb.dispose();
  }
}

/**
 * Readers see an event once every older writing transaction of the PostgreSQL cluster has ended
 * (the late-commit rule), so under a busy cluster (other tests' databases) an appended event can
 * take a moment to show. Waits until `count` events are visible.
 */
async function untilVisible(store: EventStore, count: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if ((await store.readAll({ maxCount: 100_000 })).length >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`fewer than ${count} events became visible`);
}

async function seed(store: EventStore, streams: number, perStream: number): Promise<void> {
  for (let s = 0; s < streams; s++) {
    const name = `tally-${s}`;
    for (let i = 0; i < perStream; i += 5) {
      const batch = Array.from({ length: Math.min(5, perStream - i) }, (_, k) => counted(i + k === 7 ? 'Reset' : 'Counted'));
      await store.appendToStream(name, batch);
    }
    await store.appendToStream(name, [counted('Ignored')]);
  }
  await untilVisible(store, streams * (perStream + 1));
}

test.serial('a batch that fails midway leaves no trace; after a restart the read model equals a clean rebuild', async (t) => {
  await withStore(async ({ database }, store) => {
    await seed(store, 6, 30);
    const events = await store.readAll({ maxCount: 10_000 });
    const failAt = events[Math.floor(events.length / 2) + 3]!.position;
    const faulty = tallyProjection({ failAt, failTimes: 100 });
    const first = createProjectionRunner({ db: database.db, store, projections: [faulty], logger: quietLogger(), batchSize: 40, retryDelayMs: 20 });
    await first.start();
    // It keeps failing at failAt: everything before the failing batch is applied, nothing of it.
    for (let i = 0; i < 100 && faulty.failures < 3; i++) await new Promise((r) => setTimeout(r, 50));
    await first.stop();
    t.true(faulty.failures >= 3);
    const [stuck] = await first.status();
    t.true(stuck!.checkpoint < failAt);
    t.regex(stuck!.lastError ?? '', /injected failure/);
    const partial = await readTally(database.db);
    t.true(partial.seen.every((p) => BigInt(p) <= stuck!.checkpoint), 'no row of the failed batch survived');
    t.is(partial.seen.length, events.filter((e) => e.position <= stuck!.checkpoint && e.type !== 'Ignored').length);

    // "Restart" with a healthy handler: it resumes from the stored checkpoint.
    const healthy = createProjectionRunner({ db: database.db, store, projections: [tallyProjection()], logger: quietLogger(), batchSize: 40 });
    await healthy.catchUp();
    const resumed = await readTally(database.db);
    await rebuildProjection(database.db, store, tallyProjection(), { batchSize: 1000 });
    const clean = await readTally(database.db);
    t.deepEqual(resumed, clean);
    t.is(clean.seen.length, events.filter((e) => e.type !== 'Ignored').length);
    const [status] = await healthy.status();
    t.is(status!.lag, 0n);
    t.is(status!.checkpoint, events.at(-1)!.position);
  });
});

test.serial('the live runner follows appends and waitFor resolves once a position is projected', async (t) => {
  await withStore(async ({ database }, store) => {
    const runner = createProjectionRunner({ db: database.db, store, projections: [tallyProjection(), usageProjection], logger: quietLogger(), batchSize: 50, pollIntervalMs: 5000 });
    await runner.start();
    try {
      const { position } = await store.appendToStream('tally-live', [counted(), counted(), counted('Counted', 'tenant-b')]);
      t.true(await runner.waitFor(position, 10_000), 'woken by the append notification, well before the poll interval');
      t.deepEqual((await readTally(database.db)).counts, { 'tally-live': 3 });
      const usage = await database.db.withSchema('rm_usage').selectFrom('event_counts').select(['tenant_id', 'month', 'event_type', sql<string>`events::text`.as('events')]).orderBy('tenant_id').execute();
      t.deepEqual(usage, [
        { tenant_id: 'tenant-a', month: '2026-11', event_type: 'Counted', events: '2' },
        { tenant_id: 'tenant-b', month: '2026-11', event_type: 'Counted', events: '1' },
      ]);
      t.false(await runner.waitFor(position + 1000n, 50), 'a position never reached times out');
    } finally {
      await runner.stop();
    }
  });
});

test.serial('a rebuild while the live runner keeps projecting new events swaps in without losing or doubling any', async (t) => {
  await withStore(async ({ database }, store) => {
    await seed(store, 4, 50);
    const runner = createProjectionRunner({ db: database.db, store, projections: [tallyProjection()], logger: quietLogger(), batchSize: 25, pollIntervalMs: 50 });
    await runner.start();
    try {
      let writing = true;
      const writer = (async () => {
        let n = 0;
        while (writing) {
          await store.appendToStream(`tally-w${n % 3}`, [counted()]);
          n += 1;
          await new Promise((r) => setTimeout(r, 2));
        }
        return n;
      })();
      const result = await rebuildProjection(database.db, store, tallyProjection(), { batchSize: 30 });
      t.true(result.events > 200);
      await new Promise((r) => setTimeout(r, 100));
      writing = false;
      const written = await writer;
      await untilVisible(store, 4 * 51 + written);
      const all = (await store.readAll({ maxCount: 100_000 })).filter((e) => e.type !== 'Ignored');
      t.true(await runner.waitFor(all.at(-1)!.position, 20_000));
      const live = await readTally(database.db);
      t.deepEqual(live.seen, all.map((e) => e.position.toString()), 'every handled event exactly once');
      await rebuildProjection(database.db, store, tallyProjection());
      t.deepEqual(await readTally(database.db), live);
      const schemas = await sql<{ nspname: string }>`select nspname from pg_namespace where nspname like 'rm_tally%' order by 1`.execute(database.db);
      t.deepEqual(schemas.rows.map((r) => r.nspname), ['rm_tally'], 'no leftover rebuild or old schema');
    } finally {
      await runner.stop();
    }
  });
});

test.serial('a projection whose version changed is rebuilt at start', async (t) => {
  await withStore(async ({ database }, store) => {
    await seed(store, 2, 10);
    const v1 = createProjectionRunner({ db: database.db, store, projections: [tallyProjection({ version: 1 })], logger: quietLogger() });
    await v1.catchUp();
    await database.db.withSchema('rm_tally').deleteFrom('stream_counts').execute();
    const v2 = createProjectionRunner({ db: database.db, store, projections: [tallyProjection({ version: 2 })], logger: quietLogger() });
    await v2.catchUp();
    const [status] = await v2.status();
    t.is(status!.version, 2);
    t.deepEqual(Object.keys((await readTally(database.db)).counts).sort(), ['tally-0', 'tally-1']);
  });
});
