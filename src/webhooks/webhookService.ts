import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { AppError } from '../errors/appError.ts';
import { isErased, type FieldCipher } from '../crypto/fieldCipher.ts';
import type { SubjectKeyStore } from '../crypto/subjectKeys.ts';
import type { IdGenerator } from '../ids/ids.ts';
import type { TenantContext } from '../tenancy/tenant.ts';
import type { TenantService } from '../tenancy/tenantService.ts';
import { assertDeliverableUrl, type Resolver } from './addressPolicy.ts';
import type { Delivery, DeliveryQueue } from './deliveryQueue.ts';
import { webhookEventNames, type WebhookEventName } from './payload.ts';

export interface WebhookRecord {
  readonly id: string;
  readonly tenantId: string;
  readonly mode: 'live' | 'test';
  readonly url: string;
  readonly events: readonly WebhookEventName[];
  readonly secretSealed: string;
  readonly createdAt: Date;
}

export interface WebhookView {
  readonly id: string;
  readonly url: string;
  readonly events: readonly WebhookEventName[];
  readonly status: 'active' | 'failing';
  readonly createdAt: string;
  readonly lastDeliveryAt: string | null;
  readonly failureCount: number;
}

/** Webhooks of a tenant: register (secret shown once), list with delivery state, remove, delivery log. */
export interface WebhookService {
  register(tenant: TenantContext, input: { url: string; events?: readonly WebhookEventName[] }, requestId: string): Promise<Omit<WebhookView, 'lastDeliveryAt' | 'failureCount'> & { secret: string }>;
  list(tenant: TenantContext): Promise<WebhookView[]>;
  remove(tenant: TenantContext, webhookId: string, requestId: string): Promise<void>;
  deliveries(tenant: TenantContext, webhookId: string, limit: number): Promise<Delivery[]>;
  /** Makes a failing webhook active again; its failed deliveries are retried from now. */
  resume(tenant: TenantContext, webhookId: string): Promise<{ resumed: number }>;
  /** For the delivery worker: the current url and secret, undefined once removed. */
  secretOf(webhookId: string): Promise<{ url: string; secret: string } | undefined>;
}

export interface WebhookServiceDeps {
  readonly db: Kysely<any>;
  readonly tenants: TenantService;
  readonly queue: DeliveryQueue;
  readonly cipher: FieldCipher;
  /** The secret's key is destroyed with the webhook. */
  readonly keys: SubjectKeyStore;
  readonly ids: IdGenerator;
  readonly allowPrivate: boolean;
  readonly resolve?: Resolver;
}

const secretAad = (webhookId: string) => `${webhookId}:secret`;

export function createWebhookService(deps: WebhookServiceDeps): WebhookService {
  const table = () => deps.db.withSchema('rm_webhooks').selectFrom('webhooks').selectAll();
  const toRecord = (row: Record<string, any>): WebhookRecord => ({
    id: row.webhook_id,
    tenantId: row.tenant_id,
    mode: row.mode,
    url: row.url,
    events: typeof row.events === 'string' ? JSON.parse(row.events) : row.events,
    secretSealed: row.secret_sealed,
    createdAt: new Date(row.created_at),
  });
  const ofTenant = async (tenant: TenantContext) =>
    (await table().where('tenant_id', '=', tenant.tenantId).where('mode', '=', tenant.mode).orderBy('created_at').orderBy('webhook_id').execute()).map(toRecord);
  const own = async (tenant: TenantContext, webhookId: string) => {
    const row = await table().where('webhook_id', '=', webhookId).where('tenant_id', '=', tenant.tenantId).where('mode', '=', tenant.mode).executeTakeFirst();
    if (!row) throw new AppError('NOT_FOUND', 'webhook not found', { webhookId });
    return toRecord(row);
  };

  return {
    async register(tenant, input, requestId) {
      const url = await assertDeliverableUrl(input.url, { allowPrivate: deps.allowPrivate, ...(deps.resolve ? { resolve: deps.resolve } : {}) });
      const webhookId = deps.ids.next('wh');
      const secret = `whsec_${randomBytes(32).toString('base64url')}`;
      const events = [...new Set(input.events ?? webhookEventNames)];
      const sealed = await deps.cipher.encryptText(webhookId, secret, secretAad(webhookId));
      await deps.tenants.execute(
        tenant.tenantId,
        { type: 'RegisterWebhook', webhook: { webhookId, tenantId: tenant.tenantId, mode: tenant.mode, url: url.toString(), events, secret: sealed } },
        requestId,
        tenant.actorKeyId,
      );
      return { id: webhookId, url: url.toString(), events, status: 'active', createdAt: new Date().toISOString(), secret };
    },

    async list(tenant) {
      const records = await ofTenant(tenant);
      const states = await deps.queue.webhookStates(records.map((record) => record.id));
      return records.map((record) => {
        const state = states.get(record.id);
        return {
          id: record.id,
          url: record.url,
          events: record.events,
          status: state?.status ?? 'active',
          createdAt: record.createdAt.toISOString(),
          lastDeliveryAt: state?.lastDeliveryAt?.toISOString() ?? null,
          failureCount: state?.failureCount ?? 0,
        };
      });
    },

    async remove(tenant, webhookId, requestId) {
      await own(tenant, webhookId);
      await deps.tenants.execute(tenant.tenantId, { type: 'RemoveWebhook', webhookId }, requestId, tenant.actorKeyId);
      await deps.queue.removeWebhook(webhookId);
      // The sealed secret stays in the event; without its key it can never sign anything again.
      await deps.keys.destroy(webhookId);
    },

    async deliveries(tenant, webhookId, limit) {
      await own(tenant, webhookId);
      return deps.queue.listDeliveries(webhookId, { limit });
    },

    async resume(tenant, webhookId) {
      await own(tenant, webhookId);
      return { resumed: await deps.queue.resume(webhookId, new Date()) };
    },

    async secretOf(webhookId) {
      const row = await table().where('webhook_id', '=', webhookId).executeTakeFirst();
      if (!row) return undefined;
      const record = toRecord(row);
      const secret = await deps.cipher.decryptText(webhookId, record.secretSealed, secretAad(webhookId));
      return isErased(secret) ? undefined : { url: record.url, secret };
    },
  };
}
