import { Migrator, type Kysely, type Migration } from 'kysely';
import { inTransactionScope } from './transactions.ts';

/**
 * Runs one module's migrations to the latest version. Each module (event store, crypto,
 * projections) keeps its own migration table so modules migrate independently.
 */
export async function migrateToLatest(db: Kysely<any>, tableName: string, migrations: Record<string, Migration>): Promise<void> {
  const migrator = new Migrator({
    db,
    migrationTableName: tableName,
    migrationLockTableName: `${tableName}_lock`,
    provider: { getMigrations: async () => migrations },
  });
  // The Migrator opens its own transaction; the scope lets the guarded driver allow it.
  const { error, results } = await inTransactionScope(() => migrator.migrateToLatest());
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} of ${tableName} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
