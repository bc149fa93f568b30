import test from 'ava';
import { createPostgresEventStore } from '../src/eventStore/postgres/postgresEventStore.ts';
import { openTestDatabase, postgresUrl } from './support/databases.ts';
import { eventStoreContract } from './support/eventStoreContract.ts';

const factory = (kind: 'postgres' | 'pglite') => async () => {
  const testDb = await openTestDatabase(kind);
  const store = await createPostgresEventStore(testDb.database, { pollIntervalMs: 200 });
  return {
    store,
    async dispose() {
      await store.close();
      await testDb.dispose();
    },
  };
};

eventStoreContract(test, 'embedded PGlite', factory('pglite'));
// Real PostgreSQL runs wherever DATABASE_URL is set (CI sets it); elsewhere it shows as skipped.
eventStoreContract(test, 'PostgreSQL', factory('postgres'), postgresUrl !== undefined);

// The late-commit problem, made to happen on purpose: a transaction takes a position and commits
// late while another append races it. Positions must come out in commit order, so a subscriber
// that passed position N can never later meet an event below N.
(postgresUrl ? test.serial : test.skip)('PostgreSQL: an append that commits late still precedes every event a subscriber sees after it', async (t) => {
  const { randomUUID } = await import('node:crypto');
  const pg = (await import('pg')).default;
  const testDb = await openTestDatabase('postgres');
  const store = await createPostgresEventStore(testDb.database, { pollIntervalMs: 50 });
  const slow = new pg.Client({ connectionString: testDb.url });
  await slow.connect();
  try {
    const meta = JSON.stringify({ occurredAt: new Date().toISOString(), schemaVersion: 1 });
    const controller = new AbortController();
    const seen: string[] = [];
    const subscription = (async () => {
      for await (const event of store.subscribeToAll({ signal: controller.signal })) {
        seen.push(event.type);
        if (seen.length === 2) break;
      }
    })();
    await slow.query('begin');
    await slow.query(`select * from eventstore.append_events($1, 'any', $2::uuid[], $3::text[], $4::text[], $5::text[])`, ['late', [randomUUID()], ['Late'], ['{}'], [meta]]);
    // The racing append commits first, with the higher position; it must stay invisible until
    // the lower position has committed too.
    const fastResult = await store.appendToStream('fast', [{ id: randomUUID(), type: 'Fast', data: {}, metadata: { occurredAt: new Date().toISOString(), schemaVersion: 1 } }]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    t.deepEqual(seen, [], 'nothing is delivered while a lower position is uncommitted');
    t.deepEqual(await store.readAll(), []);
    // The head counts the committed append at once (it was acknowledged), readAll not yet.
    t.is(await store.headPosition(), fastResult.position);
    await slow.query('commit');
    await subscription;
    controller.abort();
    t.deepEqual(seen, ['Late', 'Fast']);
    const all = await store.readAll();
    t.true(all[0]!.position < fastResult.position);
  } finally {
    await slow.end();
    await store.close();
    await testDb.dispose();
  }
});

for (const kind of ['pglite', 'postgres'] as const) {
  (kind === 'postgres' && !postgresUrl ? test.skip : test.serial)(`${kind}: appends made at once share transactions (group commit)`, async (t) => {
    const { randomUUID } = await import('node:crypto');
    const { sql } = await import('kysely');
    const testDb = await openTestDatabase(kind);
    const store = await createPostgresEventStore(testDb.database);
    try {
      const meta = { occurredAt: new Date().toISOString(), schemaVersion: 1 };
      await Promise.all(Array.from({ length: 64 }, (_, i) => store.appendToStream(`gc-${i % 8}`, [{ id: randomUUID(), type: 'E', data: { i }, metadata: meta }])));
      const { rows } = await sql<{ events: string; transactions: string }>`select count(*)::text as events, count(distinct tx_id)::text as transactions from eventstore.events`.execute(testDb.database.db);
      t.is(rows[0]!.events, '64');
      // The first batches go alone while nothing is in flight; the rest wait and go together.
      t.true(Number(rows[0]!.transactions) <= 8, `${rows[0]!.transactions} transactions for 64 appends`);
    } finally {
      await store.close();
      await testDb.dispose();
    }
  });
}
