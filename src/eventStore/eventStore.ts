/**
 * The event store port. Every adapter (PostgreSQL, embedded PGlite, KurrentDB) implements it and
 * passes the one contract suite in test/eventStore.contract.ts.
 */

/** What the writer expects the stream's current revision to be. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | bigint;

/** Metadata carried by every event. Nothing personal goes here. */
export interface EventMetadata {
  readonly occurredAt: string;
  readonly schemaVersion: number;
  readonly tenantId?: string;
  readonly mode?: 'live' | 'test';
  readonly actorKeyId?: string;
  readonly requestId?: string;
  readonly [extra: string]: unknown;
}

/** An event to append. `id` is a uuid and makes appends idempotent. */
export interface NewEvent<TData = unknown> {
  readonly id: string;
  readonly type: string;
  readonly data: TData;
  readonly metadata: EventMetadata;
}

/** An event as stored: its stream, per-stream revision (from 0) and global position (from 1). */
export interface RecordedEvent<TData = unknown> extends NewEvent<TData> {
  readonly streamName: string;
  readonly revision: bigint;
  readonly position: bigint;
  readonly recordedAt: Date;
}

/** How an append is checked. */
export interface AppendOptions {
  /** The revision the stream must be at; default `any`. */
  readonly expectedRevision?: ExpectedRevision;
  /**
   * Streams that must not be closed, checked atomically with the append (e.g. a user's stream
   * for a sign-in appended elsewhere): if one is, the append fails with `STREAM_CLOSED`.
   */
  readonly guards?: readonly string[];
  /**
   * This append closes the stream: afterwards no event is accepted on it, nor on any stream that
   * names it as a guard (`STREAM_CLOSED`). It still reads as before.
   */
  readonly close?: boolean;
}

/** One stream's part of an atomic multi-stream append. */
export interface StreamAppend extends AppendOptions {
  readonly streamName: string;
  readonly events: readonly NewEvent[];
}

export interface AppendResult {
  /** Revision of the last event now in the stream. */
  readonly nextExpectedRevision: bigint;
  /** Global position of the last event appended (or found, for an idempotent retry). */
  readonly position: bigint;
}

export interface ReadStreamOptions {
  readonly direction?: 'forwards' | 'backwards';
  /** Inclusive start revision; the default is the first (forwards) or last (backwards) event. */
  readonly fromRevision?: bigint;
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  /** Exclusive: only events with a position greater than this. Default 0n (from the start). */
  readonly after?: bigint;
  readonly maxCount?: number;
}

export interface SubscribeOptions {
  readonly after?: bigint;
  readonly signal?: AbortSignal;
}

export interface EventStore {
  /** Which adapter this is, for logs and status. */
  readonly kind: 'postgres' | 'pglite' | 'kurrentdb';
  /**
   * Appends events atomically. Throws an error with code `WRONG_EXPECTED_REVISION` (with the
   * actual revision in details), `STREAM_DELETED` or `STREAM_CLOSED`. Re-appending events whose
   * ids are already stored returns the original result and stores nothing. Appends that arrive
   * while others are in flight are committed together (group commit), each checked on its own.
   */
  appendToStream(streamName: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  /**
   * Appends to several streams in one atomic step: every part is checked (expected revision,
   * guards, closure) and either all are stored or none is. Events are stored in the order of the
   * parts (their positions increase with it), and results are in that order.
   * A part with no events only checks its expectations.
   */
  appendMulti(parts: readonly StreamAppend[]): Promise<AppendResult[]>;
  /** Reads a stream. A stream that never existed reads as empty; a deleted one throws `STREAM_DELETED`. */
  readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** Reads every stream in global order; never skips an event that commits later with a lower position. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /**
   * Position of the last committed event in global order, 0n when the store is empty: an
   * acknowledged append is within it at once, even before readAll may show it (readAll waits for
   * any lower position still committing).
   */
  headPosition(): Promise<bigint>;
  /** Catches up from `after`, then yields live events until the signal aborts. */
  subscribeToAll(options?: SubscribeOptions): AsyncIterable<RecordedEvent>;
  /** Calls `listener` soon after any append commits (best effort, a hint to read again). */
  onAppend(listener: () => void): () => void;
  /** Deletes a stream for good (tombstone): reads throw `STREAM_DELETED`, appends are refused. */
  deleteStream(streamName: string, options?: { expectedRevision?: ExpectedRevision }): Promise<void>;
  /** Checks the store answers. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
