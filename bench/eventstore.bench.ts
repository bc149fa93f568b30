// npm run bench:eventstore [-- --events 100000 --appends 2000 --runs 3 --only postgres|pglite]
// Append throughput (one writer; 8 concurrent writers) and rebuild throughput of every projection
// over a large store of real-shaped user histories (enrolment, templates with sealed descriptors,
// sign-ins), for PostgreSQL (DATABASE_URL, default the local server) and the embedded PGlite.
// Each figure is the median of --runs runs; each has a baseline measured in the same run.
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { openDatabase, type Database } from '../src/database/database.ts';
import { createScratchDatabase } from '../src/database/scratchDatabase.ts';
import type { EventStore, NewEvent } from '../src/eventStore/eventStore.ts';
import { createPostgresEventStore } from '../src/eventStore/postgres/postgresEventStore.ts';
import { allProjections } from '../projections/all.ts';
import { rebuildProjections } from '../projections/rebuild.ts';
import { flag, fmt, median, rate, timed } from './support.ts';

const totalEvents = Number(flag('events', '100000'));
const appendCount = Number(flag('appends', '2000'));
const runs = Number(flag('runs', '3'));
const only = flag('only', 'all');
const serverUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

const sealed = (bytes: number) => `fse1:${randomBytes(bytes).toString('base64')}`;

function meta(i: number): NewEvent['metadata'] {
  return { occurredAt: new Date().toISOString(), schemaVersion: 1, tenantId: `tenant-${i % 7}`, mode: 'live', requestId: `req_${i}` };
}

/** A sign-in event of the real shape and size (sealed ip and user agent). */
function sampleEvent(i: number): NewEvent {
  const userId = `usr_${randomUUID().replaceAll('-', '')}`;
  return {
    id: randomUUID(),
    type: 'SignInAttempted',
    data: { userId, logId: `log_${i}`, kind: 'verify', outcome: 'success', similarity: 0.8, threshold: 0.45, templateId: `tpl_${i}`, ip: sealed(9), userAgent: sealed(60) },
    metadata: meta(i),
  };
}

/** One user's history as the API writes it: enrolment, two templates (sealed 512-byte descriptors), sign-ins. */
function userHistory(u: number, signIns: number): NewEvent[] {
  const userId = `usr_${randomUUID().replaceAll('-', '')}`;
  const templates = [`tpl_${randomUUID().replaceAll('-', '')}`, `tpl_${randomUUID().replaceAll('-', '')}`];
  const events: NewEvent[] = [
    { id: randomUUID(), type: 'UserEnrolled', data: { userId, email: sealed(24), emailIndex: randomBytes(32).toString('base64url') }, metadata: meta(u) },
    ...templates.map((templateId) => ({
      id: randomUUID(),
      type: 'FaceTemplateAdded',
      data: { userId, templateId, descriptor: sealed(512), quality: 0.8, lighting: null, source: 'descriptor', model: 'faceRecognitionNet' },
      metadata: meta(u),
    })),
  ];
  for (let k = 0; k < signIns; k++) {
    events.push({
      id: randomUUID(),
      type: 'SignInAttempted',
      data: { userId, logId: `log_${randomUUID().replaceAll('-', '')}`, kind: 'verify', outcome: k % 4 === 0 ? 'failure' : 'success', similarity: 0.7, threshold: 0.45, templateId: templates[k % 2], ip: sealed(9), userAgent: sealed(60) },
      metadata: meta(u),
    });
  }
  return events;
}

async function appendBench(store: EventStore, database: Database): Promise<Record<string, number>> {
  // Baseline: the same payload in a plain single-row INSERT, one round trip and commit each.
  await sql`create table if not exists bench_baseline (id uuid primary key, data jsonb not null)`.execute(database.db);
  const baseline = await timed(async () => {
    for (let i = 0; i < appendCount; i++) {
      await sql`insert into bench_baseline (id, data) values (${randomUUID()}, ${JSON.stringify(sampleEvent(i).data)}::jsonb)`.execute(database.db);
    }
  });
  const writers = 8;
  const baselineConcurrent = await timed(() =>
    Promise.all(
      Array.from({ length: writers }, async () => {
        for (let i = 0; i < appendCount / writers; i++) {
          await sql`insert into bench_baseline (id, data) values (${randomUUID()}, ${JSON.stringify(sampleEvent(i).data)}::jsonb)`.execute(database.db);
        }
      }),
    ),
  );
  const single = await timed(async () => {
    for (let i = 0; i < appendCount; i++) await store.appendToStream(`bench-single-${i % 50}`, [sampleEvent(i)]);
  });
  const concurrent = await timed(() =>
    Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < appendCount / writers; i++) await store.appendToStream(`bench-concurrent-${w}`, [sampleEvent(i)]);
      }),
    ),
  );
  return {
    baselineInsertsPerSec: rate(appendCount, baseline.ms),
    baselineConcurrentInsertsPerSec: rate(appendCount, baselineConcurrent.ms),
    singleWriterEventsPerSec: rate(appendCount, single.ms),
    eightWritersEventsPerSec: rate(appendCount, concurrent.ms),
  };
}

