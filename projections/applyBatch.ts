import { sql, type Kysely } from 'kysely';
import type { RecordedEvent } from '../src/eventStore/eventStore.ts';
import { readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import { handledEvents, type Projection } from './projection.ts';
import { inTransaction } from '../src/database/transactions.ts';

export type BatchOutcome = { readonly applied: true; readonly position: bigint } | { readonly applied: false; readonly checkpoint: bigint };

/**
 * Applies a batch read after `expectedCheckpoint` in one transaction with the checkpoint move.
 * The checkpoint row is locked first; if someone else moved it meanwhile (another instance, or a
 * rebuild swapped the schema in), nothing is applied and the caller re-reads from the stored one.
 * That lock is what makes the effect exactly-once across crashes and concurrent runners.
 */
export async function applyBatch(
  db: Kysely<any>,
  projection: Projection,
  schema: string,
  expectedCheckpoint: bigint,
  events: readonly RecordedEvent[],
): Promise<BatchOutcome> {
  const last = events.at(-1);
  if (!last) return { applied: false, checkpoint: expectedCheckpoint };
  return inTransaction(db, async (trx) => {
    const stored = await readCheckpoint(trx, schema, true);
    if (stored.position !== expectedCheckpoint) return { applied: false as const, checkpoint: stored.position };
    const handled = handledEvents(projection, events);
    if (handled.length > 0) {
      // Raw SQL in a projection names its tables unqualified too: they resolve to this schema.
      await sql`select set_config('search_path', ${`${schema}, public`}, true)`.execute(trx);
      await projection.apply(trx.withSchema(schema), handled);
    }
    await writeCheckpoint(trx, schema, last.position);
    return { applied: true as const, position: last.position };
  });
}
