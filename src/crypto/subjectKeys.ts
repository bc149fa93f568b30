import { randomBytes, randomUUID } from 'node:crypto';
import { sql, type Kysely, type Migration } from 'kysely';
import { AppError } from '../errors/appError.ts';
import { migrateToLatest } from '../database/migrate.ts';
import { unwrapDataKey, wrapDataKey } from './dataKeys.ts';
import { inTransaction } from '../database/transactions.ts';

/** A subject's data key, unwrapped, in memory only. */
export interface DataKey {
  readonly subjectId: string;
  readonly keyId: string;
  readonly key: Buffer;
}

/**
 * Port: per-subject data keys, kept wrapped by the master key.
 *
 * A subject id `parent/kind/bucket` is a child of `parent` (e.g. a user's sign-ins of one month):
 * it cannot be created once the parent is destroyed, and destroying the parent destroys its
 * children too, so a child key can shorten how long data lives but never outlive its parent.
 */
export interface SubjectKeyStore {
  /** The subject's key, created on first use. Throws NOT_FOUND with `erased: true` if it was destroyed. */
  getOrCreate(subjectId: string): Promise<DataKey>;
  /** The key if it exists, `'erased'` if it was destroyed, undefined if the subject never had one. */
  find(subjectId: string): Promise<DataKey | 'erased' | undefined>;
  /**
   * Destroys the key for good. Returns the destroyed key's id and when it was destroyed (also when
   * an earlier call destroyed it: `alreadyDestroyed`), or undefined if the subject never had one.
   */
  destroy(subjectId: string): Promise<{ keyId: string; destroyedAt: Date; alreadyDestroyed: boolean } | undefined>;
  /**
   * Destroys the children `<parent>/<kind>/<bucket>` of these parents whose bucket sorts before
   * `bucketBefore` (retention: e.g. sign-in months older than the retention window). Returns how many.
   */
  destroyChildrenBefore(parentIds: readonly string[], kind: string, bucketBefore: string): Promise<number>;
  /**
   * The stored keys of many subjects, still wrapped, in one query, for bulk decryption elsewhere
   * (the matcher's load, on worker threads): open them with `unwrapSealedKeys`. `through` is the
   * transaction to read in, when the caller holds one (the embedded database has one session).
   */
  sealedKeys(subjectIds: readonly string[], through?: Kysely<any>): Promise<string>;
  /** Drops a cached key (another instance destroyed it). */
  forget(subjectId: string): void;
  /**
   * A fresh key for a gallery image (a sealed copy of the matcher's galleries, see
   * matching/galleryImage.ts), stored wrapped under the master key. Destroying any top-level
   * subject's key (an erasure) destroys every image key in the same transaction, so no image
   * outlives an erasure; `erased` lists every top-level subject whose key was destroyed before
   * this one was stored (under one lock, so an erasure is either in it or destroys this key):
   * the image must leave them out.
   */
  createImageKey(imageId: string): Promise<{ key: Buffer; erased: ReadonlySet<string> }>;
  /** An image's key; undefined when it was destroyed (an erasure since) or never stored here. */
  imageKey(imageId: string): Promise<Buffer | undefined>;
  /** Destroys one image's key (the image was replaced or rejected). */
  dropImageKey(imageId: string): Promise<void>;
}

const migrations: Record<string, Migration> = {
  '0001_subject_keys': {
    async up(db: Kysely<any>) {
      await sql`create schema if not exists crypto`.execute(db);
      await sql`
        create table crypto.subject_keys (
          subject_id text primary key,
          key_id text not null,
          wrapped_key bytea,
          created_at timestamptz not null default now(),
          destroyed_at timestamptz
        )`.execute(db);
    },
  },
  '0002_image_keys': {
    async up(db: Kysely<any>) {
      await sql`
        create table crypto.image_keys (
          image_id text primary key,
          wrapped_key bytea not null,
          created_at timestamptz not null default now()
        )`.execute(db);
      // One row every erasure and every new image key lock (see createImageKey).
      await sql`create table crypto.image_guard (id int primary key check (id = 1), erasures bigint not null)`.execute(db);
      await sql`insert into crypto.image_guard (id, erasures) values (1, 0)`.execute(db);
    },
  },
};

const imageSubject = (imageId: string) => `gallery-image/${imageId}`;
const IMAGE_KEY_ID = 'image';

interface KeyRow {
  key_id: string;
  wrapped_key: Uint8Array | null;
}

export interface SubjectKeyStoreOptions {
  /** How long an unwrapped key stays cached; bounds how long another instance's erasure can lag here. */
  readonly cacheTtlMs?: number;
  readonly cacheMaxEntries?: number;
  readonly now?: () => number;
}

