import test from 'ava';
import { sql } from 'kysely';
import { inTransaction, ReentrantQueryError } from '../src/database/transactions.ts';
import { openTestDatabase, postgresUrl, type TestDatabase } from './support/databases.ts';

// Each kind of database the service runs on; PostgreSQL only where DATABASE_URL is set.
const kinds = ['pglite', 'postgres'] as const;

for (const kind of kinds) {
  const maybe = kind === 'postgres' && !postgresUrl ? test.skip : test.serial;
  let opened: TestDatabase | undefined;
  const database = async () => (opened ??= await openTestDatabase(kind));

  test.after.always(async () => {
    await opened?.dispose();
  });

  maybe(`${kind}: a query through the outer handle inside a transaction fails at once instead of deadlocking`, async (t) => {
    const { db } = (await database()).database;
    const error = await t.throwsAsync(
      inTransaction(db, async (trx) => {
        await sql`select 1`.execute(trx);
        // The mistake matcherFeed.load made: reading keys through `db` while `trx` holds the session.
        await sql`select 2`.execute(db);
      }),
    );
    t.true(error instanceof ReentrantQueryError);
    // The transaction was rolled back and the session released: the database still answers.
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db);
    t.is(rows[0]?.one, 1);
  });

  maybe(`${kind}: a transaction opened inside another on the same database is refused`, async (t) => {
    const { db } = (await database()).database;
    const error = await t.throwsAsync(inTransaction(db, async () => inTransaction(db, async (inner) => sql`select 1`.execute(inner))));
    t.true(error instanceof ReentrantQueryError);
  });

  maybe(`${kind}: a transaction begun outside inTransaction is refused, so none escapes the guard`, async (t) => {
    const { db } = (await database()).database;
    await t.throwsAsync(
      db.transaction().execute(async (trx) => sql`select 1`.execute(trx)),
      { message: /inTransaction/ },
    );
  });

  maybe(`${kind}: independent callers wait for the transaction and then run; queries after it in the same chain run too`, async (t) => {
    const { db } = (await database()).database;
    await sql`create table if not exists guard_probe (n int)`.execute(db);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const writer = inTransaction(db, async (trx) => {
      await sql`insert into guard_probe values (1)`.execute(trx);
      await held;
    });
    // Not in the transaction's call chain: it waits (PGlite) or runs beside it (PostgreSQL).
    const reader = sql<{ n: string }>`select count(*)::text as n from guard_probe`.execute(db);
    release();
    await writer;
    await reader;
    const after = await sql<{ n: string }>`select count(*)::text as n from guard_probe`.execute(db);
    t.is(after.rows[0]?.n, '1');
  });
}
