import { sql, type Kysely, type Migration } from 'kysely';
import { AppError } from '../errors/appError.ts';
import { migrateToLatest } from '../database/migrate.ts';
import type { TenantContext } from '../tenancy/tenant.ts';
import type { Plan } from '../tenancy/tenantEvents.ts';

/** The contract's plans: requests per minute and per month; enterprise is unlimited. */
export const planLimits: Readonly<Record<Plan, { perMinute: number; perMonth: number } | null>> = {
  free: { perMinute: 10, perMonth: 1_000 },
  pro: { perMinute: 100, perMonth: 50_000 },
  enterprise: null,
};

export interface RateDecision {
  readonly limit: number | null;
  readonly remaining: number | null;
  /** Unix seconds when the current minute window ends. */
  readonly reset: number;
}

export interface RateLimiter {
  /** Counts one request of the tenant and mode; throws RATE_LIMITED or QUOTA_EXCEEDED (429) past the plan. */
  admit(tenant: TenantContext): Promise<RateDecision>;
  /** Requests counted this month (UTC) for a tenant, per mode. */
  monthUsage(tenantId: string): Promise<{ live: number; test: number; month: string }>;
  /** Requests counted per UTC day (the last `days`, this one included) and per minute (the last hour), per mode. */
  history(tenantId: string, days: number): Promise<UsageHistory>;
  /** Deletes minute windows older than an hour and day counts older than 400 days. */
  sweep(): Promise<void>;
  /** Writes counts still held in memory (unlimited plans) and stops the flush timer. */
  close(): Promise<void>;
}

/** One period's requests, per mode. */
export interface UsageCount {
  readonly period: string;
  readonly live: number;
  readonly test: number;
}

export interface UsageHistory {
  /** `YYYY-MM-DD`, oldest first, every day of the range (zero where nothing was counted). */
  readonly days: readonly UsageCount[];
  /** `YYYY-MM-DDTHH:MM`, oldest first, the last 60 minutes (zero where nothing was counted). */
  readonly minutes: readonly UsageCount[];
}

/** How long day counts are kept (the sweep deletes older ones). */
const dayRetentionDays = 400;

const migrations: Record<string, Migration> = {
  '0001_rate_counters': {
    async up(db: Kysely<any>) {
      await sql`create schema if not exists api`.execute(db);
      await sql`
        create table api.rate_counters (
          tenant_id text not null,
          mode text not null,
          period text not null,
          count bigint not null,
          primary key (tenant_id, mode, period)
        )`.execute(db);
    },
  },
};

/**
 * Counters in PostgreSQL, so limits hold across instances sharing one database and monthly usage
 * survives restarts. One upsert per window per request.
 */
