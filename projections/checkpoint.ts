import { sql, type Kysely } from 'kysely';
import type { Projection } from './projection.ts';
import { inTransaction } from '../src/database/transactions.ts';

/** Creates a projection's schema with its tables and a checkpoint at 0; indexes too unless told not to (a rebuild adds them at the end). */
export async function createProjectionSchema(db: Kysely<any>, projection: Projection, schema: string, options: { indexes: boolean } = { indexes: true }): Promise<void> {
  await inTransaction(db, async (trx) => {
    await sql`create schema ${sql.id(schema)}`.execute(trx);
    await sql`
      create table ${sql.id(schema, 'checkpoint')} (
        id int primary key default 1 check (id = 1),
        position bigint not null,
        version int not null,
        updated_at timestamptz not null default now()
      )`.execute(trx);
    await sql`insert into ${sql.id(schema, 'checkpoint')} (position, version) values (0, ${projection.version})`.execute(trx);
    await projection.createTables(trx.withSchema(schema));
    if (options.indexes) await projection.createIndexes?.(trx.withSchema(schema));
  });
}

export async function schemaExists(db: Kysely<any>, schema: string): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`select exists (select 1 from pg_namespace where nspname = ${schema}) as found`.execute(db);
  return rows[0]?.found === true;
}

export interface StoredCheckpoint {
  readonly position: bigint;
  readonly version: number;
  readonly updatedAt: Date;
}

/** Reads the checkpoint; with `forUpdate` it also locks it for the rest of the transaction. */
export async function readCheckpoint(db: Kysely<any>, schema: string, forUpdate = false): Promise<StoredCheckpoint> {
  const lock = forUpdate ? sql`for update` : sql``;
  const { rows } = await sql<{ position: string; version: number; updated_at: Date | string }>`
    select position::text as position, version, updated_at from ${sql.id(schema, 'checkpoint')} where id = 1 ${lock}`.execute(db);
  const row = rows[0];
  if (!row) throw new Error(`projection schema ${schema} has no checkpoint row`);
  return { position: BigInt(row.position), version: row.version, updatedAt: new Date(row.updated_at) };
}

export async function writeCheckpoint(db: Kysely<any>, schema: string, position: bigint): Promise<void> {
  await sql`update ${sql.id(schema, 'checkpoint')} set position = ${position.toString()}::bigint, updated_at = now() where id = 1`.execute(db);
}
