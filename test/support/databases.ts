import fs from 'node:fs/promises';
import { openDatabase, type Database } from '../../src/database/database.ts';
import { createScratchDatabase } from '../../src/database/scratchDatabase.ts';
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
  return createScratchDatabase(postgresUrl, 'fs_test');
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
