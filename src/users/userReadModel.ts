import { sql, type Kysely } from 'kysely';
import type { TenantContext } from '../tenancy/tenant.ts';

const schema = 'rm_users';

export interface UserRow {
  readonly userId: string;
  readonly emailSealed: string;
  readonly fullNameSealed: string | null;
  readonly createdAt: Date;
  readonly lastLogin: Date | null;
  readonly loginCount: number;
  readonly successfulLogins: number;
  readonly failedLogins: number;
  readonly templateCount: number;
}

export interface TemplateRow {
  readonly templateId: string;
  readonly userId: string;
  readonly quality: number;
  readonly createdAt: Date;
  readonly usageCount: number;
  readonly lastUsed: Date | null;
}

export interface LogRow {
  readonly logId: string;
  readonly success: boolean;
  readonly similarity: number;
  readonly ipSealed: string | null;
  readonly userAgentSealed: string | null;
  readonly createdAt: Date;
}

export type UserSort = 'createdAt' | '-createdAt' | 'lastLogin' | '-lastLogin';

export interface Page<T> {
  readonly items: T[];
  readonly totalItems: number;
}

/** Queries over the users projection's tables; every one is scoped to one tenant and mode. */
export interface UserReadModel {
  findUser(tenant: Pick<TenantContext, 'tenantId' | 'mode'>, userId: string): Promise<UserRow | undefined>;
  findUsers(tenant: Pick<TenantContext, 'tenantId' | 'mode'>, userIds: readonly string[]): Promise<Map<string, UserRow>>;
  listUsers(tenant: TenantContext, query: { page: number; perPage: number; sort: UserSort; emailIndex?: string }): Promise<Page<UserRow>>;
  avgQuality(tenant: TenantContext, userId: string): Promise<number | null>;
  findTemplate(tenant: TenantContext, templateId: string): Promise<TemplateRow | undefined>;
  listTemplates(tenant: TenantContext, userId: string): Promise<TemplateRow[]>;
  listLogs(tenant: TenantContext, userId: string, query: { page: number; perPage: number; success?: boolean }): Promise<Page<LogRow>>;
  /** Retention: whether any sign-in log of the tenant and mode is older than `before`. */
  hasLogsBefore(tenant: Pick<TenantContext, 'tenantId' | 'mode'>, before: Date): Promise<boolean>;
  /** Retention: users of the tenant and mode, a page at a time after `afterUserId`. */
  userIds(tenant: Pick<TenantContext, 'tenantId' | 'mode'>, afterUserId: string, limit: number): Promise<string[]>;
  /** Retention: users whose last successful sign-in (or enrolment, if none) is before `before`. */
  inactiveUserIds(tenant: Pick<TenantContext, 'tenantId' | 'mode'>, before: Date, limit: number): Promise<string[]>;
}

const userColumns = [
  'user_id',
  'email_sealed',
  'full_name_sealed',
  'created_at',
  'last_login',
  'login_count',
  'successful_logins',
  'failed_logins',
  'template_count',
] as const;

interface RawUser {
  user_id: string;
  email_sealed: string;
  full_name_sealed: string | null;
  created_at: Date | string;
  last_login: Date | string | null;
  login_count: number;
  successful_logins: number;
  failed_logins: number;
  template_count: number;
}

function toUser(row: RawUser): UserRow {
  return {
    userId: row.user_id,
    emailSealed: row.email_sealed,
    fullNameSealed: row.full_name_sealed,
    createdAt: new Date(row.created_at),
    lastLogin: row.last_login === null ? null : new Date(row.last_login),
    loginCount: Number(row.login_count),
    successfulLogins: Number(row.successful_logins),
    failedLogins: Number(row.failed_logins),
    templateCount: Number(row.template_count),
  };
}

function toTemplate(row: { template_id: string; user_id: string; quality: number; created_at: Date | string; usage_count: number; last_used: Date | string | null }): TemplateRow {
  return {
    templateId: row.template_id,
    userId: row.user_id,
    quality: Number(row.quality),
    createdAt: new Date(row.created_at),
    usageCount: Number(row.usage_count),
    lastUsed: row.last_used === null ? null : new Date(row.last_used),
  };
}

