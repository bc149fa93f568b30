import type { Logger } from 'pino';
import { hasCode } from '../errors/appError.ts';
import { loadStream, retryOnConflict, type StreamDecider } from '../eventStore/commandHandler.ts';
import type { EventStore, RecordedEvent } from '../eventStore/eventStore.ts';
import type { IdGenerator } from '../ids/ids.ts';
import { migrationsStream } from '../ids/streams.ts';

/** The migration's name in the migrations stream. */
export const snapshotLegacyStreamsName = '2026-12-split-high-volume-streams';

export interface LegacyStreamsReport {
  /** False when an earlier run had completed it: nothing was read. */
  readonly ran: boolean;
  /** Streams that held events of the kinds that now have streams of their own. */
  readonly legacyStreams: number;
  /** Of those, streams that got a snapshot now (the others had one already). */
  readonly snapshotted: number;
  /** Streams of users erased by older versions, closed now (the store refuses any later event of them). */
  readonly closed: number;
  /** The store's head when the migration started: every legacy event is below it. */
  readonly upTo: string;
}

/**
 * One-off rewrite, as events, of what older versions left: they appended every sign-in attempt
 * to the user's stream and every identify miss to the tenant's, so commands on those streams
 * read their whole history. Each such stream gets a snapshot of its aggregate at its current
 * revision (its next command reads from there), and the migrations stream records that it ran,
 * so later starts skip it. Streams of users erased by those versions are closed, as erasure
 * closes them now. Newer code never writes such events there, so the store's head when
 * it starts bounds the scan. Safe to run on several instances at once: snapshots are appended at
 * the revision read (a racing command wins, and the stream is loaded again), and a stream that
 * already got one is skipped.
 */
export async function snapshotLegacyStreams(deps: {
  readonly store: EventStore;
  readonly ids: IdGenerator;
  readonly clock: () => Date;
  readonly logger: Logger;
  /** The aggregates, by stream-name prefix, and which of their events belong elsewhere now. */
  readonly aggregates: ReadonlyArray<{
    readonly prefix: string;
    readonly legacyType: string;
    /** The event that, since this version, closes the stream when appended (UserErased). */
    readonly closingType?: string;
    readonly decider: StreamDecider<unknown, { type: string; data: unknown }>;
  }>;
}): Promise<LegacyStreamsReport> {
  const { store, ids, clock } = deps;
  const history = await store.readStream(migrationsStream);
  if (history.some((event) => event.type === 'MigrationCompleted' && (event.data as { name?: unknown }).name === snapshotLegacyStreamsName)) {
    return { ran: false, legacyStreams: 0, snapshotted: 0, closed: 0, upTo: '0' };
  }
  const upTo = await store.headPosition();
  const legacy = new Map<string, (typeof deps.aggregates)[number]>();
  const toClose = new Set<string>();
  for (let after = 0n; after < upTo; ) {
    const page = await store.readAll({ after, maxCount: 5000 });
    if (page.length === 0) break;
    for (const event of page) {
      const aggregate = deps.aggregates.find((a) => event.streamName.startsWith(a.prefix) && event.type === a.legacyType);
      if (aggregate) legacy.set(event.streamName, aggregate);
      if (deps.aggregates.some((a) => event.streamName.startsWith(a.prefix) && a.closingType === event.type)) toClose.add(event.streamName);
    }
    after = page.at(-1)!.position;
  }
  let snapshotted = 0;
  for (const [streamName, aggregate] of legacy) {
    if (toClose.has(streamName)) continue;
    if (await snapshotIfNeeded(store, streamName, aggregate, ids, clock)) snapshotted += 1;
  }
  let closed = 0;
  for (const streamName of toClose) {
    try {
      await store.appendToStream(streamName, [], { close: true });
      closed += 1;
    } catch (error) {
      // Closed already (by this version's erasure, or an earlier run that stopped midway).
      if (!hasCode(error, 'STREAM_CLOSED')) throw error;
    }
  }
  await store.appendToStream(migrationsStream, [
    {
      id: ids.uuid(),
      type: 'MigrationCompleted',
      data: { name: snapshotLegacyStreamsName, upTo: upTo.toString(), legacyStreams: legacy.size, snapshotted, closed },
      metadata: { occurredAt: clock().toISOString(), schemaVersion: 1, requestId: 'migration' },
    },
  ]);
  const report = { ran: true, legacyStreams: legacy.size, snapshotted, closed, upTo: upTo.toString() };
  deps.logger.info(report, 'migrated legacy streams');
  return report;
}

async function snapshotIfNeeded(
  store: EventStore,
  streamName: string,
  aggregate: { readonly legacyType: string; readonly decider: StreamDecider<unknown, { type: string; data: unknown }> },
  ids: IdGenerator,
  clock: () => Date,
): Promise<boolean> {
  const snapshot = aggregate.decider.snapshot!;
  return retryOnConflict(async () => {
    const loaded = await loadStream(store, streamName, aggregate.decider);
    // Legacy events after the latest snapshot (or with none) are what a load would read again.
    if (!loaded.history.some((event: RecordedEvent) => event.type === aggregate.legacyType)) return false;
    const last = loaded.history.at(-1)!;
    await store.appendToStream(
      streamName,
      [
        {
          id: ids.uuid(),
          type: snapshot.type,
          data: { state: snapshot.toData(loaded.state) },
          metadata: {
            occurredAt: clock().toISOString(),
            schemaVersion: 1,
            ...(last.metadata.tenantId !== undefined ? { tenantId: last.metadata.tenantId } : {}),
            ...(last.metadata.mode !== undefined ? { mode: last.metadata.mode } : {}),
            requestId: 'migration',
          },
        },
      ],
      { expectedRevision: loaded.revision ?? 'no_stream' },
    );
    return true;
  }, streamName);
}
