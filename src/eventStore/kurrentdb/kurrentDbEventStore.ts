import {
  ANY,
  BACKWARDS,
  END,
  ErrorType,
  FORWARDS,
  KurrentDBClient,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  STREAM_STATE,
  convertToCommandError,
  eventTypeFilter,
  excludeSystemEvents,
  isCommandError,
  jsonEvent,
} from '@kurrent/kurrentdb-client';
import type {
  AppendRecordInput,
  StreamStateCheck,
  AllStreamResolvedEvent,
  AllStreamSubscription,
  AppendStreamState,
  EventData,
  Filter,
  JSONType,
  Position,
  ReadPosition,
  StreamState,
} from '@kurrent/kurrentdb-client';
import { AppError } from '../../errors/appError.ts';
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

/** Same default as the PostgreSQL adapter, so callers page the same way over both. */
const defaultReadAllCount = 1000;
/** Raw events per $all page when we must skip system events client-side. */
const allPageSize = 500;
const liveRetryMs = 1000;
/** Type of the record a hard delete writes to the end of the deleted stream; it shows in $all. */
const tombstoneType = '$streamDeleted';
/** Servers before 22.6 report "no $all position" on stream reads as the u64 maximum. */
const unknownPosition = 0xffff_ffff_ffff_ffffn;

/** The fields we read from a client event; both the $all and the stream event shapes fit it. */
interface ClientEvent {
  readonly streamId: string;
  readonly id: string;
  readonly type: string;
  readonly revision: bigint;
  readonly created: Date;
  readonly data: unknown;
  readonly metadata: unknown;
  readonly position?: Position | undefined;
}

interface ClientResolved {
  readonly event?: ClientEvent | undefined;
  readonly commitPosition?: bigint | undefined;
}

