import { sql, type Kysely } from 'kysely';
import type { RecordedEvent } from '../../src/eventStore/eventStore.ts';
import { assertNever } from '../../src/users/userDecider.ts';
import { userEventTypes, type UserEvent } from '../../src/users/userEvents.ts';
import type { SignInLogsPruned } from '../../src/tenancy/tenantEvents.ts';
import type { Projection } from '../projection.ts';

/**
 * Read models of users, their templates and their sign-in logs. Personal fields are copied as
 * the sealed values of the events (same aad), so nothing is decrypted or re-encrypted here, and
 * an erased user's rows are deleted.
 *
 * A batch is folded in memory first (new rows, counter deltas, removals, erasures) and written
 * with a handful of set-based statements, so a rebuild costs a few statements per thousand events
 * rather than several per event.
 */
export const usersProjection: Projection = {
  name: 'users',
  version: 6,
  handles: [...userEventTypes, 'SignInLogsPruned'],

  async createTables(db: Kysely<any>) {
    await db.schema
      .createTable('users')
      .addColumn('user_id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('email_sealed', 'text', (c) => c.notNull())
      .addColumn('email_index', 'text', (c) => c.notNull())
      .addColumn('full_name_sealed', 'text')
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('last_login', 'timestamptz')
      .addColumn('login_count', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('successful_logins', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('failed_logins', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('template_count', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();

    await db.schema
      .createTable('templates')
      .addColumn('template_id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('descriptor_sealed', 'text', (c) => c.notNull())
      .addColumn('quality', 'double precision', (c) => c.notNull())
      .addColumn('lighting', 'jsonb')
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('usage_count', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('last_used', 'timestamptz')
      .execute();

    await db.schema
      .createTable('sign_in_logs')
      .addColumn('log_id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('success', 'boolean', (c) => c.notNull())
      .addColumn('similarity', 'double precision', (c) => c.notNull())
      .addColumn('threshold', 'double precision', (c) => c.notNull())
      .addColumn('template_id', 'text')
      .addColumn('ip_sealed', 'text')
      .addColumn('user_agent_sealed', 'text')
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .execute();
  },

  async createIndexes(db: Kysely<any>) {
    await db.schema.createIndex('users_tenant_created').on('users').columns(['tenant_id', 'mode', 'created_at', 'user_id']).execute();
    await db.schema.createIndex('users_tenant_last_login').on('users').columns(['tenant_id', 'mode', 'last_login', 'user_id']).execute();
    await db.schema.createIndex('users_tenant_email').on('users').columns(['tenant_id', 'mode', 'email_index']).execute();
    await db.schema.createIndex('templates_user').on('templates').columns(['user_id', 'created_at']).execute();
    await db.schema.createIndex('templates_tenant').on('templates').columns(['tenant_id', 'mode']).execute();
    await db.schema.createIndex('sign_in_logs_user').on('sign_in_logs').columns(['user_id', 'created_at', 'log_id']).execute();
  },

  async apply(db: Kysely<any>, events: readonly RecordedEvent[]) {
    await writeBatch(db, foldBatch(events));
  },
};

/** Counter changes of one user in a batch. */
interface UserDelta {
  logins: number;
  successes: number;
  failures: number;
  templates: number;
  lastLogin: string | null;
}

interface TemplateUse {
  uses: number;
  lastUsed: string;
}

/** What one batch changes, folded in event order. */
export interface BatchChanges {
  readonly erasedUsers: Set<string>;
  readonly removedTemplates: Set<string>;
  readonly newUsers: Map<string, Record<string, unknown>>;
  readonly newTemplates: Map<string, Record<string, unknown> & { user_id: string }>;
  readonly newLogs: Array<Record<string, unknown> & { user_id: string }>;
  readonly userDeltas: Map<string, UserDelta>;
  readonly templateUses: Map<string, TemplateUse>;
  /** The latest sealed full name of users whose profile changed (users already in the read model). */
  readonly fullNames: Map<string, string>;
  /** Retention: logs of a tenant and mode older than `before` go (applied after this batch's inserts). */
  readonly prunes: Array<{ tenantId: string; mode: string; before: string }>;
}

function later(a: string | null, b: string): string {
  return a === null || Date.parse(b) > Date.parse(a) ? b : a;
}

/** Folds a batch of user events into the set of changes it makes. Pure. */
export function foldBatch(events: readonly RecordedEvent[]): BatchChanges {
  const changes: BatchChanges = {
    erasedUsers: new Set(),
    removedTemplates: new Set(),
    newUsers: new Map(),
    newTemplates: new Map(),
    newLogs: [],
    userDeltas: new Map(),
    templateUses: new Map(),
    fullNames: new Map(),
    prunes: [],
  };
  const delta = (userId: string): UserDelta => {
    let d = changes.userDeltas.get(userId);
    if (!d) {
      d = { logins: 0, successes: 0, failures: 0, templates: 0, lastLogin: null };
      changes.userDeltas.set(userId, d);
    }
    return d;
  };

  for (const recorded of events) {
    if (recorded.type === 'SignInLogsPruned') {
      const data = (recorded as RecordedEvent<SignInLogsPruned['data']>).data;
      changes.prunes.push({ tenantId: data.tenantId, mode: data.mode, before: data.before });
      continue;
    }
    const event = recorded as unknown as RecordedEvent & UserEvent;
    const at = recorded.metadata.occurredAt;
    const tenant_id = recorded.metadata.tenantId ?? '';
    const mode = recorded.metadata.mode ?? 'live';
    switch (event.type) {
      case 'UserEnrolled':
        changes.newUsers.set(event.data.userId, {
          user_id: event.data.userId,
          tenant_id,
          mode,
          email_sealed: event.data.email,
          email_index: event.data.emailIndex,
          full_name_sealed: event.data.fullName ?? null,
          created_at: at,
        });
        break;
      case 'FaceTemplateAdded':
        changes.newTemplates.set(event.data.templateId, {
          template_id: event.data.templateId,
          user_id: event.data.userId,
          tenant_id,
          mode,
          descriptor_sealed: event.data.descriptor,
          quality: event.data.quality,
          lighting: event.data.lighting,
          source: event.data.source,
          model: event.data.model,
          created_at: at,
        });
        delta(event.data.userId).templates += 1;
        break;
      case 'FaceTemplateRemoved':
        if (!changes.newTemplates.delete(event.data.templateId)) changes.removedTemplates.add(event.data.templateId);
        changes.templateUses.delete(event.data.templateId);
        delta(event.data.userId).templates -= 1;
        break;
      case 'SignInAttempted': {
        const success = event.data.outcome === 'success';
        changes.newLogs.push({
          log_id: event.data.logId,
          user_id: event.data.userId,
          tenant_id,
          mode,
          kind: event.data.kind,
          success,
          similarity: event.data.similarity,
          threshold: event.data.threshold,
          template_id: event.data.templateId,
          ip_sealed: event.data.ip,
          user_agent_sealed: event.data.userAgent,
          created_at: at,
        });
        const d = delta(event.data.userId);
        d.logins += 1;
        if (success) {
          d.successes += 1;
          d.lastLogin = later(d.lastLogin, at);
          if (event.data.templateId !== null) {
            const use = changes.templateUses.get(event.data.templateId) ?? { uses: 0, lastUsed: at };
            use.uses += 1;
            use.lastUsed = later(use.lastUsed, at);
            changes.templateUses.set(event.data.templateId, use);
          }
        } else {
          d.failures += 1;
        }
        break;
      }
      case 'UserProfileChanged': {
        const enrolled = changes.newUsers.get(event.data.userId);
        if (enrolled) enrolled.full_name_sealed = event.data.fullName;
        else changes.fullNames.set(event.data.userId, event.data.fullName);
        break;
      }
      case 'UserErased': {
        const userId = event.data.userId;
        changes.erasedUsers.add(userId);
        changes.fullNames.delete(userId);
        changes.newUsers.delete(userId);
        changes.userDeltas.delete(userId);
        for (const [templateId, row] of changes.newTemplates) {
          if (row.user_id === userId) {
            changes.newTemplates.delete(templateId);
            changes.templateUses.delete(templateId);
          }
        }
        for (let i = changes.newLogs.length - 1; i >= 0; i--) if (changes.newLogs[i]!.user_id === userId) changes.newLogs.splice(i, 1);
        break;
      }
      default:
        assertNever(event);
    }
  }
  return changes;
}

/** Writes a folded batch: deletions first, then new rows (only for users that exist), then counters. */
async function writeBatch(db: Kysely<any>, changes: BatchChanges): Promise<void> {
  const erased = [...changes.erasedUsers];
  if (erased.length > 0) {
    await db.deleteFrom('sign_in_logs').where('user_id', 'in', erased).execute();
    await db.deleteFrom('templates').where('user_id', 'in', erased).execute();
    await db.deleteFrom('users').where('user_id', 'in', erased).execute();
  }
  if (changes.removedTemplates.size > 0) await db.deleteFrom('templates').where('template_id', 'in', [...changes.removedTemplates]).execute();
  if (changes.newUsers.size > 0) {
    await sql`
      insert into users (user_id, tenant_id, mode, email_sealed, email_index, full_name_sealed, created_at)
      select user_id, tenant_id, mode, email_sealed, email_index, full_name_sealed, created_at
      from jsonb_to_recordset(${JSON.stringify([...changes.newUsers.values()])}::jsonb)
        as x(user_id text, tenant_id text, mode text, email_sealed text, email_index text, full_name_sealed text, created_at timestamptz)
      on conflict (user_id) do nothing`.execute(db);
  }
  // Rows of a user that is not (or no longer) in the read model are dropped: an event that raced
  // an erasure must not leave an orphan behind.
  if (changes.newTemplates.size > 0) {
    await sql`
      insert into templates (template_id, user_id, tenant_id, mode, descriptor_sealed, quality, lighting, source, model, created_at)
      select x.template_id, x.user_id, x.tenant_id, x.mode, x.descriptor_sealed, x.quality, x.lighting, x.source, x.model, x.created_at
      from jsonb_to_recordset(${JSON.stringify([...changes.newTemplates.values()])}::jsonb)
        as x(template_id text, user_id text, tenant_id text, mode text, descriptor_sealed text, quality double precision, lighting jsonb, source text, model text, created_at timestamptz)
      where exists (select 1 from users u where u.user_id = x.user_id)
      on conflict (template_id) do nothing`.execute(db);
  }
  if (changes.newLogs.length > 0) {
    await sql`
      insert into sign_in_logs (log_id, user_id, tenant_id, mode, kind, success, similarity, threshold, template_id, ip_sealed, user_agent_sealed, created_at)
      select x.log_id, x.user_id, x.tenant_id, x.mode, x.kind, x.success, x.similarity, x.threshold, x.template_id, x.ip_sealed, x.user_agent_sealed, x.created_at
      from jsonb_to_recordset(${JSON.stringify(changes.newLogs)}::jsonb)
        as x(log_id text, user_id text, tenant_id text, mode text, kind text, success boolean, similarity double precision, threshold double precision, template_id text, ip_sealed text, user_agent_sealed text, created_at timestamptz)
      where exists (select 1 from users u where u.user_id = x.user_id)
      on conflict (log_id) do nothing`.execute(db);
  }
  if (changes.userDeltas.size > 0) {
    const deltas = [...changes.userDeltas].map(([user_id, d]) => ({ user_id, logins: d.logins, successes: d.successes, failures: d.failures, templates: d.templates, last_login: d.lastLogin }));
    await sql`
      update users u set
        login_count = u.login_count + d.logins,
        successful_logins = u.successful_logins + d.successes,
        failed_logins = u.failed_logins + d.failures,
        template_count = u.template_count + d.templates,
        last_login = greatest(u.last_login, d.last_login)
      from jsonb_to_recordset(${JSON.stringify(deltas)}::jsonb)
        as d(user_id text, logins integer, successes integer, failures integer, templates integer, last_login timestamptz)
      where u.user_id = d.user_id`.execute(db);
  }
  if (changes.fullNames.size > 0) {
    const names = [...changes.fullNames].map(([user_id, full_name_sealed]) => ({ user_id, full_name_sealed }));
    await sql`
      update users u set full_name_sealed = x.full_name_sealed
      from jsonb_to_recordset(${JSON.stringify(names)}::jsonb) as x(user_id text, full_name_sealed text)
      where u.user_id = x.user_id`.execute(db);
  }
  for (const prune of changes.prunes) {
    await db.deleteFrom('sign_in_logs').where('tenant_id', '=', prune.tenantId).where('mode', '=', prune.mode).where('created_at', '<', prune.before).execute();
  }
  if (changes.templateUses.size > 0) {
    const uses = [...changes.templateUses].map(([template_id, use]) => ({ template_id, uses: use.uses, last_used: use.lastUsed }));
    await sql`
      update templates t set usage_count = t.usage_count + x.uses, last_used = greatest(t.last_used, x.last_used)
      from jsonb_to_recordset(${JSON.stringify(uses)}::jsonb) as x(template_id text, uses integer, last_used timestamptz)
      where t.template_id = x.template_id`.execute(db);
  }
}
