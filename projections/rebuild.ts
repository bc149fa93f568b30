import { sql, type Kysely } from 'kysely';
import type { EventStore } from '../src/eventStore/eventStore.ts';
import { applyBatch } from './applyBatch.ts';
import { createProjectionSchema, schemaExists } from './checkpoint.ts';
import { liveSchema, type Projection } from './projection.ts';
import type { ProgressReporter } from './progress.ts';
import { inTransaction } from '../src/database/transactions.ts';

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
  const [result] = await rebuildProjections(db, store, [projection], options);
  return result!;
}

/**
 * Rebuilds several projections in one pass over the store: each batch is read once (the next one
 * is read while this one is applied) and applied to every projection's fresh schema. Secondary
 * indexes are built after the replay, when building them in one go is cheaper than maintaining them.
 */
export async function rebuildProjections(db: Kysely<any>, store: EventStore, projections: readonly Projection[], options: RebuildOptions = {}): Promise<RebuildResult[]> {
  const started = Date.now();
  const batchSize = options.batchSize ?? 5000;
  const targets = projections.map((projection) => ({ projection, live: liveSchema(projection), next: `${liveSchema(projection)}__rebuild` }));
  const dropAll = async () => {
    for (const target of targets) await sql`drop schema if exists ${sql.id(target.next)} cascade`.execute(db);
  };
  await dropAll();
  for (const target of targets) await createProjectionSchema(db, target.projection, target.next, { indexes: false });

  const head = await store.headPosition();
  let checkpoint = 0n;
  let events = 0;
  let pending = store.readAll({ after: checkpoint, maxCount: batchSize });
  for (;;) {
    if (options.signal?.aborted) {
      await pending.catch(() => []);
      await dropAll();
      throw new Error(`rebuild of ${projections.map((p) => p.name).join(', ')} aborted`);
    }
    const batch = await pending;
    if (batch.length === 0) break;
    const last = batch.at(-1)!.position;
    const more = batch.length === batchSize;
    pending = more ? store.readAll({ after: last, maxCount: batchSize }) : Promise.resolve([]);
    for (const target of targets) {
      const outcome = await applyBatch(db, target.projection, target.next, checkpoint, batch);
      if (!outcome.applied) {
        await pending.catch(() => []);
        throw new Error(`rebuild schema ${target.next} was changed by someone else`);
      }
    }
    checkpoint = last;
    events += batch.length;
    options.progress?.update(events, head > 0n ? Number(checkpoint) / Number(head > checkpoint ? head : checkpoint) : 1);
    if (!more) break;
  }

  for (const target of targets) await target.projection.createIndexes?.(db.withSchema(target.next));
  for (const target of targets) await swapIn(db, target.live, target.next);
  options.progress?.finish(events);
  const durationMs = Date.now() - started;
  return targets.map((target) => ({ projection: target.projection.name, events, position: checkpoint, durationMs }));
}

/**
 * Swaps the rebuilt schema in. The exclusive lock on the live checkpoint waits for the live
 * runner's batch in flight and holds off the next; that runner's blocked statement then resolves
 * the checkpoint's name again and finds the new table (PostgreSQL re-looks-up a relation name
 * after waiting for a lock on it).
 */
async function swapIn(db: Kysely<any>, live: string, next: string): Promise<void> {
  const old = `${live}__old`;
  await inTransaction(db, async (trx) => {
    if (await schemaExists(trx, live)) {
      await sql`lock table ${sql.id(live, 'checkpoint')} in access exclusive mode`.execute(trx);
      await sql`drop schema if exists ${sql.id(old)} cascade`.execute(trx);
      await sql`alter schema ${sql.id(live)} rename to ${sql.id(old)}`.execute(trx);
    }
    await sql`alter schema ${sql.id(next)} rename to ${sql.id(live)}`.execute(trx);
    await sql`drop schema if exists ${sql.id(old)} cascade`.execute(trx);
  });
}
