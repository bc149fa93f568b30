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
   * Applies a batch to every lane behind it, in one transaction. A lane's checkpoint moves first,
   * with an UPDATE that expects the stored value: if another instance (or a rebuild swapping its
   * schema in) moved it meanwhile, the UPDATE finds nothing and the lane follows the stored
   * checkpoint instead of applying. That, and the row lock the UPDATE holds to the commit, is what
   * keeps the effect exactly-once across crashes and concurrent runners.
   */
  async function applyToLanes(events: readonly RecordedEvent[]): Promise<void> {
    const last = events.at(-1);
    if (!last) return;
    const now = Date.now();
    const outcomes = new Map<Lane, { checkpoint: bigint; stored?: bigint } | { error: unknown }>();
    await inTransaction(db, async (trx) => {
      for (const [index, lane] of lanes.entries()) {
        const slice = events.filter((event) => event.position > lane.checkpoint);
        if (slice.length === 0) continue;
        const handled = handledEvents(lane.projection, slice);
        if (handled.length === 0 && now - lane.writtenAt < idleCheckpointMs) {
          outcomes.set(lane, { checkpoint: last.position });
          continue;
        }
        const savepoint = sql.id(`lane_${index}`);
        if (handled.length > 0) await sql`savepoint ${savepoint}`.execute(trx);
        try {
          // The checkpoint first: its row lock is taken before any read-model table, the order a
          // rebuild's swap takes them in too.
          const moved = await sql<{ position: string }>`
            update ${sql.id(lane.schema, 'checkpoint')} set position = ${last.position.toString()}::bigint, updated_at = now()
            where id = 1 and position = ${lane.stored.toString()}::bigint returning position::text as position`.execute(trx);
          if (moved.rows.length === 0) {
            if (handled.length > 0) await sql`rollback to savepoint ${savepoint}`.execute(trx);
            const stored = await readCheckpoint(trx, lane.schema);
            outcomes.set(lane, { checkpoint: stored.position, stored: stored.position });
            continue;
          }
          if (handled.length > 0) {
            // Raw SQL in a projection names its tables unqualified too: they resolve to this schema.
            await sql`select set_config('search_path', ${`${lane.schema}, public`}, true)`.execute(trx);
            await lane.projection.apply(trx.withSchema(lane.schema), handled);
          }
          outcomes.set(lane, { checkpoint: last.position, stored: last.position });
        } catch (error) {
          if (handled.length === 0) throw error;
          await sql`rollback to savepoint ${savepoint}`.execute(trx);
          outcomes.set(lane, { error });
        }
      }
    });
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

  const prepareAll = async () => {
    for (const lane of lanes) await prepare(lane);
  };

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
