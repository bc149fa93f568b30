import { sql } from "kysely";
import { AppError } from '../../errors/appError.ts';
import type { Database } from '../../database/database.ts';
import { migrateToLatest } from '../../database/migrate.ts';
import type {
  AppendResult,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamAppend,
  SubscribeOptions,
} from '../eventStore.ts';
import { eventStoreMigrations } from './migrations.ts';
import { createGroupCommit } from './groupCommit.ts';
import { followStore } from '../follower.ts';
import { inTransaction } from '../../database/transactions.ts';

const channel = 'eventstore_appended';
const defaultPageSize = 1000;

interface EventRow {
  position_text: string;
  event_id: string;
  stream_name: string;
  revision_text: string;
  type: string;
  data: unknown;
  metadata: unknown;
  recorded_at: Date | string;
}

export interface PostgresEventStoreOptions {
  /** How often a subscriber re-reads when no notification arrives (the fallback for lost NOTIFYs). */
  readonly pollIntervalMs?: number;
  /** Told of every group-commit batch: how many appends it carried and its round trip (metrics). */
  readonly onAppendBatch?: (units: number, seconds: number) => void;
}

/**
 * The event store over PostgreSQL, or over the embedded PGlite (same SQL): one `events` table with
 * a global position and per-stream revisions. Runs its migrations before it answers.
 */
