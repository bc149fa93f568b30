import { AsyncLocalStorage } from 'node:async_hooks';
import type { DatabaseConnection, Dialect, Driver, Kysely, TransactionSettings } from 'kysely';

/**
 * Transactions that cannot deadlock on their own database handle.
 *
 * The embedded PGlite has one session: while a transaction holds it, a query sent through the
 * outer handle (instead of the transaction's) waits for the session forever, because the
 * transaction is waiting for that query. On PostgreSQL the same mistake takes a second pool
 * connection, reads outside the transaction's snapshot, and deadlocks once the pool is exhausted.
 * So every transaction runs in a scope, and a guarded driver refuses, at once and loudly, any
 * connection asked for by code running inside a transaction on the same database.
 */
interface TransactionScope {
  /** Drivers whose connection a transaction of this async chain holds (outer scopes included). */
  readonly held: ReadonlySet<object>;
  /** The driver this scope's own transaction acquired, once it has. */
  owner: object | undefined;
}

const scopes = new AsyncLocalStorage<TransactionScope>();

/** What a re-entrant acquisition throws; a programming error, never a client's fault. */
export class ReentrantQueryError extends Error {
  readonly code = 'REENTRANT_QUERY';
  constructor() {
    super(
      'a query asked for a database connection while a transaction on the same database is open in this call chain: it would deadlock the embedded database; send it through the transaction handle',
    );
    this.name = 'ReentrantQueryError';
  }
}

/** Runs `callback` in one transaction of `db`; the only way this codebase opens one. */
export function inTransaction<DB, T>(db: Kysely<DB>, callback: (trx: Kysely<DB>) => Promise<T>, settings: Pick<TransactionSettings, 'isolationLevel'> = {}): Promise<T> {
  const parent = scopes.getStore();
  const held = new Set<object>(parent?.held ?? []);
  if (parent?.owner !== undefined) held.add(parent.owner);
  return scopes.run({ held, owner: undefined }, () => {
    const builder = settings.isolationLevel ? db.transaction().setIsolationLevel(settings.isolationLevel) : db.transaction();
    return builder.execute(callback);
  });
}

/** Runs `work` (e.g. kysely's Migrator, which opens its own transaction) as if it were `inTransaction`'s caller. */
export function inTransactionScope<T>(work: () => Promise<T>): Promise<T> {
  const parent = scopes.getStore();
  const held = new Set<object>(parent?.held ?? []);
  if (parent?.owner !== undefined) held.add(parent.owner);
  return scopes.run({ held, owner: undefined }, work);
}

/**
 * Wraps a dialect's driver so that, inside a transaction's call chain, asking the same database
 * for another connection throws ReentrantQueryError instead of waiting, and a transaction begun
 * outside `inTransaction` is refused (it could not be guarded).
 */
export function guardedDialect(inner: Dialect): Dialect {
  return {
    createAdapter: () => inner.createAdapter(),
    createDriver: () => new GuardedDriver(inner.createDriver()),
    createIntrospector: (db) => inner.createIntrospector(db),
    createQueryCompiler: () => inner.createQueryCompiler(),
  };
}

class GuardedDriver implements Driver {
  /** Connections acquired by a scope's own transaction, so release knows to end its hold. */
  private readonly scopeOf = new WeakMap<DatabaseConnection, TransactionScope>();

  constructor(private readonly inner: Driver) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const scope = scopes.getStore();
    if (scope?.held.has(this) || scope?.owner === this) throw new ReentrantQueryError();
    const connection = await this.inner.acquireConnection();
    // The first connection a fresh scope asks for is its transaction's own.
    if (scope !== undefined && scope.owner === undefined) {
      scope.owner = this;
      this.scopeOf.set(connection, scope);
    }
    return connection;
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    if (!this.scopeOf.has(connection)) {
      return Promise.reject(new Error('open transactions with inTransaction() (src/database/transactions.ts), so that re-entrant queries fail instead of deadlocking'));
    }
    return this.inner.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction(connection);
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const scope = this.scopeOf.get(connection);
    this.scopeOf.delete(connection);
    // Queries after the transaction, in the same call chain, may use the database again.
    if (scope !== undefined && scope.owner === this) scope.owner = undefined;
    await this.inner.releaseConnection(connection);
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}