/** The event store over KurrentDB (gRPC client): streams map 1:1, our global position is the $all commit position. */
export function createKurrentDbEventStore(options: { connectionString: string }): EventStore {
  let client: KurrentDBClient;
  try {
    client = KurrentDBClient.connectionString(options.connectionString);
  } catch (error) {
    // The vendor message may echo the string, credentials included; keep it in the cause only.
    throw new AppError('VALIDATION_ERROR', 'invalid KurrentDB connection string', {}, { cause: error });
  }
  const appendListeners = new Set<{ readonly listener: () => void }>();
  const openSubscriptions = new Set<AllStreamSubscription>();
  let stopLive: (() => void) | undefined;
  let closed = false;
  // $all keeps a tombstoned stream's events until a scavenge (never in the active chunk), so we
  // hide them ourselves: names of tombstoned streams, and how far $all has been scanned for tombstones.
  const tombstoned = new Set<string>();
  let tombstoneCursor: Position | undefined;
  let tombstoneQueue: Promise<void> = Promise.resolve();

  /**
   * Visits $all forwards from `from` (exclusive) page by page, until `visit` returns false or the
   * end. fromPosition is inclusive in the client, hence the skip of positions already seen.
   */
  async function forEachForwards(
    from: Position | undefined,
    filter: Filter | undefined,
    visit: (resolved: AllStreamResolvedEvent, position: Position) => boolean,
  ): Promise<void> {
    let seen = from;
    for (;;) {
      let raw = 0;
      let progressed = false;
      for await (const resolved of client.readAll({ direction: FORWARDS, fromPosition: seen ?? START, maxCount: allPageSize, filter })) {
        raw += 1;
        const position = positionOf(resolved);
        if (!position || (seen && comparePositions(position, seen) <= 0)) continue;
        seen = position;
        progressed = true;
        if (!visit(resolved, position)) return;
      }
      if (raw < allPageSize || !progressed) return;
    }
  }

  /** Learns every tombstone committed before the call. Serialized, so each caller gets a scan that started after it asked. */
  function refreshTombstones(): Promise<void> {
    const run = tombstoneQueue.then(scanTombstones);
    tombstoneQueue = run.catch(() => {});
    return run;
  }

  async function scanTombstones(): Promise<void> {
    let head: Position | undefined;
    for await (const resolved of client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 })) head = positionOf(resolved);
    // Filtered server-side; the type check below still holds should a server ignore the filter.
    await forEachForwards(tombstoneCursor, eventTypeFilter({ prefixes: [tombstoneType] }), (resolved, position) => {
      if (resolved.event?.type === tombstoneType) tombstoned.add(resolved.event.streamId);
      tombstoneCursor = position;
      return true;
    });
    // Every tombstone up to the head we saw before scanning is now known; next time start there.
    if (head && (!tombstoneCursor || comparePositions(head, tombstoneCursor) > 0)) tombstoneCursor = head;
  }

  function isVisible(recorded: RecordedEvent): boolean {
    return !tombstoned.has(recorded.streamName);
  }

  /** Revision of the stream's last event, undefined when the stream does not exist. */
  async function lastRevisionOf(streamName: string): Promise<bigint | undefined> {
    const [last] = await readStreamEvents(streamName, { direction: 'backwards', maxCount: 1 });
    return last?.revision;
  }

  async function readStreamEvents(
    streamName: string,
    readOptions: ReadStreamOptions,
  ): Promise<Array<RecordedEvent & { position: bigint }>> {
    const direction = readOptions.direction === 'backwards' ? BACKWARDS : FORWARDS;
    const maxCount = readOptions.maxCount ?? Number.MAX_SAFE_INTEGER;
    if (maxCount <= 0) return [];
    const fromRevision = readOptions.fromRevision ?? (direction === BACKWARDS ? END : START);
    const events: Array<RecordedEvent & { position: bigint }> = [];
    try {
      // readStream can throw synchronously (argument checks) or while iterating (not found, deleted).
      for await (const resolved of client.readStream(streamName, { direction, fromRevision, maxCount })) {
        const recorded = toRecorded(resolved);
        if (recorded) events.push(recorded);
      }
    } catch (error) {
      if (isVendorError(error, ErrorType.STREAM_NOT_FOUND)) return [];
      const translated = translateError(error, { streamName });
      if (translated.code === 'STREAM_DELETED') tombstoned.add(streamName);
      throw translated;
    }
    return events;
  }

  /** Global position of the event at `revision`, read back from the stream (undefined if unknown). */
  async function positionAt(streamName: string, revision: bigint): Promise<bigint | undefined> {
    try {
      const [event] = await readStreamEvents(streamName, { direction: 'forwards', fromRevision: revision, maxCount: 1 });
      return event && event.revision === revision && event.position > 0n ? event.position : undefined;
    } catch {
      return undefined;
    }
  }

  async function emptyAppend(streamName: string, expected: ExpectedRevision): Promise<AppendResult> {
    const current = await lastRevisionOf(streamName);
    if (!revisionMatches(expected, current)) throw wrongRevision(streamName, expected, current);
    return { nextExpectedRevision: current ?? -1n, position: await store.headPosition() };
  }

  /**
   * Every append, one stream or several, is one `appendRecords` call: its consistency checks hold
   * each part's expected revision, and closure. KurrentDB has no closed-but-readable stream, so a
   * closure is a marker event in `closure-<stream>` written in the same atomic append, and every
   * later append to the stream, or guarded by it, checks that marker stream does not exist.
   */
  async function appendParts(parts: readonly StreamAppend[]): Promise<AppendResult[]> {
    if (parts.length === 0) return [];
    const records: AppendRecordInput[] = [];
    const checks: Array<{ readonly check: StreamStateCheck; readonly part: StreamAppend; readonly kind: 'revision' | 'closed' }> = [];
    const addCheck = (part: StreamAppend, kind: 'revision' | 'closed', streamName: string, expectedState: AppendStreamState) =>
      checks.push({ part, kind, check: { type: STREAM_STATE, streamName, expectedState } });
    for (const part of parts) {
      const expected = part.expectedRevision ?? 'any';
      if (expected !== 'any') addCheck(part, 'revision', part.streamName, toAppendState(expected));
      addCheck(part, 'closed', closureStream(part.streamName), NO_STREAM);
      for (const guard of part.guards ?? []) addCheck(part, 'closed', closureStream(guard), NO_STREAM);
      for (const event of part.events) records.push({ streamName: part.streamName, record: toEventData(event) });
      if (part.close) records.push({ streamName: closureStream(part.streamName), record: jsonEvent({ type: 'StreamClosed', data: { streamName: part.streamName } }) });
    }
    let result;
    try {
      result = await client.appendRecords(records, checks.map((entry) => entry.check));
    } catch (error) {
      const violation = error instanceof Error && isCommandError(error) && error.type === ErrorType.APPEND_CONSISTENCY_VIOLATION ? error.violations[0] : undefined;
      const failed = violation ? checks[violation.checkIndex] : undefined;
      if (violation && failed) {
        const actual = typeof violation.actualState === 'bigint' ? violation.actualState : undefined;
        if (actual === -5n || actual === -6n) throw streamDeleted(violation.streamName, error);
        if (failed.kind === 'closed') throw new AppError('STREAM_CLOSED', `stream ${violation.streamName.slice(closurePrefix.length)} is closed`, { streamName: violation.streamName.slice(closurePrefix.length) }, { cause: error });
        throw wrongRevision(failed.part.streamName, failed.part.expectedRevision ?? 'any', actual !== undefined && actual >= 0n ? actual : undefined, error);
      }
      throw translateError(error, { streamName: parts[0]!.streamName });
    }
    const revisions = new Map(result.responses.map((response) => [response.streamName, response.revision]));
    return Promise.all(
      parts.map(async (part) => {
        const revision = revisions.get(part.streamName) ?? (await lastRevisionOf(part.streamName)) ?? -1n;
        return { nextExpectedRevision: revision, position: (revision >= 0n ? await positionAt(part.streamName, revision) : undefined) ?? result.position };
      }),
    );
  }

  function notifyAppend(): void {
    for (const { listener } of [...appendListeners]) {
      try {
        listener();
      } catch {
        // A listener's failure is its own; the others still get the hint.
      }
    }
  }

  function releaseSubscription(subscription: AllStreamSubscription): void {
    if (!openSubscriptions.delete(subscription)) return;
    void subscription.unsubscribe().catch(() => {});
    subscription.destroy();
  }

  /** One live $all subscription from the end, shared by every onAppend listener; resubscribes after failures. */
  function startLiveSubscription(): () => void {
    let stopped = false;
    let current: AllStreamSubscription | undefined;
    let retryTimer: NodeJS.Timeout | undefined;

    const scheduleRetry = (): void => {
      if (stopped || closed || retryTimer) return;
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        connect(true);
      }, liveRetryMs);
      retryTimer.unref();
    };

    const connect = (isRetry: boolean): void => {
      if (stopped || closed) return;
      let subscription: AllStreamSubscription;
      try {
        subscription = client.subscribeToAll({ fromPosition: END, filter: excludeSystemEvents() });
      } catch {
        scheduleRetry();
        return;
      }
      current = subscription;
      openSubscriptions.add(subscription);
      let failed = false;
      const fail = (): void => {
        if (failed) return;
        failed = true;
        if (current === subscription) current = undefined;
        releaseSubscription(subscription);
        scheduleRetry();
      };
      subscription.on('data', (resolved: AllStreamResolvedEvent) => {
        if (resolved.event && isUserEvent(resolved.event)) notifyAppend();
      });
      // The error listener stays attached for good: an 'error' with no listener would crash the process.
      subscription.on('error', fail);
      subscription.on('end', fail);
      subscription.on('close', fail);
      // Appends made while we were resubscribing were never seen; tell listeners to read again.
      if (isRetry) subscription.once('confirmation', notifyAppend);
    };

    connect(false);
    return () => {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
      const subscription = current;
      current = undefined;
      if (subscription) releaseSubscription(subscription);
    };
  }

  async function* subscribe(subscribeOptions: SubscribeOptions): AsyncGenerator<RecordedEvent> {
    const after = subscribeOptions.after ?? 0n;
    const signal = subscribeOptions.signal;
    if (signal?.aborted || closed) return;
    let subscription: AllStreamSubscription;
    try {
      // Streams deleted before we subscribe must not replay; later deletes only stop future events.
      await refreshTombstones();
      if (signal?.aborted || closed) return;
      // A subscription from a position starts after it (exclusive); we still drop anything <= after below.
      subscription = client.subscribeToAll({ fromPosition: after > 0n ? { commit: after, prepare: after } : START, filter: excludeSystemEvents() });
    } catch (error) {
      throw translateError(error, {});
    }
    openSubscriptions.add(subscription);
    // Errors reach us through the iterator; this listener only keeps a late 'error' from crashing the process.
    subscription.on('error', () => {});
    const stop = (): void => releaseSubscription(subscription);
    signal?.addEventListener('abort', stop, { once: true });
    try {
      for await (const resolved of subscription) {
        const recorded = toRecordedFromAll(resolved);
        if (!recorded || recorded.position <= after || !isVisible(recorded)) continue;
        yield recorded;
      }
    } catch (error) {
      if (signal?.aborted || closed) return;
      throw translateError(error, {});
    } finally {
      signal?.removeEventListener('abort', stop);
      stop();
    }
    if (signal?.aborted || closed) return;
    // The server ended a live subscription: say so rather than look like a finished stream.
    throw new AppError('SERVICE_UNAVAILABLE', 'KurrentDB ended the $all subscription');
  }

  const store: EventStore = {
    kind: 'kurrentdb',

    async appendToStream(streamName, events, appendOptions = {}) {
      const expected = appendOptions.expectedRevision ?? 'any';
      if (events.length === 0 && !appendOptions.close && !(appendOptions.guards?.length)) return emptyAppend(streamName, expected);
      const [result] = await appendParts([{ streamName, events, ...appendOptions }]);
      return result!;
    },

    appendMulti: (parts) => appendParts(parts),

    async readStream(streamName, readOptions = {}) {
      return readStreamEvents(streamName, readOptions);
    },

    async readAll(readOptions: ReadAllOptions = {}) {
      const after = readOptions.after ?? 0n;
      const limit = readOptions.maxCount ?? defaultReadAllCount;
      const events: RecordedEvent[] = [];
      if (limit <= 0) return events;
      try {
        await refreshTombstones();
        // $all holds system events and tombstoned streams' events, which we skip, so maxCount is counted here.
        await forEachForwards(after > 0n ? { commit: after, prepare: after } : undefined, undefined, (resolved, position) => {
          if (position.commit <= after) return true;
          const recorded = toRecordedFromAll(resolved);
          if (recorded && isVisible(recorded)) events.push(recorded);
          return events.length < limit;
        });
      } catch (error) {
        throw translateError(error, {});
      }
      return events;
    },

    async headPosition() {
      let seen: Position | undefined;
      try {
        await refreshTombstones();
        for (;;) {
          const fromPosition: ReadPosition = seen ?? END;
          let raw = 0;
          let progressed = false;
          for await (const resolved of client.readAll({ direction: BACKWARDS, fromPosition, maxCount: allPageSize })) {
            raw += 1;
            const position = positionOf(resolved);
            if (!position || (seen && comparePositions(position, seen) >= 0)) continue;
            seen = position;
            progressed = true;
            if (resolved.event && isUserEvent(resolved.event) && !tombstoned.has(resolved.event.streamId)) return position.commit;
          }
          if (raw < allPageSize || !progressed) return 0n;
        }
      } catch (error) {
        throw translateError(error, {});
      }
    },

    subscribeToAll(subscribeOptions: SubscribeOptions = {}) {
      return subscribe(subscribeOptions);
    },

    onAppend(listener) {
      if (closed) return () => {};
      const entry = { listener };
      appendListeners.add(entry);
      stopLive ??= startLiveSubscription();
      return () => {
        if (!appendListeners.delete(entry) || appendListeners.size > 0) return;
        stopLive?.();
        stopLive = undefined;
      };
    },

    async deleteStream(streamName, deleteOptions) {
      const expected = deleteOptions?.expectedRevision ?? 'any';
      let state: StreamState;
      if (expected === 'stream_exists') {
        // tombstoneStream has no STREAM_EXISTS; a stream cannot stop existing except by deletion,
        // which the tombstone itself reports, so checking first and then deleting with ANY is sound.
        if ((await lastRevisionOf(streamName)) === undefined) throw wrongRevision(streamName, expected, undefined);
        state = ANY;
      } else {
        state = expected === 'any' ? ANY : expected === 'no_stream' ? NO_STREAM : expected;
      }
      try {
        await client.tombstoneStream(streamName, { expectedRevision: state });
      } catch (error) {
        throw translateError(error, { streamName, expected });
      }
      tombstoned.add(streamName);
    },

    async ping() {
      try {
        for await (const _ of client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 })) break;
      } catch (error) {
        throw translateError(error, {});
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      appendListeners.clear();
      stopLive?.();
      stopLive = undefined;
      for (const subscription of [...openSubscriptions]) releaseSubscription(subscription);
      await client.dispose();
    },
  };

  return store;
}

