import { sql, type Kysely } from 'kysely';
import type { StreamAppend } from '../eventStore.ts';

/** What the database said of one part of a unit: stored, or the code that refused the unit. */
export type PartOutcome =
  | { readonly ok: true; readonly nextRevision: bigint; readonly position: bigint | null }
  | { readonly ok: false; readonly code: string; readonly partIndex: number; readonly detail: string | null };

interface Pending {
  readonly parts: readonly StreamAppend[];
  readonly resolve: (outcomes: PartOutcome[]) => void;
  readonly reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  /** Called after a batch that stored events has committed. */
  readonly onCommitted?: () => void;
  /** Called after every batch (committed or refused) with its size and round trip, for metrics. */
  readonly onBatch?: (units: number, seconds: number) => void;
  /**
   * Batches in flight at once. One is best on PostgreSQL too (measured with bench/: overlapping
   * batches queue on the append lock and compete for the server's CPU, while one batch at a time
   * grows to whatever arrived meanwhile); PGlite has one session anyway.
   */
  readonly maxInFlight: number;
  /** Units per batch. */
  readonly maxUnits: number;
}

/**
 * Group commit: appends that arrive while batches are in flight wait, and go to the database
 * together in one `append_batch` call (one round trip, one transaction, one WAL flush). With
 * nothing in flight an append goes at once, so an idle service adds no latency. Each unit is
 * checked on its own inside the batch; a refused unit does not affect the others.
 */
export function createGroupCommit(db: Kysely<any>, options: GroupCommitOptions): { submit(parts: readonly StreamAppend[]): Promise<PartOutcome[]> } {
  const queue: Pending[] = [];
  let inFlight = 0;

  function pump(): void {
    while (inFlight < options.maxInFlight && queue.length > 0) {
      const batch = queue.splice(0, options.maxUnits);
      inFlight += 1;
      void flush(batch).finally(() => {
        inFlight -= 1;
        pump();
      });
    }
  }

  async function flush(batch: readonly Pending[]): Promise<void> {
    const units = batch.map((pending) => ({
      parts: pending.parts.map((part) => ({
        stream: part.streamName,
        expected: expectedText(part.expectedRevision),
        ...(part.close ? { close: true } : {}),
        ...(part.guards && part.guards.length > 0 ? { guards: part.guards } : {}),
        events: part.events.map((event) => ({ id: event.id, type: event.type, data: event.data === undefined ? null : event.data, metadata: event.metadata })),
      })),
    }));
    const started = process.hrtime.bigint();
    let rows: Array<{ unit_index: number; part_index: number; outcome: string; next_revision: string | null; last_position: string | null; detail: string | null }>;
    try {
      ({ rows } = await sql<(typeof rows)[number]>`
        select unit_index, part_index, outcome, next_revision::text as next_revision, last_position::text as last_position, detail
        from eventstore.append_batch(${JSON.stringify(units)}::jsonb)`.execute(db));
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    } finally {
      options.onBatch?.(batch.length, Number(process.hrtime.bigint() - started) / 1e9);
    }
    const byUnit = new Map<number, PartOutcome[]>();
    for (const row of rows) {
      const outcomes = byUnit.get(row.unit_index) ?? [];
      outcomes.push(
        row.outcome === 'ok'
          ? { ok: true, nextRevision: BigInt(row.next_revision ?? '-1'), position: row.last_position === null ? null : BigInt(row.last_position) }
          : { ok: false, code: row.outcome, partIndex: row.part_index, detail: row.detail },
      );
      byUnit.set(row.unit_index, outcomes);
    }
    if (rows.some((row) => row.outcome === 'ok' && row.last_position !== null)) options.onCommitted?.();
    batch.forEach((pending, index) => {
      const outcomes = byUnit.get(index);
      if (outcomes) pending.resolve(outcomes);
      else pending.reject(new Error(`append_batch returned nothing for unit ${index}`));
    });
  }

  return {
    submit(parts) {
      return new Promise<PartOutcome[]>((resolve, reject) => {
        queue.push({ parts, resolve, reject });
        pump();
      });
    },
  };
}

function expectedText(expected: StreamAppend['expectedRevision']): string {
  return expected === undefined ? 'any' : typeof expected === 'bigint' ? expected.toString() : expected;
}
