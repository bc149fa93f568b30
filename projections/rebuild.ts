import { sql, type Kysely } from 'kysely';
import type { EventStore } from '../src/eventStore/eventStore.ts';
import { applyBatch } from './applyBatch.ts';
import { createProjectionSchema, schemaExists } from './checkpoint.ts';
import { liveSchema, type Projection } from './projection.ts';
import type { ProgressReporter } from './progress.ts';

export interface RebuildResult {
  readonly projection: string;
  readonly events: number;
  readonly position: bigint;
  readonly durationMs: number;
}

export interface RebuildOptions {
  readonly batchSize?: number;
  readonly progress?: ProgressReporter;
  readonly signal?: AbortSignal;
}

/**
 * Replays every event from position 0 into a fresh schema beside the live one, then swaps it in
 * with one short transaction. The live tables keep serving (and the live runner keeps updating
 * them) until the swap; after it, the runner continues from the rebuilt checkpoint.
 */
export async function rebuildProjection(db: Kysely<any>, store: EventStore, projection: Projection, options: RebuildOptions = {}): Promise<RebuildResult> {
  const started = Date.now();
  const live = liveSchema(projection);
  const next = `${live}__rebuild`;
  const batchSize = options.batchSize ?? 5000;
  await sql`drop schema if exists ${sql.id(next)} cascade`.execute(db);
  await createProjectionSchema(db, projection, next);

  const head = await store.headPosition();
  let checkpoint = 0n;
  let events = 0;
  for (;;) {
    if (options.signal?.aborted) {
      await sql`drop schema if exists ${sql.id(next)} cascade`.execute(db);
      throw new Error(`rebuild of ${projection.name} aborted`);
    }
    const batch = await store.readAll({ after: checkpoint, maxCount: batchSize });
    if (batch.length === 0) break;
    const outcome = await applyBatch(db, projection, next, checkpoint, batch);
    if (!outcome.applied) throw new Error(`rebuild schema ${next} was changed by someone else`);
    checkpoint = outcome.position;
    events += batch.length;
    options.progress?.update(events, head > 0n ? Number(checkpoint) / Number(head > checkpoint ? head : checkpoint) : 1);
    if (batch.length < batchSize) break;
  }

  await swapIn(db, live, next);
  options.progress?.finish(events);
  return { projection: projection.name, events, position: checkpoint, durationMs: Date.now() - started };
}

/**
 * Swaps the rebuilt schema in. The exclusive lock on the live checkpoint waits for the live
 * runner's batch in flight and holds off the next; that runner's blocked statement then resolves
 * the checkpoint's name again and finds the new table (PostgreSQL re-looks-up a relation name
 * after waiting for a lock on it).
 */
async function swapIn(db: Kysely<any>, live: string, next: string): Promise<void> {
  const old = `${live}__old`;
  await db.transaction().execute(async (trx) => {
    if (await schemaExists(trx, live)) {
      await sql`lock table ${sql.id(live, 'checkpoint')} in access exclusive mode`.execute(trx);
      await sql`drop schema if exists ${sql.id(old)} cascade`.execute(trx);
      await sql`alter schema ${sql.id(live)} rename to ${sql.id(old)}`.execute(trx);
    }
    await sql`alter schema ${sql.id(next)} rename to ${sql.id(live)}`.execute(trx);
    await sql`drop schema if exists ${sql.id(old)} cascade`.execute(trx);
  });
}
