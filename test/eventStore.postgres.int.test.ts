import test from 'ava';
import { createPostgresEventStore } from '../src/eventStore/postgres/postgresEventStore.ts';
import { openTestDatabase, postgresUrl } from './support/databases.ts';
import { eventStoreContract } from './support/eventStoreContract.ts';

const factory = (kind: 'postgres' | 'pglite') => async () => {
  const testDb = await openTestDatabase(kind);
  const store = await createPostgresEventStore(testDb.database, { pollIntervalMs: 200 });
  return {
    store,
    async dispose() {
      await store.close();
      await testDb.dispose();
    },
  };
};

eventStoreContract(test, 'embedded PGlite', factory('pglite'));
// Real PostgreSQL runs wherever DATABASE_URL is set (CI sets it); elsewhere it shows as skipped.
eventStoreContract(test, 'PostgreSQL', factory('postgres'), postgresUrl !== undefined);