/** Marker streams of closed streams (see appendParts); never read as domain streams. */
const closurePrefix = 'closure-';
function closureStream(streamName: string): string {
  return `${closurePrefix}${streamName}`;
}

function toEventData(event: NewEvent): EventData {
  return jsonEvent({
    id: event.id,
    type: event.type,
    // The client JSON.stringifies data; undefined would not survive that.
    data: (event.data === undefined ? null : event.data) as JSONType,
    metadata: event.metadata,
  });
}

function toAppendState(expected: ExpectedRevision): AppendStreamState {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      return expected;
  }
}

function isUserEvent(event: Pick<ClientEvent, 'type' | 'streamId'>): boolean {
  return !event.type.startsWith('$') && !event.streamId.startsWith('$');
}

function positionOf(resolved: ClientResolved): Position | undefined {
  const position = resolved.event?.position;
  if (position && position.commit >= 0n && position.commit !== unknownPosition) return position;
  const commit = resolved.commitPosition;
  if (commit !== undefined && commit >= 0n && commit !== unknownPosition) return { commit, prepare: commit };
  return undefined;
}

function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

/** Maps a stream-read event; a server that reports no $all position for it yields position 0n. */
function toRecorded(resolved: ClientResolved): (RecordedEvent & { position: bigint }) | undefined {
  const event = resolved.event;
  if (!event) return undefined;
  return mapEvent(event, positionOf(resolved)?.commit ?? 0n);
}