/** Users of 10 events each (3 of enrolment, 7 sign-ins), one append per user. */
async function seed(store: EventStore, count: number): Promise<void> {
  for (let u = 0; u * 10 < count; u++) {
    const events = userHistory(u, 7);
    await store.appendToStream(`user-${randomUUID()}`, events);
  }
}

async function rebuildBench(store: EventStore, database: Database): Promise<Record<string, number>> {
  const head = await store.headPosition();
  const readRates: number[] = [];
  const rebuildRates: number[] = [];
  let events = 0;
  for (let run = 0; run < runs; run++) {
    // Baseline: reading every event in the same pages, without projecting.
    const read = await timed(async () => {
      let after = 0n;
      let n = 0;
      for (;;) {
        const page = await store.readAll({ after, maxCount: 5000 });
        if (page.length === 0) break;
        n += page.length;
        after = page.at(-1)!.position;
      }
      return n;
    });
    readRates.push(rate(read.value, read.ms));
    const rebuild = await timed(async () => (await rebuildProjections(database.db, store, allProjections(), { batchSize: 5000 }))[0]!.events);
    events = rebuild.value;
    rebuildRates.push(rate(rebuild.value, rebuild.ms));
  }
  return { events, head: Number(head), readAllEventsPerSec: median(readRates), rebuildEventsPerSec: median(rebuildRates), rebuildVsRead: median(rebuildRates) / median(readRates) };
}

async function benchOne(label: string, open: () => Promise<{ database: Database; dispose(): Promise<void> }>): Promise<void> {
  const { database, dispose } = await open();
  try {
    const store = await createPostgresEventStore(database);
    const appendRuns: Array<Record<string, number>> = [];
    for (let run = 0; run < runs; run++) appendRuns.push(await appendBench(store, database));
    const pick = (key: string) => median(appendRuns.map((r) => r[key]!));
    const seeded = await timed(() => seed(store, totalEvents));
    const rebuild = await rebuildBench(store, database);
    await store.close();
    console.log(`\n## ${label}`);
    console.log(`append, 1 writer, 1 event per append:   ${fmt(pick('singleWriterEventsPerSec'))} events/s  (baseline plain INSERT: ${fmt(pick('baselineInsertsPerSec'))}/s, ratio ${fmt(pick('singleWriterEventsPerSec') / pick('baselineInsertsPerSec'))})`);
    console.log(`append, 8 concurrent writers:            ${fmt(pick('eightWritersEventsPerSec'))} events/s  (baseline 8 concurrent plain INSERTs: ${fmt(pick('baselineConcurrentInsertsPerSec'))}/s, ratio ${fmt(pick('eightWritersEventsPerSec') / pick('baselineConcurrentInsertsPerSec'))}; ratio to 1 writer ${fmt(pick('eightWritersEventsPerSec') / pick('singleWriterEventsPerSec'))})`);
    console.log(`seed, 10 events per append (one user):   ${fmt(rate(totalEvents, seeded.ms))} events/s`);
    console.log(`rebuild of all projections over ${fmt(rebuild.events!)} events: ${fmt(rebuild.rebuildEventsPerSec!)} events/s  (baseline read-all: ${fmt(rebuild.readAllEventsPerSec!)} events/s, ratio ${fmt(rebuild.rebuildVsRead!)})`);
  } finally {
    await dispose();
  }
}

console.log(`# bench:eventstore  events=${totalEvents} appends=${appendCount} runs=${runs} (medians)  node ${process.version}, ${os.availableParallelism()} cores`);

if (only === 'all' || only === 'postgres') {
  await benchOne('PostgreSQL', async () => {
    const scratch = await createScratchDatabase(serverUrl, 'fs_bench');
    const database = await openDatabase({ kind: 'postgres', url: scratch.url, poolSize: 12 });
    return {
      database,
      async dispose() {
        await database.close();
        await scratch.drop();
      },
    };
  });
}

if (only === 'all' || only === 'pglite') {
  await benchOne('embedded PGlite (data dir on disk)', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-bench-'));
    const database = await openDatabase({ kind: 'pglite', dir });
    return {
      database,
      async dispose() {
        await database.close();
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  });
}
