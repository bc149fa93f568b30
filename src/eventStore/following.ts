import type { EventStore } from './eventStore.ts';

/** Sleeps for readers that follow the store: they end early when an append is reported or on abort. */
export interface AppendWaker {
  sleep(ms: number): Promise<void>;
  close(): void;
}

export function createAppendWaker(store: Pick<EventStore, 'onAppend'>, signal: AbortSignal): AppendWaker {
  const sleepers = new Set<() => void>();
  // An append reported while nobody sleeps (the reader was busy) ends the next sleep at once.
  let pending = false;
  const unsubscribe = store.onAppend(() => {
    if (sleepers.size === 0) pending = true;
    for (const wake of [...sleepers]) wake();
  });
  return {
    async sleep(ms) {
      if (signal.aborted) return;
      if (pending) {
        pending = false;
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          sleepers.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        }
        sleepers.add(done);
        signal.addEventListener('abort', done);
      });
    },
    close() {
      unsubscribe();
      for (const wake of [...sleepers]) wake();
    },
  };
}

/** Callers waiting until a follower's position passes theirs (read-your-writes). */
export interface PositionWaiters {
  /** Resolves true once `current()` is at or past `target`, false after `timeoutMs`. */
  waitFor(target: bigint, timeoutMs: number): Promise<boolean>;
  /** Call whenever the position moved. */
  notify(): void;
}

export function createPositionWaiters(current: () => bigint): PositionWaiters {
  const waiters = new Set<() => void>();
  return {
    waitFor(target, timeoutMs) {
      if (current() >= target) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const check = () => {
          if (current() >= target) finish(true);
        };
        const timer = setTimeout(() => finish(false), timeoutMs);
        function finish(value: boolean) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(value);
        }
        waiters.add(check);
      });
    },
    notify() {
      for (const waiter of [...waiters]) waiter();
    },
  };
}