/** Maps an $all event, or undefined for system events and events without a position. */
function toRecordedFromAll(resolved: ClientResolved): RecordedEvent | undefined {
  const event = resolved.event;
  const position = positionOf(resolved);
  if (!event || !position || !isUserEvent(event)) return undefined;
  return mapEvent(event, position.commit);
}

function mapEvent(event: ClientEvent, position: bigint): RecordedEvent & { position: bigint } {
  return {
    id: event.id,
    type: event.type,
    data: event.data,
    metadata: toMetadata(event.metadata, event.created),
    streamName: event.streamId,
    revision: event.revision,
    position,
    recordedAt: event.created,
  };
}

function toMetadata(metadata: unknown, created: Date): EventMetadata {
  if (typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) && !(metadata instanceof Uint8Array)) {
    return metadata as EventMetadata;
  }
  // Only events written by other tools lack our metadata object.
  return { occurredAt: created.toISOString(), schemaVersion: 0 };
}

function revisionMatches(expected: ExpectedRevision, current: bigint | undefined): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return current === undefined;
  if (expected === 'stream_exists') return current !== undefined;
  return current === expected;
}

function expectedText(expected: ExpectedRevision): string {
  return String(expected);
}

function wrongRevision(streamName: string, expected: ExpectedRevision, actual: bigint | undefined, cause?: unknown): AppError {
  return new AppError(
    'WRONG_EXPECTED_REVISION',
    `stream ${streamName} is at revision ${actual ?? 'none'}, expected ${expectedText(expected)}`,
    { streamName, expected: expectedText(expected), actual: (actual ?? -1n).toString() },
    cause === undefined ? undefined : { cause },
  );
}

