import { createHash } from 'node:crypto';
import { sql, type Kysely, type Migration } from 'kysely';
import { AppError } from '../errors/appError.ts';
import { isErased, type FieldCipher } from '../crypto/fieldCipher.ts';
import type { SubjectKeyStore } from '../crypto/subjectKeys.ts';
import { migrateToLatest } from '../database/migrate.ts';
import { canonicalJson } from '../crypto/canonicalJson.ts';
import type { IdGenerator } from '../ids/ids.ts';
import type { TenantContext } from '../tenancy/tenant.ts';

const ttlMs = 24 * 60 * 60 * 1000;

export interface StoredResponse {
  readonly status: number;
  readonly data: unknown;
  /** Global position of what the request stored (answered as X-Position), when it stored something. */
  readonly position?: bigint;
}

/** What a handler returns: the response and the users whose personal data it holds. */
export interface IdempotentOutcome extends StoredResponse {
  readonly subjects: readonly string[];
}

/**
 * Idempotency-Key on POST (api-contract.md): a repeat with the same key and body within 24 h gets
 * the first response and runs nothing; the same key with another body is IDEMPOTENCY_CONFLICT.
 * Stored responses hold personal data (emails), so each is sealed with a key of its own and
 * deleted, key destroyed, when any user it names is erased.
 */
export interface IdempotencyStore {
  run(tenant: TenantContext, key: string, fingerprint: string, handler: () => Promise<IdempotentOutcome>): Promise<StoredResponse & { replayed: boolean }>;
  /** Deletes every stored response that names this user (erasure). */
  purgeSubject(userId: string): Promise<number>;
  /** Deletes responses older than 24 h. */
  sweep(): Promise<number>;
}

const migrations: Record<string, Migration> = {
  '0001_idempotency': {
    async up(db: Kysely<any>) {
      await sql`create schema if not exists api`.execute(db);
      await sql`
        create table api.idempotency_keys (
          tenant_id text not null,
          mode text not null,
          idempotency_key text not null,
          fingerprint text not null,
          record_id text not null,
          state text not null,
          status integer,
          body_sealed text,
          subject_ids text[] not null default '{}',
          created_at timestamptz not null default now(),
          primary key (tenant_id, mode, idempotency_key)
        )`.execute(db);
      await sql`create index idempotency_keys_subjects on api.idempotency_keys using gin (subject_ids)`.execute(db);
      await sql`create index idempotency_keys_created on api.idempotency_keys (created_at)`.execute(db);
    },
  },
};

/** A fingerprint of a request: method, path and the parsed body in a canonical form. */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${path}\n${canonicalJson(body)}`).digest('hex');
}

export function validateIdempotencyKey(key: string): void {
  if (key.length < 1 || key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
    throw new AppError('VALIDATION_ERROR', 'Idempotency-Key: must be 1 to 255 visible ASCII characters', { field: 'Idempotency-Key', in: 'header' });
  }
}

export async function createIdempotencyStore(db: Kysely<any>, cipher: FieldCipher, keys: SubjectKeyStore, ids: IdGenerator, clock: () => Date): Promise<IdempotencyStore> {
  await migrateToLatest(db, 'api_migrations', migrations);
  const table = () => db.withSchema('api');
  const aadOf = (recordId: string) => `${recordId}:response`;

  async function drop(rows: ReadonlyArray<{ record_id: string }>): Promise<void> {
    for (const row of rows) await keys.destroy(row.record_id);
  }

  return {
    async run(tenant, key, fingerprint, handler) {
      validateIdempotencyKey(key);
      // Keys are the client's free text (some put an email in them): only their hash is stored.
      const keyHash = createHash('sha256').update(key).digest('base64url');
      const scope = (query: any) => query.where('tenant_id', '=', tenant.tenantId).where('mode', '=', tenant.mode).where('idempotency_key', '=', keyHash);
      for (let attempt = 0; attempt < 3; attempt++) {
        const recordId = ids.next('idem');
        const inserted = await table()
          .insertInto('idempotency_keys')
          .values({ tenant_id: tenant.tenantId, mode: tenant.mode, idempotency_key: keyHash, fingerprint, record_id: recordId, state: 'pending' })
          .onConflict((oc) => oc.columns(['tenant_id', 'mode', 'idempotency_key']).doNothing())
          .returning('record_id')
          .executeTakeFirst();
        if (inserted) {
          let outcome: IdempotentOutcome;
          try {
            outcome = await handler();
          } catch (error) {
            // Nothing was stored for this key: a retry runs the request again.
            await scope(table().deleteFrom('idempotency_keys')).where('record_id', '=', recordId).execute();
            throw error;
          }
          const sealed = await cipher.encryptText(recordId, JSON.stringify({ v: 2, data: outcome.data, position: outcome.position?.toString() ?? null }), aadOf(recordId));
          await scope(table().updateTable('idempotency_keys'))
            .set({ state: 'done', status: outcome.status, body_sealed: sealed, subject_ids: sql`${[...outcome.subjects]}::text[]` })
            .where('record_id', '=', recordId)
            .execute();
          return { status: outcome.status, data: outcome.data, replayed: false, ...(outcome.position !== undefined ? { position: outcome.position } : {}) };
        }
        const existing = (await scope(table().selectFrom('idempotency_keys').select(['fingerprint', 'record_id', 'state', 'status', 'body_sealed', 'created_at'])).executeTakeFirst()) as
          | { fingerprint: string; record_id: string; state: string; status: number | null; body_sealed: string | null; created_at: Date | string }
          | undefined;
        if (!existing) continue;
        if (clock().getTime() - new Date(existing.created_at).getTime() > ttlMs) {
          await scope(table().deleteFrom('idempotency_keys')).where('record_id', '=', existing.record_id).execute();
          await drop([existing]);
          continue;
        }
        if (existing.fingerprint !== fingerprint) {
          throw new AppError('IDEMPOTENCY_CONFLICT', 'this Idempotency-Key was used with a different request', { idempotencyKey: key });
        }
        if (existing.state !== 'done' || existing.body_sealed === null) {
          throw new AppError('IDEMPOTENCY_CONFLICT', 'a request with this Idempotency-Key is still in progress', { idempotencyKey: key });
        }
        const body = await cipher.decryptText(existing.record_id, existing.body_sealed, aadOf(existing.record_id));
        if (isErased(body)) {
          throw new AppError('IDEMPOTENCY_CONFLICT', 'the response stored for this Idempotency-Key is no longer available', { idempotencyKey: key });
        }
        const stored = JSON.parse(body) as unknown;
        // Responses stored before positions were kept are the data alone.
        if (typeof stored === 'object' && stored !== null && (stored as { v?: unknown }).v === 2) {
          const { data, position } = stored as { data: unknown; position: string | null };
          return { status: existing.status ?? 200, data, replayed: true, ...(position !== null ? { position: BigInt(position) } : {}) };
        }
        return { status: existing.status ?? 200, data: stored, replayed: true };
      }
      throw new AppError('IDEMPOTENCY_CONFLICT', 'could not settle this Idempotency-Key; retry', { idempotencyKey: key });
    },

    async purgeSubject(userId) {
      const rows = await table().deleteFrom('idempotency_keys').where(sql<boolean>`subject_ids @> ${[userId]}::text[]`).returning('record_id').execute();
      await drop(rows);
      return rows.length;
    },

    async sweep() {
      const rows = await table()
        .deleteFrom('idempotency_keys')
        .where('created_at', '<', new Date(clock().getTime() - ttlMs))
        .returning('record_id')
        .execute();
      await drop(rows);
      return rows.length;
    },
  };
}
