import { sql, type Kysely } from 'kysely';
import type { RecordedEvent } from '../../src/eventStore/eventStore.ts';
import { tenantEventTypes, type TenantEvent } from '../../src/tenancy/tenantEvents.ts';
import { assertNever } from '../../src/users/userDecider.ts';
import type { Projection } from '../projection.ts';

/** Tenants with their plan and settings, and API keys (hash and display prefix only). */
export const tenantsProjection: Projection = {
  name: 'tenants',
  version: 2,
  handles: tenantEventTypes,

  async createTables(db: Kysely<any>) {
    await db.schema
      .createTable('tenants')
      .addColumn('tenant_id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('plan', 'text', (c) => c.notNull())
      .addColumn('settings', 'jsonb', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('api_keys')
      .addColumn('key_id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('prefix', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull().unique())
      .addColumn('scopes', 'jsonb', (c) => c.notNull())
      .addColumn('expires_at', 'timestamptz')
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('revoked_at', 'timestamptz')
      .addColumn('allowed_origins', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
      .execute();
  },

  async createIndexes(db: Kysely<any>) {
    await db.schema.createIndex('api_keys_tenant').on('api_keys').columns(['tenant_id', 'created_at']).execute();
  },

  async apply(db: Kysely<any>, events: readonly RecordedEvent[]) {
    for (const recorded of events) {
      const event = recorded as unknown as RecordedEvent & TenantEvent;
      const at = recorded.metadata.occurredAt;
      switch (event.type) {
        case 'TenantCreated':
          await db
            .insertInto('tenants')
            .values({ tenant_id: event.data.tenantId, name: event.data.name, plan: event.data.plan, settings: JSON.stringify(event.data.settings), created_at: at })
            .onConflict((oc) => oc.column('tenant_id').doNothing())
            .execute();
          break;
        case 'ApiKeyIssued':
          await db
            .insertInto('api_keys')
            .values({
              key_id: event.data.keyId,
              tenant_id: event.data.tenantId,
              mode: event.data.mode,
              name: event.data.name,
              prefix: event.data.prefix,
              hash: event.data.hash,
              scopes: JSON.stringify(event.data.scopes),
              expires_at: event.data.expiresAt,
              created_at: at,
              allowed_origins: JSON.stringify(event.data.allowedOrigins ?? []),
            })
            .onConflict((oc) => oc.column('key_id').doNothing())
            .execute();
          break;
        case 'ApiKeyRevoked':
          await db.updateTable('api_keys').set({ revoked_at: at }).where('key_id', '=', event.data.keyId).where('revoked_at', 'is', null).execute();
          break;
        case 'ApiKeyOriginsChanged':
          await db.updateTable('api_keys').set({ allowed_origins: JSON.stringify(event.data.allowedOrigins) }).where('key_id', '=', event.data.keyId).execute();
          break;
        case 'WebhookRegistered':
        case 'WebhookRemoved':
        case 'SignInLogsPruned':
          // Webhooks have their own projection; pruning is applied by the users projection.
          break;
        case 'TenantSettingsChanged':
          await db.updateTable('tenants').set({ plan: event.data.plan, settings: JSON.stringify(event.data.settings) }).where('tenant_id', '=', event.data.tenantId).execute();
          break;
        default:
          assertNever(event);
      }
    }
  },
};
