import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { EventStore } from '../src/eventStore/eventStore.ts';
import { createAppendWaker, createPositionWaiters, type AppendWaker } from '../src/eventStore/following.ts';
import { applyBatch } from './applyBatch.ts';
import { createProjectionSchema, readCheckpoint, schemaExists } from './checkpoint.ts';
import { assertProjectionName, liveSchema, type Projection } from './projection.ts';
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
  /** Creates missing schemas (rebuilding any whose stored version is older) and starts following the store. */
  start(): Promise<void>;
  /** Applies everything up to the current head once, without the live loop (CLI, tests). */
  catchUp(): Promise<void>;
  /** Resolves true once every projection has passed `position`, false after `timeoutMs`. */
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
  checkpoint: bigint;
  lastError?: string;
  running: boolean;
}

/** Keeps every projection's read model following the event store, one lane per projection. */
export function createProjectionRunner(options: ProjectionRunnerOptions): ProjectionRunner {
  const { db, store, logger } = options;
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const retryDelayMs = options.retryDelayMs ?? 500;
  for (const projection of options.projections) assertProjectionName(projection.name);
  const lanes: Lane[] = options.projections.map((projection) => ({ projection, schema: liveSchema(projection), checkpoint: 0n, running: false }));
  const controller = new AbortController();
  const waiters = createPositionWaiters(() => lanes.reduce((lowest, lane) => (lane.checkpoint < lowest ? lane.checkpoint : lowest), lanes[0]?.checkpoint ?? 0n));
  let waker: AppendWaker | undefined;
  let loops: Promise<void>[] = [];

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
    lane.checkpoint = (await readCheckpoint(db, lane.schema)).position;
  }

  /** One step: read a batch after the lane's checkpoint and apply it. Returns the events seen. */
  async function step(lane: Lane): Promise<number> {
    const events = await store.readAll({ after: lane.checkpoint, maxCount: batchSize });
    if (events.length === 0) return 0;
    const outcome = await applyBatch(db, lane.projection, lane.schema, lane.checkpoint, events);
    if (outcome.applied) {
      lane.checkpoint = outcome.position;
      waiters.notify();
      return events.length;
    }
    // Someone else moved the checkpoint (another instance, or a rebuild swapped in): follow it.
    lane.checkpoint = outcome.checkpoint;
    waiters.notify();
    return 1;
  }

  const sleep = (ms: number) => waker?.sleep(ms) ?? Promise.resolve();

  async function loop(lane: Lane): Promise<void> {
    lane.running = true;
    let delay = retryDelayMs;
    while (!controller.signal.aborted) {
      try {
        const seen = await step(lane);
        delete lane.lastError;
        delay = retryDelayMs;
        if (seen === 0) await sleep(pollIntervalMs);
      } catch (error) {
        if (controller.signal.aborted) break;
        lane.lastError = error instanceof Error ? error.message : String(error);
        logger.error({ err: error, projection: lane.projection.name, checkpoint: lane.checkpoint.toString() }, 'projection batch failed; retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, 30_000);
        try {
          lane.checkpoint = (await readCheckpoint(db, lane.schema)).position;
        } catch {
          // The database is away; the next step will fail and back off again.
        }
      }
    }
    lane.running = false;
  }

  return {
    async start() {
      for (const lane of lanes) await prepare(lane);
      waker = createAppendWaker(store, controller.signal);
      loops = lanes.map((lane) => loop(lane));
    },

    async catchUp() {
      for (const lane of lanes) {
        await prepare(lane);
        while ((await step(lane)) > 0);
      }
    },

    waitFor: (position, timeoutMs) => waiters.waitFor(position, timeoutMs),

    async status() {
      const head = await store.headPosition();
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
            running: lane.running,
            ...(lane.lastError !== undefined ? { lastError: lane.lastError } : {}),
          };
        }),
      );
    },

    async stop() {
      controller.abort();
      waker?.close();
      await Promise.all(loops);
    },
  };
}
