import { createKeyedMutex } from '../concurrency/keyedMutex.ts';
import { AppError, hasCode } from '../errors/appError.ts';
import type { IdGenerator } from '../ids/ids.ts';
import type { AppendResult, EventMetadata, EventStore, RecordedEvent } from './eventStore.ts';

/** A pure decider over one stream: how to start, how events change the state, what a command decides. */
export interface StreamDecider<State, Event extends { readonly type: string; readonly data: unknown }> {
  initialState(): State;
  evolve(state: State, event: Event): State;
  /** Which stored events the state is built from (a stream may also hold events of other concerns). */
  readonly folds?: (event: RecordedEvent) => boolean;
}

/** Commands on one stream run one at a time in this process; only other processes can race them. */
const streams = createKeyedMutex();

/** Attempts against writers in other processes before the caller is told to retry later. */
const maxAttempts = 10;

/**
 * Loads a stream, folds it, decides, and appends at the revision read; on a concurrent write (by
 * another process: this one queues commands per stream) it loads and decides again, backing off
 * a little each time. `check` sees the history first (e.g. ownership) and may throw. Nothing is
 * appended when the decision is empty.
 */
export async function handleCommand<State, Event extends { readonly type: string; readonly data: unknown }>(
  store: EventStore,
  streamName: string,
  decider: StreamDecider<State, Event>,
  decide: (state: State) => Event[],
  options: { readonly ids: IdGenerator; readonly metadata: () => EventMetadata; readonly check?: (history: readonly RecordedEvent[]) => void },
): Promise<{ events: Event[]; state: State; result: AppendResult | undefined }> {
  return streams.run(streamName, () => decideAndAppend(store, streamName, decider, decide, options));
}

async function decideAndAppend<State, Event extends { readonly type: string; readonly data: unknown }>(
  store: EventStore,
  streamName: string,
  decider: StreamDecider<State, Event>,
  decide: (state: State) => Event[],
  options: { readonly ids: IdGenerator; readonly metadata: () => EventMetadata; readonly check?: (history: readonly RecordedEvent[]) => void },
): Promise<{ events: Event[]; state: State; result: AppendResult | undefined }> {
  for (let attempt = 1; ; attempt++) {
    const history = await store.readStream(streamName);
    options.check?.(history);
    let state = decider.initialState();
    for (const event of history) if (!decider.folds || decider.folds(event)) state = decider.evolve(state, event as unknown as Event);
    const events = decide(state);
    if (events.length === 0) return { events, state, result: undefined };
    const metadata = options.metadata();
    try {
      const result = await store.appendToStream(
        streamName,
        events.map((event) => ({ id: options.ids.uuid(), type: event.type, data: event.data, metadata })),
        { expectedRevision: history.at(-1)?.revision ?? 'no_stream' },
      );
      let next = state;
      for (const event of events) next = decider.evolve(next, event);
      return { events, state: next, result };
    } catch (error) {
      if (!hasCode(error, 'WRONG_EXPECTED_REVISION')) throw error;
      if (attempt >= maxAttempts) {
        throw new AppError('SERVICE_UNAVAILABLE', 'too many concurrent changes to the same record; retry shortly', { retryAfterSeconds: 1 }, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
  }
}
