import type { Logger } from 'pino';
import type { EventStore, RecordedEvent } from './eventStore.ts';
import { createAppendWaker, createPositionWaiters } from './following.ts';

/**
 * One reader of the store hands every batch to many consumers (the projections, the matcher feed,
 * the webhook dispatcher), each with its own checkpoint.
 */
export interface Consumer {
  readonly name: string;
  /** Every event up to and including this position is handled. */
  position(): bigint;
  /** Handles events after `position()`, in order; once it resolves, `position()` is at least the last one's. */
  handle(events: readonly RecordedEvent[]): Promise<void>;
}

export interface ConsumerStatus {
  readonly name: string;
  readonly position: bigint;
  readonly head: bigint;
  /** Positions between the consumer and the head of the store. */
  readonly lag: bigint;
  readonly running: boolean;
  readonly lastError?: string;
}

export interface Follower {
  /** Starts the loop; consumers are handed events after their own positions. */
  start(): void;
  /** Resolves true once the named consumers (default: all) have handled `position`, false after `timeoutMs`. */
  waitFor(position: bigint, timeoutMs: number, names?: readonly string[]): Promise<boolean>;
  status(): Promise<ConsumerStatus[]>;
  /** Positions as they are now (no store call): for metrics. */
  positions(): ReadonlyArray<{ readonly name: string; readonly position: bigint }>;
  stop(): Promise<void>;
}

export interface FollowOptions {
  readonly store: Pick<EventStore, 'readAll' | 'onAppend'>;
  /** The position to read after, asked before every read. */
  readonly from: () => bigint;
  /** Takes a batch read after `from()`; a throw backs the loop off. */
  readonly handle: (events: readonly RecordedEvent[]) => Promise<void>;
  readonly signal: AbortSignal;
  readonly batchSize?: number;
  /** Re-read interval when no append is reported (the fallback for a lost notification). */
  readonly pollIntervalMs?: number;
  /** First delay after a failure; doubles up to 30 s. */
  readonly retryDelayMs?: number;
  /**
   * After a batch smaller than a page, the next read waits until this long after the previous
   * one started: under load a handful of events then go in one batch instead of one at a time
   * (each batch costs its consumers their statements and commits); when idle it adds nothing
   * but this much to a reader waiting for a position.
   */
  readonly minCycleMs?: number;
  readonly onError?: (error: unknown) => void;
}

/**
 * The loop every follower of the store runs: read a batch after `from()`, hand it over, and when
 * the store has nothing new, sleep until an append is reported (or the poll interval passes);
 * after a failure, back off. Resolves when the signal aborts.
 */
export async function followStore(options: FollowOptions): Promise<void> {
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const retryDelayMs = options.retryDelayMs ?? 200;
  const waker = createAppendWaker(options.store, options.signal);
  const minCycleMs = options.minCycleMs ?? 0;
  let delay = retryDelayMs;
  try {
    while (!options.signal.aborted) {
      try {
        const started = Date.now();
        const events = await options.store.readAll({ after: options.from(), maxCount: batchSize });
        if (options.signal.aborted) break;
        if (events.length === 0) {
          await waker.sleep(pollIntervalMs);
          continue;
        }
        await options.handle(events);
        delay = retryDelayMs;
        const rest = started + minCycleMs - Date.now();
        if (events.length < batchSize && rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
      } catch (error) {
        if (options.signal.aborted) break;
        options.onError?.(error);
        await waker.sleep(delay);
        delay = Math.min(delay * 2, 30_000);
      }
    }
  } finally {
    waker.close();
  }
}

interface ConsumerState {
  readonly consumer: Consumer;
  running: boolean;
  lastError?: string;
  failures: number;
  /** Epoch ms before which a failed consumer is not handed events again. */
  retryAt: number;
}

export interface FollowerOptions {
  readonly store: Pick<EventStore, 'readAll' | 'onAppend' | 'headPosition'>;
  readonly consumers: readonly Consumer[];
  readonly logger: Logger;
  readonly batchSize?: number;
  readonly pollIntervalMs?: number;
  readonly retryDelayMs?: number;
  /** See FollowOptions.minCycleMs. */
  readonly minCycleMs?: number;
}

/**
 * Follows the store once for many consumers: each batch is read once and handed to every consumer
 * that is behind it, side by side. A consumer that fails backs off on its own (its lag shows in
 * `status`); the others keep following.
 */
export function createFollower(options: FollowerOptions): Follower {
  const { store, logger } = options;
  const retryDelayMs = options.retryDelayMs ?? 500;
  const states: ConsumerState[] = options.consumers.map((consumer) => ({ consumer, running: false, failures: 0, retryAt: 0 }));
  const waiters = createPositionWaiters(() => lowest(states));
  const named = new Map<string, ReturnType<typeof createPositionWaiters>>();
  const controller = new AbortController();
  let loop: Promise<void> | undefined;

  const due = () => {
    const now = Date.now();
    return states.filter((state) => state.retryAt <= now);
  };

  async function handle(events: readonly RecordedEvent[]): Promise<void> {
    await Promise.all(
      due().map(async (state) => {
        const after = state.consumer.position();
        const slice = events.filter((event) => event.position > after);
        if (slice.length === 0) return;
        try {
          await state.consumer.handle(slice);
          state.failures = 0;
          delete state.lastError;
        } catch (error) {
          if (controller.signal.aborted) return;
          state.failures += 1;
          state.lastError = error instanceof Error ? error.message : String(error);
          state.retryAt = Date.now() + Math.min(retryDelayMs * 2 ** (state.failures - 1), 30_000);
          logger.error({ err: error, consumer: state.consumer.name, position: state.consumer.position().toString() }, 'follower consumer failed; retrying');
        }
      }),
    );
    waiters.notify();
    for (const waiter of named.values()) waiter.notify();
  }

  return {
    start() {
      for (const state of states) state.running = true;
      loop = followStore({
        store,
        signal: controller.signal,
        // Consumers backing off are left behind; when their retry is due, the reader goes back for them.
        from: () => lowest(due().length > 0 ? due() : states),
        handle,
        ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
        ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
        retryDelayMs,
        ...(options.minCycleMs !== undefined ? { minCycleMs: options.minCycleMs } : {}),
        onError: (error) => logger.error({ err: error }, 'reading the event store failed; retrying'),
      }).finally(() => {
        for (const state of states) state.running = false;
      });
    },

    waitFor(position, timeoutMs, names) {
      if (names === undefined) return waiters.waitFor(position, timeoutMs);
      const key = [...names].sort().join(',');
      let waiter = named.get(key);
      if (!waiter) {
        const chosen = states.filter((state) => names.includes(state.consumer.name));
        waiter = createPositionWaiters(() => lowest(chosen));
        named.set(key, waiter);
      }
      return waiter.waitFor(position, timeoutMs);
    },

    async status() {
      const head = await store.headPosition();
      return states.map((state) => {
        const position = state.consumer.position();
        return {
          name: state.consumer.name,
          position,
          head,
          lag: head > position ? head - position : 0n,
          running: state.running,
          ...(state.lastError !== undefined ? { lastError: state.lastError } : {}),
        };
      });
    },

    positions: () => states.map((state) => ({ name: state.consumer.name, position: state.consumer.position() })),

    async stop() {
      controller.abort();
      await loop;
    },
  };
}

function lowest(states: readonly { readonly consumer: Consumer }[]): bigint {
  let min: bigint | undefined;
  for (const state of states) {
    const position = state.consumer.position();
    if (min === undefined || position < min) min = position;
  }
  return min ?? 0n;
}