export async function createPostgresEventStore(database: Database, options: PostgresEventStoreOptions = {}): Promise<EventStore> {
  const { db } = database;
  await migrateToLatest(db, 'eventstore_migrations', eventStoreMigrations);
  await adoptRestoredEvents(db);
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const listeners = new Set<() => void>();
  const unlisten = await database.listen(channel, () => {
    for (const listener of listeners) listener();
  });
  const closing = new AbortController();

  async function streamState(streamName: string): Promise<{ revision: bigint; deleted: boolean } | undefined> {
    const row = await db
      .selectFrom('eventstore.streams')
      .select([sql<string>`revision::text`.as('revision'), 'deleted'])
      .where('stream_name', '=', streamName)
      .executeTakeFirst();
    if (!row) return undefined;
    const revision = BigInt(row.revision);
    // Revision -1 marks a row that exists only as a lock or a tombstone of a never-written stream.
    if (revision < 0n && !row.deleted) return undefined;
    return { revision, deleted: row.deleted };
  }

  const store: EventStore = {
    kind: database.kind,

    async appendToStream(streamName, events, appendOptions = {}) {
      const expected = appendOptions.expectedRevision ?? 'any';
      if (events.length === 0 && !appendOptions.close && !(appendOptions.guards?.length)) return emptyAppend(streamName, expected);
      const [result] = await appendUnit([{ streamName, events, ...appendOptions }]);
      return result!;
    },

    appendMulti: (parts) => appendUnit(parts),

    async readStream(streamName, readOptions: ReadStreamOptions = {}) {
      // One round trip: the stream's row (is it deleted?) and its events, joined.
      const backwards = readOptions.direction === 'backwards';
      const from = readOptions.fromRevision !== undefined ? sql`and e.revision ${sql.raw(backwards ? '<=' : '>=')} ${readOptions.fromRevision.toString()}::bigint` : sql``;
      const limit = readOptions.maxCount !== undefined ? sql`limit ${readOptions.maxCount}` : sql``;
      const { rows } = await sql<EventRow & { deleted: boolean; position_text: string | null }>`
        select s.deleted, e.* from eventstore.streams s
        left join lateral (
          select e.position::text as position_text, e.event_id::text as event_id, e.stream_name, e.revision::text as revision_text, e.type, e.data, e.metadata, e.recorded_at
          from eventstore.events e
          where e.stream_name = s.stream_name ${from}
          order by e.revision ${sql.raw(backwards ? 'desc' : 'asc')}
          ${limit}
        ) e on true
        where s.stream_name = ${streamName}`.execute(db);
      if (rows[0]?.deleted) throw streamDeleted(streamName);
      return rows.filter((row) => row.position_text !== null).map(toRecorded);
    },

    async readAll(readOptions: ReadAllOptions = {}) {
      const rows = (await db
        .selectFrom('eventstore.events')
        .select(eventColumns)
        .where('position', '>', (readOptions.after ?? 0n).toString())
        .where(visibleInOrder)
        .orderBy('position', 'asc')
        .limit(readOptions.maxCount ?? defaultPageSize)
        .execute()) as EventRow[];
      return rows.map(toRecorded);
    },

    // The last committed event, visible in order or not yet: an append acknowledged to a client is
    // within the head at once (a read-after header naming it is valid, "appends nothing" checks
    // compare committed rows), even while a transaction elsewhere in the cluster, in any database,
    // holds back the snapshot horizon that readAll waits for.
    async headPosition() {
      const row = await db.selectFrom('eventstore.events').select(sql<string>`coalesce(max(position), 0)::text`.as('head')).executeTakeFirstOrThrow();
      return BigInt(row.head);
    },

    subscribeToAll(subscribeOptions: SubscribeOptions = {}) {
      return pollingSubscription(store, subscribeOptions, pollIntervalMs, closing.signal);
    },

    onAppend(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async deleteStream(streamName, deleteOptions) {
      const expected = deleteOptions?.expectedRevision ?? 'any';
      await inTransaction(db, async (trx) => {
        // The stream row is the lock appends take too, so a delete and an append of one stream
        // cannot interleave.
        const row = await trx
          .selectFrom('eventstore.streams')
          .select([sql<string>`revision::text`.as('revision'), 'deleted'])
          .where('stream_name', '=', streamName)
          .forUpdate()
          .executeTakeFirst();
        if (row?.deleted) throw streamDeleted(streamName);
        const current = row && BigInt(row.revision) >= 0n ? BigInt(row.revision) : undefined;
        if (!revisionMatches(expected, current)) throw wrongRevision(streamName, expected, current);
        await trx.deleteFrom('eventstore.events').where('stream_name', '=', streamName).execute();
        await trx
          .insertInto('eventstore.streams')
          .values({ stream_name: streamName, revision: (current ?? -1n).toString(), deleted: true })
          .onConflict((oc) => oc.column('stream_name').doUpdateSet({ deleted: true }))
          .execute();
      });
    },

    async ping() {
      await sql`select 1`.execute(db);
    },

    async close() {
      closing.abort();
      listeners.clear();
      await unlisten();
    },
  };

  // After a commit: this process's followers are woken at once; other processes on the same
  // database hear it through one NOTIFY, sent after the commit (never inside the appending
  // transaction) and coalesced while one is on its way. PGlite is one process: nobody to tell.
  let notifying = false;
  let notifyAgain = false;
  const notifyOthers = () => {
    if (database.kind === 'pglite') return;
    if (notifying) {
      notifyAgain = true;
      return;
    }
    notifying = true;
    void sql`select pg_notify(${channel}, '')`
      .execute(db)
      .catch(() => {})
      .finally(() => {
        notifying = false;
        if (notifyAgain) {
          notifyAgain = false;
          notifyOthers();
        }
      });
  };
  const groupCommit = createGroupCommit(db, {
    maxInFlight: 1,
    maxUnits: 256,
    ...(options.onAppendBatch ? { onBatch: options.onAppendBatch } : {}),
    onCommitted: () => {
      for (const listener of listeners) listener();
      notifyOthers();
    },
  });

  /** Appends one atomic unit through the group commit and translates a refusal into our codes. */
  async function appendUnit(parts: readonly StreamAppend[]): Promise<AppendResult[]> {
    if (parts.length === 0) return [];
    if (new Set(parts.map((part) => part.streamName)).size !== parts.length) throw new AppError('VALIDATION_ERROR', 'an atomic append names each stream once', { streams: parts.map((part) => part.streamName) });
    const outcomes = await groupCommit.submit(parts);
    const refused = outcomes.find((outcome) => !outcome.ok);
    if (refused && !refused.ok) {
      const part = parts[refused.partIndex] ?? parts[0]!;
      throw refusal(refused.code, refused.detail, part.streamName, part.expectedRevision ?? 'any');
    }
    const positions = outcomes.map((outcome) => (outcome.ok ? outcome.position : null));
    const last = positions.reduce<bigint>((max, position) => (position !== null && position > max ? position : max), 0n);
    // A part that only checked its expectations reports the unit's last position (or the head).
    const fallback = last > 0n ? last : await store.headPosition();
    return outcomes.map((outcome) => (outcome.ok ? { nextExpectedRevision: outcome.nextRevision, position: outcome.position ?? fallback } : { nextExpectedRevision: -1n, position: fallback }));
  }

  async function emptyAppend(streamName: string, expected: ExpectedRevision): Promise<AppendResult> {
    const state = await streamState(streamName);
    if (state?.deleted) throw streamDeleted(streamName);
    if (!revisionMatches(expected, state?.revision)) throw wrongRevision(streamName, expected, state?.revision);
    return { nextExpectedRevision: state?.revision ?? -1n, position: await store.headPosition() };
  }

  return store;
}

/**
 * Events restored from a dump of another cluster (a backup restored, a store moved) carry that
 * cluster's transaction ids, which may be ahead of this one's: readers would not see them until
 * this cluster's ids caught up. Such ids are in this cluster's future, so no running transaction
 * can own them, and every restored row is committed: they are reset to 0 (older than any
 * transaction). The newest event tells whether it is needed, so a normal start reads one row.
 */
async function adoptRestoredEvents(db: Database['db']): Promise<void> {
  const { rows } = await sql<{ foreign: boolean }>`
    select coalesce((select tx_id from eventstore.events order by position desc limit 1) > pg_current_xact_id(), false) as foreign`.execute(db);
  if (rows[0]?.foreign) await sql`update eventstore.events set tx_id = '0'::xid8 where tx_id > pg_current_xact_id()`.execute(db);
}

/**
 * Only rows whose transaction is older than every transaction still running: no event with a
 * lower position can commit after them (see append_events), so readers never skip one.
 */
const visibleInOrder = sql<boolean>`tx_id < pg_snapshot_xmin(pg_current_snapshot())`;

const eventColumns = [
  sql<string>`position::text`.as('position_text'),
  sql<string>`event_id::text`.as('event_id'),
  'stream_name',
  sql<string>`revision::text`.as('revision_text'),
  'type',
  'data',
  'metadata',
  'recorded_at',
] as const;

function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    type: row.type,
    data: parseJson(row.data),
    metadata: parseJson(row.metadata) as EventMetadata,
    streamName: row.stream_name,
    revision: BigInt(row.revision_text),
    position: BigInt(row.position_text),
    recordedAt: row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at),
  };
}

