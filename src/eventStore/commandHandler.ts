import { createKeyedMutex } from '../concurrency/keyedMutex.ts';
import { AppError, hasCode } from '../errors/appError.ts';
import type { IdGenerator } from '../ids/ids.ts';
import type { AppendResult, EventMetadata, EventStore, RecordedEvent, StreamAppend } from './eventStore.ts';

/** A pure decider over one stream: how to start, how events change the state, what a command decides. */
export interface StreamDecider<State, Event extends { readonly type: string; readonly data: unknown }> {
  initialState(): State;
  evolve(state: State, event: Event): State;
  /** Which stored events the state is built from (a stream may also hold events of other concerns). */
  readonly folds?: (event: RecordedEvent) => boolean;
  /**
   * The stream's snapshot event, when it has one: a load reads backwards only as far as the
   * latest snapshot and folds from there, so a long history costs no more than a short one.
   */
  readonly snapshot?: {
    readonly type: string;
    toData(state: State): unknown;
    fromData(data: unknown): State;
  };
}

/** Commands on one stream run one at a time in this process; only other processes can race them. */
const streams = createKeyedMutex();

/** Attempts against writers in other processes before the caller is told to retry later. */
const maxAttempts = 10;

/** Events read backwards per page while looking for the latest snapshot. */
const snapshotPage = 64;

/** Events read since the latest snapshot after which a command's append carries a new snapshot. */
export const snapshotEvery = 32;

/**
 * The one retry policy of every append that depends on what was read: on a concurrent write (by
 * another process: this one queues commands per stream) read and decide again, backing off a
 * little each time; after `maxAttempts`, SERVICE_UNAVAILABLE (retry shortly), never an internal code.
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>, what = 'the same record'): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!hasCode(error, 'WRONG_EXPECTED_REVISION')) throw error;
      if (n >= maxAttempts) throw new AppError('SERVICE_UNAVAILABLE', `too many concurrent changes to ${what}; retry shortly`, { retryAfterSeconds: 1 }, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * n));
    }
  }
}

/** A stream as a command sees it: the state folded from the latest snapshot on, and the revision to append at. */
export interface LoadedStream<State> {
  readonly state: State;
  /** Events folded (after the snapshot, if any): what `check` sees first. */
  readonly history: readonly RecordedEvent[];
  /** The first event of the stream (its owner: tenant and mode), even when a snapshot hides it. */
  readonly first: RecordedEvent | undefined;
  readonly revision: bigint | undefined;
}

/** Reads a stream backwards to its latest snapshot (or its start) and folds it forwards. */
export async function loadStream<State, Event extends { readonly type: string; readonly data: unknown }>(
  store: EventStore,
  streamName: string,
  decider: StreamDecider<State, Event>,
): Promise<LoadedStream<State>> {
  const newestFirst: RecordedEvent[] = [];
  let snapshot: RecordedEvent | undefined;
  let from: bigint | undefined;
  for (;;) {
    const page = await store.readStream(streamName, { direction: 'backwards', maxCount: snapshotPage, ...(from !== undefined ? { fromRevision: from } : {}) });
    for (const event of page) {
      if (decider.snapshot && event.type === decider.snapshot.type) {
        snapshot = event;
        break;
      }
      newestFirst.push(event);
    }
    const last = page.at(-1);
    if (snapshot || page.length < snapshotPage || !last || last.revision === 0n) break;
    from = last.revision - 1n;
  }
  const history = newestFirst.reverse();
  let state = snapshot && decider.snapshot ? decider.snapshot.fromData((snapshot.data as { state: unknown }).state) : decider.initialState();
  for (const event of history) if (!decider.folds || decider.folds(event)) state = decider.evolve(state, event as unknown as Event);
  const newest = history.at(-1) ?? snapshot;
  const first = snapshot ? (await store.readStream(streamName, { maxCount: 1 }))[0] : history[0];
  return { state, history, first, revision: newest?.revision };
}

/**
 * Loads a stream, decides, and appends at the revision read, under the one retry policy. `check`
 * sees the stream's first event and the folded history (e.g. ownership) and may throw. Nothing is
 * appended when the decision is empty. `guards` name streams that must still be open.
 */
export async function handleCommand<State, Event extends { readonly type: string; readonly data: unknown }>(
  store: EventStore,
  streamName: string,
  decider: StreamDecider<State, Event>,
  decide: (state: State) => Event[],
  options: {
    readonly ids: IdGenerator;
    readonly metadata: () => EventMetadata;
    readonly check?: (first: RecordedEvent | undefined, history: readonly RecordedEvent[]) => void;
    /** The decision closes the stream (an erasure): nothing may be appended to it afterwards. */
    readonly closes?: (events: readonly Event[]) => boolean;
  },
): Promise<{ events: Event[]; state: State; result: AppendResult | undefined }> {
  return streams.run(streamName, () =>
    retryOnConflict(async () => {
      const loaded = await loadStream(store, streamName, decider);
      options.check?.(loaded.first, loaded.history);
      const events = decide(loaded.state);
      if (events.length === 0) return { events, state: loaded.state, result: undefined };
      const metadata = options.metadata();
      let next = loaded.state;
      for (const event of events) next = decider.evolve(next, event);
      const stored = events.map((event) => ({ id: options.ids.uuid(), type: event.type, data: event.data, metadata }));
      // A command that had to read many events since the latest snapshot (a long-lived stream, or
      // sign-ins older versions wrote into user streams) appends a snapshot with its events, so
      // the next command reads from there: loading costs the same however long the history is.
      if (decider.snapshot && loaded.history.length >= snapshotEvery) stored.push({ id: options.ids.uuid(), type: decider.snapshot.type, data: { state: decider.snapshot.toData(next) }, metadata });
      const result = await store.appendToStream(streamName, stored, { expectedRevision: loaded.revision ?? 'no_stream', ...(options.closes?.(events) ? { close: true } : {}) });
      return { events, state: next, result };
    }),
  );
}

/**
 * Appends facts that no command decides on (sign-in attempts, identify misses) to a stream no
 * command folds: no read, no expected revision, so they never conflict; `guards` (the user's
 * stream) make the store refuse them once that stream is closed.
 */
export async function recordFacts(
  store: EventStore,
  streamName: string,
  facts: ReadonlyArray<{ readonly type: string; readonly data: unknown }>,
  options: { readonly ids: IdGenerator; readonly metadata: EventMetadata; readonly guards?: readonly string[] },
): Promise<AppendResult> {
  return store.appendToStream(
    streamName,
    facts.map((fact) => ({ id: options.ids.uuid(), type: fact.type, data: fact.data, metadata: options.metadata })),
    { expectedRevision: 'any', ...(options.guards ? { guards: options.guards } : {}) },
  );
}

/** Appends several streams' decided events atomically, under the one retry policy (`attempt` reads and decides again). */
export function appendDecided(store: EventStore, attempt: () => Promise<readonly StreamAppend[]>, what?: string): Promise<AppendResult[]> {
  return retryOnConflict(async () => store.appendMulti(await attempt()), what);
}
