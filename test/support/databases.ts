import { randomBytes } from 'node:crypto';
import pg from 'pg';
import fs from 'node:fs/promises';
import { openDatabase, type Database } from '../../src/database/database.ts';
import { embeddedDatabaseCopy } from './pgliteTemplate.ts';

/** Real PostgreSQL when DATABASE_URL is set, PGlite otherwise. */
export const postgresUrl = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== '' ? process.env.DATABASE_URL : undefined;

export interface TestDatabase {
  readonly database: Database;
  /** Connection string of the fresh database, when it is PostgreSQL. */
  readonly url?: string;
  /** Closes and drops it. */
  dispose(): Promise<void>;
}

/** A fresh, empty PostgreSQL database on the DATABASE_URL server, dropped on dispose. */
export async function freshPostgres(): Promise<{ url: string; drop(): Promise<void> }> {
  if (!postgresUrl) throw new Error('DATABASE_URL is not set');
  const name = `fs_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}

/** Opens a fresh database of the given kind (default: PostgreSQL if DATABASE_URL is set, else PGlite). */
export async function openTestDatabase(kind: 'postgres' | 'pglite' = postgresUrl ? 'postgres' : 'pglite', pgliteDir?: string): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const dir = pgliteDir ?? (await embeddedDatabaseCopy());
    const database = await openDatabase({ kind: 'pglite', dir });
    return {
      database,
      async dispose() {
        await database.close();
        if (pgliteDir === undefined) await fs.rm(dir, { recursive: true, force: true });
      },
    };
  }
  const fresh = await freshPostgres();
  const database = await openDatabase({ kind: 'postgres', url: fresh.url, poolSize: 12 });
  return {
    database,
    url: fresh.url,
    async dispose() {
      await database.close();
      await fresh.drop();
    },
  };
}
