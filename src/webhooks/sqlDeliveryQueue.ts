import { sql, type Kysely, type Migration } from 'kysely';
import { migrateToLatest } from '../database/migrate.ts';
import { initialWebhookState, type Delivery, type DeliveryQueue, type DeliveryStatus, type DispatchTarget, type NewDelivery, type TargetChanges, type WebhookDeliveryState, type WebhookStatus } from './deliveryQueue.ts';
import type { PayloadSource, WebhookEventName } from './payload.ts';
import { inTransaction } from '../database/transactions.ts';

/** The queue's tables, in schema `webhooks` (see deliveryQueue.ts for what a row may hold). */
export const webhookQueueMigrations: Record<string, Migration> = {
  '0001_deliveries': {
    async up(db: Kysely<any>) {
      await sql`create schema if not exists webhooks`.execute(db);
      await sql`
        create table webhooks.deliveries (
          id text primary key,
          webhook_id text not null,
          tenant_id text not null,
          user_id text not null,
          event text not null,
          source jsonb not null,
          event_position bigint not null,
          ordinal integer not null,
          status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
          attempts integer not null default 0,
          created_at timestamptz not null,
          next_attempt_at timestamptz not null,
          last_attempt_at timestamptz,
          last_status_code integer,
          last_error text,
          delivered_at timestamptz
        )`.execute(db);
      await sql`create index deliveries_due on webhooks.deliveries (next_attempt_at) where status = 'pending'`.execute(db);
      // The per-user ordering check looks for earlier undelivered rows of the same webhook and user.
      await sql`create index deliveries_chain on webhooks.deliveries (webhook_id, user_id, event_position, ordinal) where status <> 'delivered'`.execute(db);
      await sql`create index deliveries_delivered on webhooks.deliveries (delivered_at) where status = 'delivered'`.execute(db);
      await sql`
        create table webhooks.webhook_state (
          webhook_id text primary key,
          status text not null default 'active' check (status in ('active', 'failing')),
          failure_count integer not null default 0,
          last_delivery_at timestamptz,
          last_attempt_at timestamptz,
          last_status_code integer,
          last_error text
        )`.execute(db);
      await sql`
        create table webhooks.dispatch_checkpoint (
          id boolean primary key default true check (id),
          position bigint not null
        )`.execute(db);
    },
  },
  '0002_dispatch_targets': {
    async up(db: Kysely<any>) {
      await sql`
        create table webhooks.dispatch_targets (
          webhook_id text primary key,
          tenant_id text not null,
          mode text not null,
          events jsonb not null
        )`.execute(db);
      // Webhooks registered before the dispatcher kept its own directory: from the read model.
      const { rows } = await sql<{ found: boolean }>`select to_regclass('rm_webhooks.webhooks') is not null as found`.execute(db);
      if (rows[0]?.found) {
        await sql`insert into webhooks.dispatch_targets (webhook_id, tenant_id, mode, events) select webhook_id, tenant_id, mode, events from rm_webhooks.webhooks on conflict do nothing`.execute(db);
      }
    },
  },
};

interface DeliveryRow {
  id: string;
  webhook_id: string;
  tenant_id: string;
  user_id: string;
  event: string;
  source: unknown;
  position_text: string;
  ordinal: number;
  status: string;
  attempts: number;
  created_at: Date | string;
  next_attempt_at: Date | string;
  last_attempt_at: Date | string | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Date | string | null;
}

interface StateRow {
  webhook_id: string;
  status: string;
  failure_count: number;
  last_delivery_at: Date | string | null;
  last_attempt_at: Date | string | null;
  last_status_code: number | null;
  last_error: string | null;
}

const columns = sql.raw(`id, webhook_id, tenant_id, user_id, event, source, event_position::text as position_text, ordinal, status, attempts,
  created_at, next_attempt_at, last_attempt_at, last_status_code, last_error, delivered_at`);

const iso = (date: Date) => date.toISOString();
const toDate = (value: Date | string) => (value instanceof Date ? value : new Date(value));
const toDateOrNull = (value: Date | string | null) => (value === null ? null : toDate(value));

function sourceToJson(source: PayloadSource): string {
  return JSON.stringify({ ...source, revision: source.revision.toString(), position: source.position.toString() });
}

function sourceFromJson(value: unknown): PayloadSource {
  const raw = (typeof value === 'string' ? JSON.parse(value) : value) as Omit<PayloadSource, 'revision' | 'position'> & { revision: string; position: string };
  return { ...raw, revision: BigInt(raw.revision), position: BigInt(raw.position) };
}