function parseJson(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value;
}

function expectedText(expected: ExpectedRevision): string {
  return typeof expected === 'bigint' ? expected.toString() : expected;
}

function revisionMatches(expected: ExpectedRevision, current: bigint | undefined): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return current === undefined;
  if (expected === 'stream_exists') return current !== undefined;
  return current === expected;
}

function wrongRevision(streamName: string, expected: ExpectedRevision, actual: bigint | undefined): AppError {
  return new AppError('WRONG_EXPECTED_REVISION', `stream ${streamName} is at revision ${actual ?? 'none'}, expected ${expectedText(expected)}`, {
    streamName,
    expected: expectedText(expected),
    actual: (actual ?? -1n).toString(),
  });
}

function streamDeleted(streamName: string): AppError {
  return new AppError('STREAM_DELETED', `stream ${streamName} is deleted`, { streamName });
}

/** Translates a refusal code of append_batch into our codes; nothing else sees them. */
function refusal(code: string, detail: string | null, streamName: string, expected: ExpectedRevision): AppError {
  switch (code) {
    case 'FS412': {
      const actual = BigInt(detail ?? '-1');
      return wrongRevision(streamName, expected, actual < 0n ? undefined : actual);
    }
    case 'FS410':
      return streamDeleted(detail ?? streamName);
    case 'FS423':
      return new AppError('STREAM_CLOSED', `stream ${detail ?? streamName} is closed`, { streamName: detail ?? streamName });
    case 'FS409':
      return new AppError('DUPLICATE_EVENT_ID', `some event ids of this append are already stored elsewhere`, { streamName });
    default:
      return new AppError('INTERNAL_ERROR', `append refused with ${code}`, { streamName });
  }
}

/**
 * A catch-up subscription over `readAll`, on the same loop every follower runs (followStore):
 * pages until the head, then waits for an append notification (or the poll interval, should a
 * notification be lost) and reads again. A batch is read only once the one before was consumed.
 */
export async function* pollingSubscription(
  store: Pick<EventStore, 'readAll' | 'onAppend'>,
  options: SubscribeOptions,
  pollIntervalMs: number,
  closing: AbortSignal,
): AsyncGenerator<RecordedEvent> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  options.signal?.addEventListener('abort', stop, { once: true });
  closing.addEventListener('abort', stop, { once: true });
  if (options.signal?.aborted || closing.aborted) controller.abort();
  let after = options.after ?? 0n;
  let ready: RecordedEvent[] | undefined;
  let taken: (() => void) | undefined;
  let arrived: (() => void) | undefined;
  const loop = followStore({
    store,
    signal: controller.signal,
    from: () => after,
    batchSize: defaultPageSize,
    pollIntervalMs,
    handle: (events) =>
      new Promise<void>((resolve) => {
        ready = [...events];
        after = events.at(-1)!.position;
        taken = resolve;
        arrived?.();
      }),
  });
  const wake = () => arrived?.();
  controller.signal.addEventListener('abort', wake, { once: true });
  try {
    while (!controller.signal.aborted) {
      if (ready === undefined) {
        await new Promise<void>((resolve) => (arrived = resolve));
        arrived = undefined;
        continue;
      }
      const batch = ready;
      ready = undefined;
      for (const event of batch) {
        if (controller.signal.aborted) return;
        yield event;
      }
      taken?.();
    }
  } finally {
    controller.abort();
    taken?.();
    options.signal?.removeEventListener('abort', stop);
    closing.removeEventListener('abort', stop);
    await loop;
  }
}
