import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { EventStore, RecordedEvent } from '../src/eventStore/eventStore.ts';
import { createFollower, type Consumer, type Follower } from '../src/eventStore/follower.ts';
import { createProjectionSchema, readCheckpoint, schemaExists } from './checkpoint.ts';
import { assertProjectionName, handledEvents, liveSchema, type Projection } from './projection.ts';
import { sql } from 'kysely';
import { inTransaction } from '../src/database/transactions.ts';
import { rebuildProjection } from './rebuild.ts';

export interface ProjectionStatus {
  readonly name: string;
  readonly version: number;
  readonly checkpoint: bigint;
  readonly head: bigint;
  /** Positions between the checkpoint and the head of the store. */
  readonly lag: bigint;
  readonly updatedAt: Date;
  readonly running: boolean;
  readonly lastError?: string;
}

export interface ProjectionRunner {
  /** Creates missing schemas (rebuilding any whose stored version is older) and loads the checkpoints. */
  prepare(): Promise<void>;
  /** The consumer that applies batches to every projection, for a follower of the store (the service's shared one). Call `prepare` first. */
  readonly consumer: Consumer;
  /** Prepares and follows the store with a follower of its own (tests, tools); the service shares one instead. */
  start(): Promise<void>;
  /** Applies everything up to the current head once, without the live loop (CLI, tests). */
  catchUp(): Promise<void>;
  /** With `start`: resolves true once every projection has passed `position`, false after `timeoutMs`. */
  waitFor(position: bigint, timeoutMs: number): Promise<boolean>;
  status(): Promise<ProjectionStatus[]>;
  stop(): Promise<void>;
}

export interface ProjectionRunnerOptions {
  readonly db: Kysely<any>;
  readonly store: EventStore;
  readonly projections: readonly Projection[];
  readonly logger: Logger;
  readonly batchSize?: number;
  /** Re-read interval when no append notification arrives. */
  readonly pollIntervalMs?: number;
  /** Delay before retrying a batch that failed (grows to 30 s). */
  readonly retryDelayMs?: number;
}

interface Lane {
  readonly projection: Projection;
  readonly schema: string;
  /** Everything up to here is applied (in memory; see `stored`). */
  checkpoint: bigint;
  /** The checkpoint as written in the lane's table. */
  stored: bigint;
  /** When `stored` was last written (epoch ms). */
  writtenAt: number;
  lastError?: string;
}

/** A lane with no event of its kind in a batch writes its checkpoint at most this often (replaying such events is a no-op). */
const idleCheckpointMs = 1000;

/**
 * Keeps every projection's read model following the event store: one checkpoint per projection,
 * and one consumer that applies a batch to all of them in one transaction (one commit, not one
 * per projection). Each projection's part runs under a savepoint, so one that fails is rolled
 * back alone and retried from its own checkpoint while the others move on.
 */
