import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { EventStore, RecordedEvent } from '../src/eventStore/eventStore.ts';
import { createFollower, type Consumer, type Follower } from '../src/eventStore/follower.ts';
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
  /** Creates missing schemas (rebuilding any whose stored version is older) and loads the checkpoints. */
  prepare(): Promise<void>;
  /** One consumer per projection, for a follower of the store (the service's shared one). Call `prepare` first. */
  readonly consumers: readonly Consumer[];
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

interface Lane extends Consumer {
  readonly projection: Projection;
  readonly schema: string;
  checkpoint: bigint;
  lastError?: string;
}

/** Keeps every projection's read model following the event store: one consumer (and checkpoint) per projection. */
export function createProjectionRunner(options: ProjectionRunnerOptions): ProjectionRunner {
  const { db, store, logger } = options;
  const batchSize = options.batchSize ?? 500;
  for (const projection of options.projections) assertProjectionName(projection.name);
  const lanes: Lane[] = options.projections.map((projection) => {
    const lane: Lane = {
      name: `projection:${projection.name}`,
      projection,
      schema: liveSchema(projection),
      checkpoint: 0n,
      position: () => lane.checkpoint,
      async handle(events: readonly RecordedEvent[]) {
        try {
          await apply(lane, events);
          delete lane.lastError;
        } catch (error) {
          lane.lastError = error instanceof Error ? error.message : String(error);
          // The database may have moved on (or be away): start again from what it holds.
          lane.checkpoint = await readCheckpoint(db, lane.schema).then((stored) => stored.position, () => lane.checkpoint);
          throw error;
        }
      },
    };
    return lane;
  });
  let follower: Follower | undefined;

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

  /** Applies a batch read after the lane's checkpoint; when someone else moved the checkpoint (another instance, a rebuild), follows it instead. */
  async function apply(lane: Lane, events: readonly RecordedEvent[]): Promise<void> {
    const outcome = await applyBatch(db, lane.projection, lane.schema, lane.checkpoint, events);
    lane.checkpoint = outcome.applied ? outcome.position : outcome.checkpoint;
  }

  const prepareAll = async () => {
    for (const lane of lanes) await prepare(lane);
  };

  return {
    prepare: prepareAll,
    consumers: lanes,

    async start() {
      await prepareAll();
      follower = createFollower({
        store,
        consumers: lanes,
        logger,
        batchSize,
        ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
        ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
      });
      follower.start();
    },

    async catchUp() {
      for (const lane of lanes) {
        await prepare(lane);
        for (;;) {
          const events = await store.readAll({ after: lane.checkpoint, maxCount: batchSize });
          if (events.length === 0) break;
          await apply(lane, events);
        }
      }
    },

    waitFor: (position, timeoutMs) => (follower ? follower.waitFor(position, timeoutMs) : Promise.resolve(lanes.every((lane) => lane.checkpoint >= position))),

    async status() {
      const head = await store.headPosition();
      const running = new Map((await follower?.status())?.map((s) => [s.name, s.running]) ?? []);
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
            running: running.get(lane.name) ?? false,
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
