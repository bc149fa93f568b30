import { sql, type Kysely } from 'kysely';
import type { RecordedEvent } from '../../src/eventStore/eventStore.ts';
import { assertNever } from '../../src/users/userDecider.ts';
import { userEventTypes, type UserEvent } from '../../src/users/userEvents.ts';
import type { Projection } from '../projection.ts';

/**
 * Read models of users, their templates and their sign-in logs. Personal fields are copied as
 * the sealed values of the events (same aad), so nothing is decrypted or re-encrypted here, and
 * an erased user's rows are deleted.
 */
export const usersProjection: Projection = {
  name: 'users',
  version: 1,
  handles: userEventTypes,

  async createTables(db: Kysely<any>) {
    await db.schema
      .createTable('users')
      .addColumn('user_id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('email_sealed', 'text', (c) => c.notNull())
      .addColumn('email_index', 'text', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('last_login', 'timestamptz')
      .addColumn('login_count', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('successful_logins', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('failed_logins', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('template_count', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createIndex('users_tenant_created').on('users').columns(['tenant_id', 'mode', 'created_at', 'user_id']).execute();
    await db.schema.createIndex('users_tenant_last_login').on('users').columns(['tenant_id', 'mode', 'last_login', 'user_id']).execute();
    await db.schema.createIndex('users_tenant_email').on('users').columns(['tenant_id', 'mode', 'email_index']).execute();

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
    await db.schema.createIndex('templates_user').on('templates').columns(['user_id', 'created_at']).execute();
    await db.schema.createIndex('templates_tenant').on('templates').columns(['tenant_id', 'mode']).execute();

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
    await db.schema.createIndex('sign_in_logs_user').on('sign_in_logs').columns(['user_id', 'created_at', 'log_id']).execute();
  },

  async apply(db: Kysely<any>, events: readonly RecordedEvent[]) {
    for (const recorded of events) {
      const event = recorded as unknown as RecordedEvent & UserEvent;
      const at = recorded.metadata.occurredAt;
      const tenantId = recorded.metadata.tenantId ?? '';
      const mode = recorded.metadata.mode ?? 'live';
      switch (event.type) {
        case 'UserEnrolled':
          await db
            .insertInto('users')
            .values({ user_id: event.data.userId, tenant_id: tenantId, mode, email_sealed: event.data.email, email_index: event.data.emailIndex, created_at: at })
            .onConflict((oc) => oc.column('user_id').doNothing())
            .execute();
          break;
        case 'FaceTemplateAdded':
          await db
            .insertInto('templates')
            .values({
              template_id: event.data.templateId,
              user_id: event.data.userId,
              tenant_id: tenantId,
              mode,
              descriptor_sealed: event.data.descriptor,
              quality: event.data.quality,
              lighting: event.data.lighting === null ? null : JSON.stringify(event.data.lighting),
              source: event.data.source,
              model: event.data.model,
              created_at: at,
            })
            .onConflict((oc) => oc.column('template_id').doNothing())
            .execute();
          await db.updateTable('users').set({ template_count: sql`template_count + 1` }).where('user_id', '=', event.data.userId).execute();
          break;
        case 'FaceTemplateRemoved': {
          const removed = await db.deleteFrom('templates').where('template_id', '=', event.data.templateId).executeTakeFirst();
          if (removed.numDeletedRows > 0n) await db.updateTable('users').set({ template_count: sql`template_count - 1` }).where('user_id', '=', event.data.userId).execute();
          break;
        }
        case 'SignInAttempted': {
          const success = event.data.outcome === 'success';
          await db
            .insertInto('sign_in_logs')
            .values({
              log_id: event.data.logId,
              user_id: event.data.userId,
              tenant_id: tenantId,
              mode,
              kind: event.data.kind,
              success,
              similarity: event.data.similarity,
              threshold: event.data.threshold,
              template_id: event.data.templateId,
              ip_sealed: event.data.ip,
              user_agent_sealed: event.data.userAgent,
              created_at: at,
            })
            .onConflict((oc) => oc.column('log_id').doNothing())
            .execute();
          await db
            .updateTable('users')
            .set({
              login_count: sql`login_count + 1`,
              successful_logins: success ? sql`successful_logins + 1` : sql`successful_logins`,
              failed_logins: success ? sql`failed_logins` : sql`failed_logins + 1`,
              last_login: success ? sql`greatest(last_login, ${at}::timestamptz)` : sql`last_login`,
            })
            .where('user_id', '=', event.data.userId)
            .execute();
          if (success && event.data.templateId !== null) {
            await db
              .updateTable('templates')
              .set({ usage_count: sql`usage_count + 1`, last_used: sql`greatest(last_used, ${at}::timestamptz)` })
              .where('template_id', '=', event.data.templateId)
              .execute();
          }
          break;
        }
        case 'UserErased':
          await db.deleteFrom('sign_in_logs').where('user_id', '=', event.data.userId).execute();
          await db.deleteFrom('templates').where('user_id', '=', event.data.userId).execute();
          await db.deleteFrom('users').where('user_id', '=', event.data.userId).execute();
          break;
        default:
          assertNever(event);
      }
    }
  },
};