function toDelivery(row: DeliveryRow): Delivery {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    tenantId: row.tenant_id,
    userId: row.user_id,
    event: row.event as WebhookEventName,
    source: sourceFromJson(row.source),
    position: BigInt(row.position_text),
    ordinal: row.ordinal,
    createdAt: toDate(row.created_at),
    status: row.status as DeliveryStatus,
    attempts: row.attempts,
    nextAttemptAt: toDate(row.next_attempt_at),
    lastAttemptAt: toDateOrNull(row.last_attempt_at),
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    deliveredAt: toDateOrNull(row.delivered_at),
  };
}

function toState(row: StateRow): WebhookDeliveryState {
  return {
    webhookId: row.webhook_id,
    status: row.status as WebhookStatus,
    failureCount: row.failure_count,
    lastDeliveryAt: toDateOrNull(row.last_delivery_at),
    lastAttemptAt: toDateOrNull(row.last_attempt_at),
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
  };
}

const byOrder = (a: Delivery, b: Delivery) =>
  a.position < b.position ? -1 : a.position > b.position ? 1 : a.ordinal - b.ordinal || (a.webhookId < b.webhookId ? -1 : a.webhookId > b.webhookId ? 1 : 0);

/** The delivery queue over PostgreSQL or PGlite. Runs its migrations before it answers. */
export async function createSqlDeliveryQueue(db: Kysely<any>): Promise<DeliveryQueue> {
  await migrateToLatest(db, 'webhooks_migrations', webhookQueueMigrations);

  return {
    async checkpoint() {
      const { rows } = await sql<{ position: string }>`select position::text as position from webhooks.dispatch_checkpoint`.execute(db);
      return rows[0] ? BigInt(rows[0].position) : 0n;
    },

    async targets() {
      const { rows } = await sql<{ webhook_id: string; tenant_id: string; mode: 'live' | 'test'; events: unknown }>`select webhook_id, tenant_id, mode, events from webhooks.dispatch_targets`.execute(db);
      return rows.map((row) => ({ id: row.webhook_id, tenantId: row.tenant_id, mode: row.mode, events: (typeof row.events === 'string' ? JSON.parse(row.events) : row.events) as DispatchTarget['events'] }));
    },

    async enqueue(planned: readonly NewDelivery[], position: bigint, changes?: TargetChanges) {
      return inTransaction(db, async (trx) => {
        for (const target of changes?.registered ?? []) {
          await sql`
            insert into webhooks.dispatch_targets (webhook_id, tenant_id, mode, events) values (${target.id}, ${target.tenantId}, ${target.mode}, ${JSON.stringify(target.events)}::jsonb)
            on conflict (webhook_id) do update set events = excluded.events`.execute(trx);
        }
        if (changes && changes.removed.length > 0) await sql`delete from webhooks.dispatch_targets where webhook_id = any(${[...changes.removed]}::text[])`.execute(trx);
        let inserted = 0;
        if (planned.length > 0) {
          const rows = planned.map((d) => ({
            id: d.id,
            webhook_id: d.webhookId,
            tenant_id: d.tenantId,
            user_id: d.userId,
            event: d.event,
            source: sourceToJson(d.source),
            event_position: d.position.toString(),
            ordinal: d.ordinal,
            created_at: iso(d.createdAt),
          }));
          const result = await sql`
            insert into webhooks.deliveries (id, webhook_id, tenant_id, user_id, event, source, event_position, ordinal, created_at, next_attempt_at)
            select x.id, x.webhook_id, x.tenant_id, x.user_id, x.event, x.source::jsonb, x.event_position, x.ordinal, x.created_at, x.created_at
            from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
              as x(id text, webhook_id text, tenant_id text, user_id text, event text, source text, event_position bigint, ordinal integer, created_at timestamptz)
            on conflict (id) do nothing`.execute(trx);
          inserted = Number(result.numAffectedRows ?? 0n);
        }
        await sql`
          insert into webhooks.dispatch_checkpoint (id, position) values (true, ${position.toString()}::bigint)
          on conflict (id) do update set position = greatest(webhooks.dispatch_checkpoint.position, excluded.position)`.execute(trx);
        return { inserted };
      });
    },

    async claimDue(now, { limit, leaseMs }) {
      // skip locked: concurrent claimers (several API instances) never take the same row, and a
      // row another claimer holds still counts as undelivered for the ordering check.
      const { rows } = await sql<DeliveryRow>`
        update webhooks.deliveries d set next_attempt_at = ${iso(new Date(now.getTime() + leaseMs))}::timestamptz
        where d.id in (
          select c.id from webhooks.deliveries c
          where c.status = 'pending'
            and c.next_attempt_at <= ${iso(now)}::timestamptz
            and not exists (select 1 from webhooks.webhook_state s where s.webhook_id = c.webhook_id and s.status = 'failing')
            and not exists (
              select 1 from webhooks.deliveries e
              where e.webhook_id = c.webhook_id and e.user_id = c.user_id and e.status <> 'delivered'
                and (e.event_position, e.ordinal) < (c.event_position, c.ordinal))
          order by c.event_position, c.ordinal, c.webhook_id
          limit ${limit}
          for update skip locked)
        returning ${columns}`.execute(db);
      return rows.map(toDelivery).sort(byOrder);
    },

    async recordAttempt(id, outcome) {
      await inTransaction(db, async (trx) => {
        const at = iso(outcome.at);
        const statusCode = outcome.statusCode ?? null;
        if (outcome.ok) {
          const { rows } = await sql<{ webhook_id: string }>`
            update webhooks.deliveries set status = 'delivered', attempts = attempts + 1, last_attempt_at = ${at}::timestamptz,
              last_status_code = ${statusCode}, last_error = null, delivered_at = ${at}::timestamptz
            where id = ${id} and status = 'pending'
            returning webhook_id`.execute(trx);
          if (!rows[0]) return;
          await sql`
            insert into webhooks.webhook_state (webhook_id, failure_count, last_delivery_at, last_attempt_at, last_status_code)
            values (${rows[0].webhook_id}, 0, ${at}::timestamptz, ${at}::timestamptz, ${statusCode})
            on conflict (webhook_id) do update set failure_count = 0, last_delivery_at = excluded.last_delivery_at,
              last_attempt_at = excluded.last_attempt_at, last_status_code = excluded.last_status_code, last_error = null`.execute(trx);
          return;
        }
        const failing = outcome.next === 'failing';
        const next = outcome.next === 'failing' ? null : iso(outcome.next);
        const { rows } = await sql<{ webhook_id: string }>`
          update webhooks.deliveries set status = ${failing ? 'failed' : 'pending'}, attempts = attempts + 1,
            last_attempt_at = ${at}::timestamptz, last_status_code = ${statusCode}, last_error = ${outcome.error},
            next_attempt_at = coalesce(${next}::timestamptz, next_attempt_at)
          where id = ${id} and status = 'pending'
          returning webhook_id`.execute(trx);
        if (!rows[0]) return;
        await sql`
          insert into webhooks.webhook_state (webhook_id, status, failure_count, last_attempt_at, last_status_code, last_error)
          values (${rows[0].webhook_id}, ${failing ? 'failing' : 'active'}, 1, ${at}::timestamptz, ${statusCode}, ${outcome.error})
          on conflict (webhook_id) do update set
            status = case when ${failing}::boolean then 'failing' else webhooks.webhook_state.status end,
            failure_count = webhooks.webhook_state.failure_count + 1,
            last_attempt_at = excluded.last_attempt_at, last_status_code = excluded.last_status_code, last_error = excluded.last_error`.execute(trx);
      });
    },

    async listDeliveries(webhookId, options) {
      const { rows } = await sql<DeliveryRow>`
        select ${columns} from webhooks.deliveries where webhook_id = ${webhookId}
        order by event_position desc, ordinal desc limit ${options.limit}`.execute(db);
      return rows.map(toDelivery);
    },
    async find(id) {
      const { rows } = await sql<DeliveryRow>`select ${columns} from webhooks.deliveries where id = ${id}`.execute(db);
      return rows[0] ? toDelivery(rows[0]) : undefined;
    },

    async webhookStates(webhookIds) {
      const states = new Map(webhookIds.map((webhookId) => [webhookId, initialWebhookState(webhookId)]));
      if (webhookIds.length === 0) return states;
      const rows = await db.selectFrom('webhooks.webhook_state').selectAll().where('webhook_id', 'in', [...webhookIds]).execute();
      for (const row of rows as StateRow[]) states.set(row.webhook_id, toState(row));
      return states;
    },

    async resume(webhookId, now) {
      return inTransaction(db, async (trx) => {
        const result = await sql`
          update webhooks.deliveries set status = 'pending', attempts = 0, next_attempt_at = ${iso(now)}::timestamptz
          where webhook_id = ${webhookId} and status = 'failed'`.execute(trx);
        await sql`update webhooks.webhook_state set status = 'active', failure_count = 0 where webhook_id = ${webhookId}`.execute(trx);
        return Number(result.numAffectedRows ?? 0n);
      });
    },

    async removeWebhook(webhookId) {
      return inTransaction(db, async (trx) => {
        const result = await sql`delete from webhooks.deliveries where webhook_id = ${webhookId}`.execute(trx);
        await sql`delete from webhooks.webhook_state where webhook_id = ${webhookId}`.execute(trx);
        return Number(result.numAffectedRows ?? 0n);
      });
    },

    async pruneDelivered(before) {
      const result = await sql`delete from webhooks.deliveries where status = 'delivered' and delivered_at < ${iso(before)}::timestamptz`.execute(db);
      return Number(result.numAffectedRows ?? 0n);
    },
  };
}
