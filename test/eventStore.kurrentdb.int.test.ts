import test from 'ava';
import { createKurrentDbEventStore } from '../src/eventStore/kurrentdb/kurrentDbEventStore.ts';
import { eventStoreContract } from './support/eventStoreContract.ts';

// KurrentDB runs only where KURRENTDB_URL points at a server (docker compose up kurrentdb);
// elsewhere the whole suite is reported as skipped, never as passed.
const url = process.env.KURRENTDB_URL;

eventStoreContract(
  test,
  'KurrentDB',
  async () => {
    const store = createKurrentDbEventStore({ connectionString: url ?? 'kurrentdb://127.0.0.1:2113?tls=false' });
    return { store, dispose: () => store.close() };
  },
  url !== undefined && url !== '',
);
