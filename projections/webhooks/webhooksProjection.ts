import type { Kysely } from 'kysely';
import type { RecordedEvent } from '../../src/eventStore/eventStore.ts';
import type { WebhookRegistered, WebhookRemoved } from '../../src/tenancy/tenantEvents.ts';
import type { Projection } from '../projection.ts';

/** Registered webhooks (secret sealed with the webhook's own key); removed ones are deleted. */
export const webhooksProjection: Projection = {
  name: 'webhooks',
  version: 1,
  handles: ['WebhookRegistered', 'WebhookRemoved'],

  async createTables(db: Kysely<any>) {
    await db.schema
      .createTable('webhooks')
      .addColumn('webhook_id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('events', 'jsonb', (c) => c.notNull())
      .addColumn('secret_sealed', 'text', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .execute();
  },

  async createIndexes(db: Kysely<any>) {
    await db.schema.createIndex('webhooks_tenant').on('webhooks').columns(['tenant_id', 'mode']).execute();
  },

  async apply(db: Kysely<any>, events: readonly RecordedEvent[]) {
    for (const recorded of events) {
      const event = recorded as unknown as RecordedEvent & (WebhookRegistered | WebhookRemoved);
      if (event.type === 'WebhookRegistered') {
        await db
          .insertInto('webhooks')
          .values({
            webhook_id: event.data.webhookId,
            tenant_id: event.data.tenantId,
            mode: event.data.mode,
            url: event.data.url,
            events: JSON.stringify(event.data.events),
            secret_sealed: event.data.secret,
            created_at: recorded.metadata.occurredAt,
          })
          .onConflict((oc) => oc.column('webhook_id').doNothing())
          .execute();
      } else {
        await db.deleteFrom('webhooks').where('webhook_id', '=', event.data.webhookId).execute();
      }
    }
  },
};