/** The subject key store over PostgreSQL or PGlite (table crypto.subject_keys). */
export async function createSqlSubjectKeyStore(db: Kysely<any>, masterKey: Buffer, options: SubjectKeyStoreOptions = {}): Promise<SubjectKeyStore> {
  await migrateToLatest(db, 'crypto_migrations', migrations);
  const ttl = options.cacheTtlMs ?? 60_000;
  const maxEntries = options.cacheMaxEntries ?? 100_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { key: DataKey; expires: number }>();

  const forgetFamily = (subjectId: string) => {
    cache.delete(subjectId);
    for (const cached of [...cache.keys()]) if (cached.startsWith(`${subjectId}/`)) cache.delete(cached);
  };

  function remember(key: DataKey): DataKey {
    if (cache.size >= maxEntries) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(key.subjectId, { key, expires: now() + ttl });
    return key;
  }

  function unwrap(subjectId: string, row: KeyRow): DataKey | 'erased' {
    if (row.wrapped_key === null) return 'erased';
    return remember({ subjectId, keyId: row.key_id, key: unwrapDataKey(masterKey, subjectId, row.key_id, row.wrapped_key) });
  }

  async function load(subjectId: string): Promise<DataKey | 'erased' | undefined> {
    const cached = cache.get(subjectId);
    if (cached && cached.expires > now()) return cached.key;
    cache.delete(subjectId);
    const row = (await db.selectFrom('crypto.subject_keys').select(['key_id', 'wrapped_key']).where('subject_id', '=', subjectId).executeTakeFirst()) as KeyRow | undefined;
    return row ? unwrap(subjectId, row) : undefined;
  }

  const creating = new Map<string, Promise<DataKey>>();

  /**
   * One statement: insert a new key unless the subject has one (or its parent was destroyed),
   * and answer the key now stored. The parent's row is read FOR SHARE in the same statement, so
   * the parent's destruction (an UPDATE of that row) waits for this child and then destroys it too.
   */
  async function createOrLoad(subjectId: string): Promise<DataKey> {
    const keyId = `dk_${randomUUID().replaceAll('-', '')}`;
    const wrapped = wrapDataKey(masterKey, subjectId, keyId, randomBytes(32));
    const parent = parentOf(subjectId) ?? null;
    const { rows } = await sql<{ key_id: string | null; wrapped_key: Uint8Array | null; outcome: string }>`
      with parent as (
        select wrapped_key from crypto.subject_keys where subject_id = ${parent} for share
      ), inserted as (
        insert into crypto.subject_keys (subject_id, key_id, wrapped_key)
        select ${subjectId}, ${keyId}, ${wrapped}
        where not exists (select 1 from parent where wrapped_key is null)
        on conflict (subject_id) do nothing
        returning key_id, wrapped_key
      )
      select key_id, wrapped_key, 'stored' as outcome from inserted
      union all
      select key_id, wrapped_key, 'stored' from crypto.subject_keys where subject_id = ${subjectId} and not exists (select 1 from inserted)
      union all
      select null, null, 'parent erased' where exists (select 1 from parent where wrapped_key is null)`.execute(db);
    if (rows.some((row) => row.outcome === 'parent erased')) throw new AppError('NOT_FOUND', 'this subject was erased', { subjectId: parent, erased: true });
    const row = rows[0];
    // Another writer's key committed after this statement's snapshot began: read it now.
    const stored = row ? unwrap(subjectId, row as KeyRow) : await load(subjectId);
    if (stored === 'erased') throw new AppError('NOT_FOUND', 'this subject was erased', { subjectId, erased: true });
    if (!stored) throw new Error(`data key of ${subjectId} vanished after insert`);
    return stored;
  }

  return {
    getOrCreate(subjectId) {
      const cached = cache.get(subjectId);
      if (cached && cached.expires > now()) return Promise.resolve(cached.key);
      // Concurrent first uses of one subject (a registration seals its email and descriptor at
      // once) share one round trip.
      let pending = creating.get(subjectId);
      if (!pending) {
        pending = createOrLoad(subjectId).finally(() => creating.delete(subjectId));
        creating.set(subjectId, pending);
      }
      return pending;
    },

    find: load,

    async destroy(subjectId) {
      forgetFamily(subjectId);
      const row = await inTransaction(db, async (trx) => {
        const destroyed = (await trx
          .updateTable('crypto.subject_keys')
          .set({ wrapped_key: null, destroyed_at: sql`now()` })
          .where('subject_id', '=', subjectId)
          .where('wrapped_key', 'is not', null)
          .returning(['key_id', 'destroyed_at'])
          .executeTakeFirst()) as { key_id: string; destroyed_at: Date | string } | undefined;
        if (destroyed && parentOf(subjectId) === undefined) {
          // The lock first: an image key being stored now either waits for this and lists the
          // subject as erased, or committed before this statement and is deleted by it.
          await sql`update crypto.image_guard set erasures = erasures + 1 where id = 1`.execute(trx);
          await sql`delete from crypto.image_keys`.execute(trx);
        }
        await trx
          .updateTable('crypto.subject_keys')
          .set({ wrapped_key: null, destroyed_at: sql`now()` })
          .where('subject_id', 'like', `${escapeLike(subjectId)}/%`)
          .where('wrapped_key', 'is not', null)
          .execute();
        return destroyed;
      });
      forgetFamily(subjectId);
      if (row) return { keyId: row.key_id, destroyedAt: new Date(row.destroyed_at), alreadyDestroyed: false };
      const earlier = (await db
        .selectFrom('crypto.subject_keys')
        .select(['key_id', 'destroyed_at'])
        .where('subject_id', '=', subjectId)
        .where('wrapped_key', 'is', null)
        .executeTakeFirst()) as { key_id: string; destroyed_at: Date | string } | undefined;
      return earlier ? { keyId: earlier.key_id, destroyedAt: new Date(earlier.destroyed_at), alreadyDestroyed: true } : undefined;
    },

    async destroyChildrenBefore(parentIds, kind, bucketBefore) {
      let destroyed = 0;
      for (let i = 0; i < parentIds.length; i += 1000) {
        const parents = parentIds.slice(i, i + 1000);
        const rows = await db
          .updateTable('crypto.subject_keys')
          .set({ wrapped_key: null, destroyed_at: sql`now()` })
          .where(sql<boolean>`split_part(subject_id, '/', 1) = any(${[...parents]}::text[])`)
          .where(sql<boolean>`split_part(subject_id, '/', 2) = ${kind}`)
          .where(sql<boolean>`split_part(subject_id, '/', 3) < ${bucketBefore}`)
          .where('wrapped_key', 'is not', null)
          .returning('subject_id')
          .execute();
        for (const row of rows) cache.delete(row.subject_id as string);
        destroyed += rows.length;
      }
      return destroyed;
    },

    async sealedKeys(subjectIds, through = db) {
      // One text value: a row per subject would cost the driver more than the query does. A join
      // with the ids, not `= any(ids)`: with thousands of ids the planner scanned the whole table
      // for `any` (a parallel seq scan per call, growing with every subject's keys), and probes the
      // primary key once per id for the join.
      const { rows } = await sql<{ keys: string | null }>`
        select string_agg(k.subject_id || ',' || k.key_id || ',' || coalesce(encode(k.wrapped_key, 'hex'), ''), ',') as keys
        from unnest(${[...new Set(subjectIds)]}::text[]) as wanted(subject_id)
        join crypto.subject_keys k on k.subject_id = wanted.subject_id`.execute(through);
      return rows[0]?.keys ?? '';
    },

    forget(subjectId) {
      cache.delete(subjectId);
    },

    async createImageKey(imageId) {
      const key = randomBytes(32);
      const wrapped = wrapDataKey(masterKey, imageSubject(imageId), IMAGE_KEY_ID, key);
      const erased = await inTransaction(db, async (trx) => {
        await sql`select erasures from crypto.image_guard where id = 1 for update`.execute(trx);
        await sql`insert into crypto.image_keys (image_id, wrapped_key) values (${imageId}, ${wrapped})`.execute(trx);
        const { rows } = await sql<{ subject_id: string }>`
          select subject_id from crypto.subject_keys where wrapped_key is null and strpos(subject_id, '/') = 0`.execute(trx);
        return new Set(rows.map((row) => row.subject_id));
      });
      return { key, erased };
    },

    async imageKey(imageId) {
      const { rows } = await sql<{ wrapped_key: Uint8Array }>`select wrapped_key from crypto.image_keys where image_id = ${imageId}`.execute(db);
      const row = rows[0];
      if (!row) return undefined;
      try {
        return unwrapDataKey(masterKey, imageSubject(imageId), IMAGE_KEY_ID, row.wrapped_key);
      } catch (error) {
        throw new AppError('INTERNAL_ERROR', 'a gallery image key failed its integrity check (was it wrapped under another master key?)', { imageId }, { cause: error });
      }
    },

    async dropImageKey(imageId) {
      await sql`delete from crypto.image_keys where image_id = ${imageId}`.execute(db);
    },
  };
}

/** The parent of a child subject (`parent/kind/bucket`), or undefined for a top-level subject. */
function parentOf(subjectId: string): string | undefined {
  const slash = subjectId.indexOf('/');
  return slash > 0 ? subjectId.slice(0, slash) : undefined;
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (char) => `\\${char}`);
}