export function createProjectionRunner(options: ProjectionRunnerOptions): ProjectionRunner {
  const { db, store, logger } = options;
  const batchSize = options.batchSize ?? 500;
  for (const projection of options.projections) assertProjectionName(projection.name);
  const lanes: Lane[] = options.projections.map((projection) => ({ projection, schema: liveSchema(projection), checkpoint: 0n, stored: 0n, writtenAt: 0 }));
  let follower: Follower | undefined;
  const consumer: Consumer = {
    name: 'projections',
    position: () => lanes.reduce<bigint>((min, lane) => (lane.checkpoint < min ? lane.checkpoint : min), lanes[0]?.checkpoint ?? 0n),
    handle: (events) => applyToLanes(events),
  };

  async function prepare(lane: Lane): Promise<void> {
    if (!(await schemaExists(db, lane.schema))) {
      try {
        await createProjectionSchema(db, lane.projection, lane.schema);
      } catch (error) {
        // Another instance created it first.
        if (!(await schemaExists(db, lane.schema))) throw error;
      }
    }
    const stored = await readCheckpoint(db, lane.schema);
    if (stored.version !== lane.projection.version) {
      logger.warn({ projection: lane.projection.name, from: stored.version, to: lane.projection.version }, 'projection version changed: rebuilding');
      await rebuildProjection(db, store, lane.projection, { batchSize: Math.max(batchSize, 2000) });
    }
    lane.checkpoint = lane.stored = (await readCheckpoint(db, lane.schema)).position;
    lane.writtenAt = Date.now();
  }

  /**
   * Applies a batch to every lane behind it, in one transaction. The lanes' checkpoints move
   * first, in one statement, each with an UPDATE that expects the stored value: a lane whose
   * checkpoint another instance (or a rebuild swapping its schema in) moved meanwhile is not
   * moved, and follows the stored checkpoint instead of applying. That, and the row locks the
   * UPDATEs hold to the commit (taken before any read-model table, the order a rebuild's swap
   * takes them in too), is what keeps the effect exactly-once across crashes and concurrent runners.
   *
   * A batch costs a handful of statements, whatever the number of projections: the search path
   * names every lane's schema at once (their table names are distinct, checked at start), and
   * savepoints are taken only when retrying a batch that failed, to find the lane at fault and
   * let the others move on.
   */
  async function applyToLanes(events: readonly RecordedEvent[], isolate = false): Promise<void> {
    const last = events.at(-1);
    if (!last) return;
    const now = Date.now();
    const work = lanes.flatMap((lane) => {
      const slice = events.filter((event) => event.position > lane.checkpoint);
      if (slice.length === 0) return [];
      const handled = handledEvents(lane.projection, slice);
      // Nothing of its kind: the checkpoint can wait (replaying these events is a no-op).
      if (handled.length === 0 && now - lane.writtenAt < idleCheckpointMs) return [{ lane, handled, write: false }];
      return [{ lane, handled, write: true }];
    });
    const writes = work.filter((item) => item.write);
    const outcomes = new Map<Lane, { checkpoint: bigint; stored?: bigint } | { error: unknown }>();
    for (const item of work) if (!item.write) outcomes.set(item.lane, { checkpoint: last.position });
    try {
      if (writes.length > 0) {
        await inTransaction(db, async (trx) => {
          const moved = await moveCheckpoints(trx, writes.map((item) => item.lane), last.position);
          const applying = writes.filter((item) => item.handled.length > 0 && moved.has(item.lane));
          if (applying.length > 0) await sql`select set_config('search_path', ${`${applying.map((item) => item.lane.schema).join(', ')}, public`}, true)`.execute(trx);
          for (const [index, item] of writes.entries()) {
            if (!moved.has(item.lane)) {
              const stored = await readCheckpoint(trx, item.lane.schema);
              outcomes.set(item.lane, { checkpoint: stored.position, stored: stored.position });
              continue;
            }
            if (item.handled.length > 0) {
              const savepoint = sql.id(`lane_${index}`);
              if (isolate) await sql`savepoint ${savepoint}`.execute(trx);
              try {
                // Raw SQL in a projection names its tables unqualified: they resolve through the search path.
                await item.lane.projection.apply(trx.withSchema(item.lane.schema), item.handled);
              } catch (error) {
                if (!isolate) throw error;
                await sql`rollback to savepoint ${savepoint}`.execute(trx);
                // Its checkpoint moved with the others: put it back.
                await sql`update ${sql.id(item.lane.schema, 'checkpoint')} set position = ${item.lane.stored.toString()}::bigint where id = 1`.execute(trx);
                outcomes.set(item.lane, { error });
                continue;
              }
            }
            outcomes.set(item.lane, { checkpoint: last.position, stored: last.position });
          }
        });
      }
    } catch (error) {
      // Which lane failed? Once more, each under a savepoint: the healthy ones move on.
      if (!isolate) return applyToLanes(events, true);
      throw error;
    }
    let failure: unknown;
    for (const [lane, outcome] of outcomes) {
      if ('error' in outcome) {
        failure ??= outcome.error;
        lane.lastError = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
        logger.error({ err: outcome.error, projection: lane.projection.name, checkpoint: lane.checkpoint.toString() }, 'projection batch failed; retrying');
        continue;
      }
      delete lane.lastError;
      lane.checkpoint = outcome.checkpoint;
      if (outcome.stored !== undefined) {
        lane.stored = outcome.stored;
        lane.writtenAt = now;
      }
    }
    // The follower backs this consumer off; the lanes that succeeded keep their progress.
    if (failure !== undefined) throw failure;
  }

  /** Moves the lanes' checkpoints to `position` where they are still at their stored value, in one statement; answers the lanes moved. */
  async function moveCheckpoints(trx: Kysely<any>, chosen: readonly Lane[], position: bigint): Promise<Set<Lane>> {
    const updates = chosen.map(
      (lane, index) =>
        sql`${sql.id(`c${index}`)} as (update ${sql.id(lane.schema, 'checkpoint')} set position = ${position.toString()}::bigint, updated_at = now() where id = 1 and position = ${lane.stored.toString()}::bigint returning ${index}::int as lane)`,
    );
    const selects = chosen.map((_, index) => sql`select lane from ${sql.id(`c${index}`)}`);
    const { rows } = await sql<{ lane: number }>`with ${sql.join(updates, sql`, `)} ${sql.join(selects, sql` union all `)}`.execute(trx);
    return new Set(rows.map((row) => chosen[row.lane]!));
  }

  const prepareAll = async () => {
    for (const lane of lanes) await prepare(lane);
    await assertDistinctTables();
  };

  /** One search path serves every lane (see applyToLanes) only while no two projections share a table name. */
  async function assertDistinctTables(): Promise<void> {
    const { rows } = await sql<{ table_name: string; schemas: string[] }>`
      select table_name, array_agg(table_schema::text) as schemas from information_schema.tables
      where table_schema = any(${lanes.map((lane) => lane.schema)}::text[]) and table_name <> 'checkpoint'
      group by table_name having count(*) > 1`.execute(db);
    if (rows.length > 0) throw new Error(`projections share table names (${rows.map((row) => `${row.table_name} in ${row.schemas.join(' and ')}`).join('; ')}): give each its own names`);
  }

  return {
    prepare: prepareAll,
    consumer,

    async start() {
      await prepareAll();
      follower = createFollower({
        store,
        consumers: [consumer],
        logger,
        batchSize,
        ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
        ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
      });
      follower.start();
    },

    async catchUp() {
      await prepareAll();
      for (;;) {
        const events = await store.readAll({ after: consumer.position(), maxCount: batchSize });
        if (events.length === 0) break;
        // Every lane's checkpoint is written: a one-shot command leaves nothing to replay.
        for (const lane of lanes) lane.writtenAt = 0;
        await applyToLanes(events);
      }
    },

    waitFor: (position, timeoutMs) => (follower ? follower.waitFor(position, timeoutMs) : Promise.resolve(lanes.every((lane) => lane.checkpoint >= position))),

    async status() {
      const head = await store.headPosition();
      const running = (await follower?.status())?.[0]?.running ?? false;
      return Promise.all(
        lanes.map(async (lane) => {
          const stored = (await schemaExists(db, lane.schema)) ? await readCheckpoint(db, lane.schema) : { position: 0n, version: lane.projection.version, updatedAt: new Date(0) };
          return {
            name: lane.projection.name,
            version: stored.version,
            checkpoint: stored.position,
            head,
            lag: head > stored.position ? head - stored.position : 0n,
            updatedAt: stored.updatedAt,
            running,
            ...(lane.lastError !== undefined ? { lastError: lane.lastError } : {}),
          };
        }),
      );
    },

    async stop() {
      await follower?.stop();
    },
  };
}
