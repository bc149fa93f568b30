import fs from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql, type LogEvent } from 'kysely';
import pg from 'pg';
import { pgliteDialect } from './pgliteDialect.ts';
import { guardedDialect } from './transactions.ts';

// int8 and numeric arrive as strings from pg; we convert where we read them (BigInt), never to a
// float, so positions beyond 2^53 stay exact.

/** A connection to PostgreSQL or to the embedded PGlite, as one shape. */
export interface Database {
  readonly kind: 'postgres' | 'pglite';
  /** Kysely over the database. Tables are typed per module; here the schema is open. */
  readonly db: Kysely<any>;
  /** LISTENs on a channel; resolves to an unsubscribe function. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** Statements sent so far and their total time (for metrics: round trips are the write path's cost). */
  queryStats(): { readonly queries: number; readonly errors: number; readonly totalMs: number };
  close(): Promise<void>;
}

/** Counts every statement Kysely runs: a kysely `log` hook. */
function createQueryCounter() {
  const stats = { queries: 0, errors: 0, totalMs: 0 };
  return {
    log: (event: LogEvent) => {
      stats.queries += 1;
      stats.totalMs += event.queryDurationMillis;
      if (event.level === 'error') stats.errors += 1;
    },
    queryStats: () => ({ ...stats }),
  };
}

export type DatabaseOptions =
  | { readonly kind: 'postgres'; readonly url: string; readonly poolSize?: number; readonly applicationName?: string }
  | { readonly kind: 'pglite'; readonly dir?: string };

/** Opens the database the configuration names. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.kind === 'postgres' ? openPostgres(options) : openPglite(options.dir);
}

async function openPostgres(options: { url: string; poolSize?: number; applicationName?: string }): Promise<Database> {
  const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 16, application_name: options.applicationName ?? 'facesmash' });
  // An idle client that loses its server must not take the process down.
  pool.on('error', () => {});
  const counter = createQueryCounter();
  const db = new Kysely<any>({ dialect: guardedDialect(new PostgresDialect({ pool })), log: counter.log });
  await sql`select 1`.execute(db);
  const listeners = new Map<string, Set<(payload: string) => void>>();
  let listenClient: pg.Client | undefined;
  let closed = false;

  async function connectListener(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: options.url, application_name: `${options.applicationName ?? 'facesmash'}-listen` });
    client.on('notification', (message) => {
      for (const fn of listeners.get(message.channel) ?? []) fn(message.payload ?? '');
    });
    client.on('error', () => {
      // Reconnect in the background; subscribers fall back to polling meanwhile.
      listenClient = undefined;
      void client.end().catch(() => {});
      if (!closed) setTimeout(() => void reconnect(), 1000).unref();
    });
    await client.connect();
    for (const channel of listeners.keys()) await client.query(`listen ${quoteIdent(channel)}`);
    return client;
  }

  async function reconnect(): Promise<void> {
    if (closed || listenClient) return;
    try {
      listenClient = await connectListener();
    } catch {
      if (!closed) setTimeout(() => void reconnect(), 1000).unref();
    }
  }

  return {
    kind: 'postgres',
    db,
    queryStats: counter.queryStats,
    async listen(channel, onNotify) {
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        if (listenClient) await listenClient.query(`listen ${quoteIdent(channel)}`);
      }
      set.add(onNotify);
      if (!listenClient) listenClient = await connectListener();
      return async () => {
        set.delete(onNotify);
      };
    },
    async close() {
      closed = true;
      const client = listenClient;
      listenClient = undefined;
      await client?.end().catch(() => {});
      await db.destroy();
    },
  };
}

async function openPglite(dir: string | undefined): Promise<Database> {
  if (dir !== undefined && !dir.startsWith('memory://')) await fs.mkdir(dir, { recursive: true });
  const pglite = dir !== undefined ? new PGlite(dir) : new PGlite();
  await pglite.waitReady;
  const counter = createQueryCounter();
  const db = new Kysely<any>({ dialect: guardedDialect(pgliteDialect(pglite)), log: counter.log });
  return {
    kind: 'pglite',
    db,
    queryStats: counter.queryStats,
    async listen(channel, onNotify) {
      const unsubscribe = await pglite.listen(channel, onNotify);
      return async () => {
        await unsubscribe();
      };
    },
    async close() {
      await db.destroy();
      await pglite.close();
    },
  };
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