export function createUserReadModel(database: Kysely<any>): UserReadModel {
  const db = database.withSchema(schema);
  const users = (tenant: Pick<TenantContext, 'tenantId' | 'mode'>) => db.selectFrom('users').where('tenant_id', '=', tenant.tenantId).where('mode', '=', tenant.mode);
  const templates = (tenant: TenantContext) =>
    db
      .selectFrom('templates')
      .select(['template_id', 'user_id', 'quality', 'created_at', 'usage_count', 'last_used'])
      .where('tenant_id', '=', tenant.tenantId)
      .where('mode', '=', tenant.mode);

  return {
    async findUser(tenant, userId) {
      const row = (await users(tenant).select(userColumns).where('user_id', '=', userId).executeTakeFirst()) as RawUser | undefined;
      return row ? toUser(row) : undefined;
    },

    async findUsers(tenant, userIds) {
      if (userIds.length === 0) return new Map();
      const rows = (await users(tenant).select(userColumns).where('user_id', 'in', [...userIds]).execute()) as RawUser[];
      return new Map(rows.map((row) => [row.user_id, toUser(row)]));
    },

    async listUsers(tenant, query) {
      let base = users(tenant);
      if (query.emailIndex !== undefined) base = base.where('email_index', '=', query.emailIndex);
      const column = query.sort.endsWith('lastLogin') ? 'last_login' : 'created_at';
      const direction = query.sort.startsWith('-') ? 'desc' : 'asc';
      const [rows, total] = await Promise.all([
        base
          .select(userColumns)
          // Users who never signed in sort last either way; user_id breaks ties so pages are stable.
          .orderBy(sql`${sql.ref(column)} ${sql.raw(direction)} nulls last`)
          .orderBy('user_id', direction)
          .limit(query.perPage)
          .offset((query.page - 1) * query.perPage)
          .execute() as Promise<RawUser[]>,
        base.select(sql<string>`count(*)::text`.as('n')).executeTakeFirstOrThrow(),
      ]);
      return { items: rows.map(toUser), totalItems: Number(total.n) };
    },

    async avgQuality(tenant, userId) {
      const row = await db
        .selectFrom('templates')
        .select(sql<number | null>`avg(quality)`.as('avg'))
        .where('tenant_id', '=', tenant.tenantId)
        .where('mode', '=', tenant.mode)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return row?.avg === null || row?.avg === undefined ? null : Number(row.avg);
    },

    async findTemplate(tenant, templateId) {
      const row = await templates(tenant).where('template_id', '=', templateId).executeTakeFirst();
      return row ? toTemplate(row) : undefined;
    },

    async listTemplates(tenant, userId) {
      const rows = await templates(tenant)
        .where('user_id', '=', userId)
        .orderBy('created_at')
        .orderBy('template_id')
        .execute();
      return rows.map(toTemplate);
    },

    async hasLogsBefore(tenant, before) {
      const row = await db.selectFrom('sign_in_logs').select('log_id').where('tenant_id', '=', tenant.tenantId).where('mode', '=', tenant.mode).where('created_at', '<', before).limit(1).executeTakeFirst();
      return row !== undefined;
    },

    async userIds(tenant, afterUserId, limit) {
      const rows = await users(tenant).select('user_id').where('user_id', '>', afterUserId).orderBy('user_id').limit(limit).execute();
      return rows.map((row) => row.user_id as string);
    },

    async inactiveUserIds(tenant, before, limit) {
      const rows = await users(tenant).select('user_id').where(sql<boolean>`coalesce(last_login, created_at) < ${before}`).orderBy('user_id').limit(limit).execute();
      return rows.map((row) => row.user_id as string);
    },

    async listLogs(tenant, userId, query) {
      let base = db.selectFrom('sign_in_logs').where('tenant_id', '=', tenant.tenantId).where('mode', '=', tenant.mode).where('user_id', '=', userId);
      if (query.success !== undefined) base = base.where('success', '=', query.success);
      const [rows, total] = await Promise.all([
        base
          .select(['log_id', 'success', 'similarity', 'ip_sealed', 'user_agent_sealed', 'created_at'])
          .orderBy('created_at', 'desc')
          .orderBy('log_id', 'desc')
          .limit(query.perPage)
          .offset((query.page - 1) * query.perPage)
          .execute(),
        base.select(sql<string>`count(*)::text`.as('n')).executeTakeFirstOrThrow(),
      ]);
      return {
        items: rows.map((row) => ({
          logId: row.log_id,
          success: row.success,
          similarity: Number(row.similarity),
          ipSealed: row.ip_sealed,
          userAgentSealed: row.user_agent_sealed,
          createdAt: new Date(row.created_at),
        })),
        totalItems: Number(total.n),
      };
    },
  };
}