function streamDeleted(streamName: string, cause?: unknown): AppError {
  return new AppError('STREAM_DELETED', `stream ${streamName} is deleted`, { streamName }, cause === undefined ? undefined : { cause });
}

function isVendorError(error: unknown, type: ErrorType): boolean {
  return error instanceof Error && isCommandError(error) && error.type === type;
}

/** Translates the client's errors into ours; no KurrentDB error type leaves this module. */
function translateError(raw: unknown, context: { streamName?: string; expected?: ExpectedRevision }): AppError {
  if (raw instanceof AppError) return raw;
  // Some paths reject with a bare gRPC ServiceError (e.g. no connection); give it its command error type.
  const error = raw instanceof Error ? convertToCommandError(raw) : raw;
  const streamName = context.streamName ?? '';
  if (error instanceof Error && isCommandError(error)) {
    switch (error.type) {
      case ErrorType.WRONG_EXPECTED_VERSION: {
        const actual = typeof error.actualState === 'bigint' && error.actualState >= 0n ? error.actualState : undefined;
        return wrongRevision(context.streamName ?? error.streamName, context.expected ?? 'any', actual, error);
      }
      case ErrorType.STREAM_DELETED:
        return streamDeleted(context.streamName ?? error.streamName, error);
      case ErrorType.STREAM_TOMBSTONED:
        return streamDeleted(context.streamName ?? error.stream, error);
      case ErrorType.UNAVAILABLE:
      case ErrorType.NOT_LEADER:
      case ErrorType.CANCELLED:
        return new AppError('SERVICE_UNAVAILABLE', `KurrentDB is unavailable: ${error.message}`, {}, { cause: error });
      case ErrorType.DEADLINE_EXCEEDED:
      case ErrorType.TIMEOUT:
        return new AppError('TIMEOUT', `KurrentDB did not answer in time: ${error.message}`, {}, { cause: error });
      case ErrorType.INVALID_ARGUMENT:
        return new AppError('VALIDATION_ERROR', error.message, streamName ? { streamName } : {}, { cause: error });
      default:
        break;
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return new AppError('INTERNAL_ERROR', `KurrentDB call failed: ${message}`, streamName ? { streamName } : {}, { cause: error });
}