export async function createRateLimiter(db: Kysely<any>, clock: () => Date, options: { flushMs?: number } = {}): Promise<RateLimiter> {
  await migrateToLatest(db, 'api_rate_migrations', migrations);
  // Unlimited plans enforce nothing, so their usage is summed in memory and written every
  // second instead of once per request (a crash loses at most that second of counting).
  const pending = new Map<string, { tenantId: string; mode: string; period: string; count: number }>();
  // Flushes run one after another: a read that flushes first waits for one the timer started, so
  // it never misses counts that were taken from `pending` but not yet written.
  let flushing: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => (flushing = flushing.then(writePending, writePending));
  const writePending = async () => {
    const rows = [...pending.values()];
    pending.clear();
    for (const row of rows) {
      await sql`
        insert into api.rate_counters (tenant_id, mode, period, count) values (${row.tenantId}, ${row.mode}, ${row.period}, ${row.count})
        on conflict (tenant_id, mode, period) do update set count = api.rate_counters.count + excluded.count`.execute(db);
    }
  };
  const timer = setInterval(() => void flush().catch(() => {}), options.flushMs ?? 1000);
  timer.unref();

  async function bump(tenant: TenantContext, period: string): Promise<number> {
    const { rows } = await sql<{ count: string }>`
      insert into api.rate_counters (tenant_id, mode, period, count) values (${tenant.tenantId}, ${tenant.mode}, ${period}, 1)
      on conflict (tenant_id, mode, period) do update set count = api.rate_counters.count + 1
      returning count::text as count`.execute(db);
    return Number(rows[0]!.count);
  }

  // The month and the day in one statement: counting the day costs no extra round trip.
  async function bumpMonthAndDay(tenant: TenantContext, month: string, day: string): Promise<number> {
    const { rows } = await sql<{ period: string; count: string }>`
      insert into api.rate_counters (tenant_id, mode, period, count) values (${tenant.tenantId}, ${tenant.mode}, ${month}, 1), (${tenant.tenantId}, ${tenant.mode}, ${day}, 1)
      on conflict (tenant_id, mode, period) do update set count = api.rate_counters.count + 1
      returning period, count::text as count`.execute(db);
    return Number(rows.find((row) => row.period === month)!.count);
  }

  return {
    async admit(tenant) {
      const now = clock();
      const minuteStart = Math.floor(now.getTime() / 60_000) * 60_000;
      const reset = (minuteStart + 60_000) / 1000;
      const limits = planLimits[tenant.plan];
      const month = now.toISOString().slice(0, 7);
      const minute = `m:${new Date(minuteStart).toISOString().slice(0, 16)}`;
      const day = `d:${now.toISOString().slice(0, 10)}`;
      if (limits === null) {
        for (const period of [`M:${month}`, day, minute]) {
          const key = `${tenant.tenantId}\u0000${tenant.mode}\u0000${period}`;
          const entry = pending.get(key) ?? { tenantId: tenant.tenantId, mode: tenant.mode, period, count: 0 };
          entry.count += 1;
          pending.set(key, entry);
        }
        return { limit: null, remaining: null, reset };
      }
      const inMinute = await bump(tenant, minute);
      if (inMinute > limits.perMinute) {
        throw new AppError('RATE_LIMITED', `more than ${limits.perMinute} requests per minute on the ${tenant.plan} plan`, {
          limit: limits.perMinute,
          retryAfterSeconds: Math.max(1, Math.ceil(reset - now.getTime() / 1000)),
          rateLimit: { limit: limits.perMinute, remaining: 0, reset },
        });
      }
      const inMonth = await bumpMonthAndDay(tenant, `M:${month}`, day);
      if (inMonth > limits.perMonth) {
        const nextMonth = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
        throw new AppError('QUOTA_EXCEEDED', `the ${tenant.plan} plan's ${limits.perMonth} requests this month are used up`, {
          limit: limits.perMonth,
          retryAfterSeconds: Math.ceil((nextMonth - now.getTime()) / 1000),
          rateLimit: { limit: limits.perMinute, remaining: limits.perMinute - inMinute, reset },
        });
      }
      return { limit: limits.perMinute, remaining: limits.perMinute - inMinute, reset };
    },

    async monthUsage(tenantId) {
      await flush();
      const month = clock().toISOString().slice(0, 7);
      const rows = await db.withSchema('api').selectFrom('rate_counters').select(['mode', sql<string>`count::text`.as('count')]).where('tenant_id', '=', tenantId).where('period', '=', `M:${month}`).execute();
      const of = (mode: string) => Number(rows.find((row) => row.mode === mode)?.count ?? 0);
      return { live: of('live'), test: of('test'), month };
    },

    async history(tenantId, days) {
      await flush();
      const now = clock();
      const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
      const dayPeriods = Array.from({ length: days }, (_, index) => `d:${new Date(today - (days - 1 - index) * 86_400_000).toISOString().slice(0, 10)}`);
      const minuteStart = Math.floor(now.getTime() / 60_000) * 60_000;
      const minutePeriods = Array.from({ length: 60 }, (_, index) => `m:${new Date(minuteStart - (59 - index) * 60_000).toISOString().slice(0, 16)}`);
      const rows = await db
        .withSchema('api')
        .selectFrom('rate_counters')
        .select(['mode', 'period', sql<string>`count::text`.as('count')])
        .where('tenant_id', '=', tenantId)
        .where('period', 'in', [...dayPeriods, ...minutePeriods])
        .execute();
      const counts = new Map<string, number>(rows.map((row: { mode: string; period: string; count: string }) => [`${row.mode} ${row.period}`, Number(row.count)]));
      const series = (periods: string[]): UsageCount[] => periods.map((period) => ({ period: period.slice(2), live: counts.get(`live ${period}`) ?? 0, test: counts.get(`test ${period}`) ?? 0 }));
      return { days: series(dayPeriods), minutes: series(minutePeriods) };
    },

    async close() {
      clearInterval(timer);
      await flush();
    },

    async sweep() {
      const cutoff = new Date(clock().getTime() - 3_600_000).toISOString().slice(0, 16);
      await db.withSchema('api').deleteFrom('rate_counters').where('period', 'like', 'm:%').where('period', '<', `m:${cutoff}`).execute();
      const dayCutoff = new Date(clock().getTime() - dayRetentionDays * 86_400_000).toISOString().slice(0, 10);
      await db.withSchema('api').deleteFrom('rate_counters').where('period', 'like', 'd:%').where('period', '<', `d:${dayCutoff}`).execute();
    },
  };
}
