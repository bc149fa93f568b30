import { sql, type Kysely } from 'kysely';
import { defaultTenantSettings, type TenantSettings } from './tenant.ts';
import type { Mode, Plan, Scope } from './tenantEvents.ts';

export interface TenantRow {
  readonly tenantId: string;
  readonly name: string;
  readonly plan: Plan;
  readonly settings: TenantSettings;
  readonly createdAt: Date;
}

export interface ApiKeyRow {
  readonly keyId: string;
  readonly tenantId: string;
  readonly mode: Mode;
  readonly name: string;
  readonly prefix: string;
  readonly hash: string;
  readonly scopes: readonly Scope[];
  readonly expiresAt: Date | null;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
  /** Exact origins a browser may call with this key. */
  readonly allowedOrigins: readonly string[];
}

/** Queries over the tenants projection. */
export interface TenantReadModel {
  findTenant(tenantId: string): Promise<TenantRow | undefined>;
  listTenants(): Promise<TenantRow[]>;
  findKeyByHash(hash: string): Promise<ApiKeyRow | undefined>;
  findKey(keyId: string): Promise<ApiKeyRow | undefined>;
  listKeys(tenantId: string): Promise<ApiKeyRow[]>;
  /** True when some key, not revoked and not expired at `now`, allows this origin (a CORS preflight carries no key). */
  originAllowed(origin: string, now: Date): Promise<boolean>;
}

const parse = <T>(value: unknown): T => (typeof value === 'string' ? (JSON.parse(value) as T) : (value as T));

function toTenant(row: Record<string, any>): TenantRow {
  return {
    tenantId: row.tenant_id,
    name: row.name,
    plan: row.plan,
    // Settings added after a tenant was created take their defaults.
    settings: { ...defaultTenantSettings, ...parse<Partial<TenantSettings>>(row.settings) },
    createdAt: new Date(row.created_at),
  };
}

function toKey(row: Record<string, any>): ApiKeyRow {
  return {
    keyId: row.key_id,
    tenantId: row.tenant_id,
    mode: row.mode,
    name: row.name,
    prefix: row.prefix,
    hash: row.hash,
    scopes: parse<Scope[]>(row.scopes),
    expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
    createdAt: new Date(row.created_at),
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
    allowedOrigins: parse<string[] | null>(row.allowed_origins) ?? [],
  };
}

export function createTenantReadModel(database: Kysely<any>): TenantReadModel {
  const db = database.withSchema('rm_tenants');
  return {
    async findTenant(tenantId) {
      const row = await db.selectFrom('tenants').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
      return row ? toTenant(row) : undefined;
    },
    async listTenants() {
      return (await db.selectFrom('tenants').selectAll().orderBy('created_at').orderBy('tenant_id').execute()).map(toTenant);
    },
    async findKeyByHash(hash) {
      const row = await db.selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
      return row ? toKey(row) : undefined;
    },
    async findKey(keyId) {
      const row = await db.selectFrom('api_keys').selectAll().where('key_id', '=', keyId).executeTakeFirst();
      return row ? toKey(row) : undefined;
    },
    async listKeys(tenantId) {
      return (await db.selectFrom('api_keys').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at').orderBy('key_id').execute()).map(toKey);
    },
    async originAllowed(origin, now) {
      const row = await db
        .selectFrom('api_keys')
        .select('key_id')
        .where(sql<boolean>`allowed_origins @> jsonb_build_array(${origin}::text)`)
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .limit(1)
        .executeTakeFirst();
      return row !== undefined;
    },
  };
}
