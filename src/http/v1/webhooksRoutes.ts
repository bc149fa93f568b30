import { z } from 'zod';
import { maxWebhooks } from '../../tenancy/tenantDecider.ts';
import type { WebhookService } from '../../webhooks/webhookService.ts';
import { webhookEventNames } from '../../webhooks/payload.ts';
import { descriptorBodyLimit } from '../jsonBody.ts';
import { route, routeGroup } from '../routes/declaration.ts';
import { example } from '../routes/examples.ts';
import { groups } from '../routes/groups.ts';
import { plainBodyErrors, tenantWriteErrors } from '../routes/notes.ts';
import { boundedArray } from '../validation.ts';

export const createWebhookRequest = z.strictObject({
  url: z.string().min(1, 'is required').max(2048, 'must be at most 2048 characters'),
  events: boundedArray(
    z.enum(webhookEventNames, { error: `must be one of ${webhookEventNames.join(', ')}` }),
    { min: 1, max: webhookEventNames.length },
    { min: 'must name at least one event', max: `must name at most ${webhookEventNames.length} events` },
  ).optional(),
});
export const webhookIdSchema = z.string().regex(/^wh_[0-9a-f]{32}$/, 'must be a webhook id (wh_ and 32 hex characters)');
export const deliveriesQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'The newest deliveries to list.' }) });

const isoDate = z.iso.datetime();
const webhookEvents = z.array(z.enum(webhookEventNames));
const webhookStatus = z.enum(['active', 'failing']).meta({ description: '`failing` once a delivery used up its attempts: deliveries pause.' });
const createdWebhook = z.object({
  id: webhookIdSchema,
  url: z.string(),
  events: webhookEvents,
  status: webhookStatus,
  createdAt: isoDate,
  secret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9_-]+$/)
    .meta({ description: 'Signs deliveries: X-FaceSmash-Signature is the hex HMAC-SHA256 of the raw body, X-FaceSmash-Signature-256 is `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` (replay-safe). Shown this once.' }),
});
const webhookView = z.object({
  id: webhookIdSchema,
  url: z.string(),
  events: webhookEvents,
  status: webhookStatus,
  createdAt: isoDate,
  lastDeliveryAt: isoDate.nullable().meta({ description: 'The last successful delivery.' }),
  failureCount: z.number().int().meta({ description: 'Failed attempts since the last successful delivery.' }),
});
const webhookListResponse = z.object({ webhooks: z.array(webhookView) });
const deleteWebhookResponse = z.object({ deleted: z.literal(true), id: webhookIdSchema });
const resumeWebhookResponse = z.object({ id: webhookIdSchema, status: z.literal('active'), resumedDeliveries: z.number().int() });
const deliveriesResponse = z.object({
  deliveries: z.array(
    z.object({
      id: z.string().regex(/^evt_/).meta({ description: 'The `id` of the delivered body: the same across attempts.' }),
      event: z.enum(webhookEventNames),
      status: z.enum(['pending', 'delivered', 'failed']),
      attempts: z.number().int(),
      createdAt: isoDate,
      nextAttemptAt: isoDate.nullable().meta({ description: 'When the next attempt is due; null unless pending.' }),
      lastAttemptAt: isoDate.nullable(),
      lastStatusCode: z.number().int().nullable(),
      lastError: z.string().nullable(),
      deliveredAt: isoDate.nullable(),
    }),
  ),
});

export interface WebhooksRouteDeps {
  readonly webhooks: WebhookService;
}

const webhookPath = z.strictObject({ id: webhookIdSchema.meta({ description: 'A webhook id (`wh_…`).' }) });
const exampleUrl = 'https://hooks.example.com/facesmash';
const allEvents = [...webhookEventNames];

/** /v1/webhooks: register (the secret is shown once), list, remove, resume, and each webhook's delivery log. */
export const webhooksRoutes = routeGroup<WebhooksRouteDeps>(groups.webhooks, [
  route({
    method: 'post',
    path: '/v1/webhooks',
    operationId: 'createWebhook',
    summary: 'Register a webhook',
    description: `Events of this key's mode (live or test) are POSTed to \`url\`, signed with the secret answered here (and only here). \`url\` must be https; addresses that resolve to loopback, private, link-local or metadata networks are refused (400) unless the server allows them. At most ${maxWebhooks} webhooks per tenant. Bodies are limited to ${descriptorBodyLimit / 1024 / 1024} MB.`,
    tags: ['webhooks'],
    auth: { kind: 'key', scope: 'webhooks:manage' },
    body: { schema: createWebhookRequest, name: 'CreateWebhookRequest', description: '`url`, and `events` (default: all).', limit: 'descriptor', example: { url: exampleUrl, events: ['face.registered', 'user.deleted'] } },
    idempotency: 'stored',
    responses: [
      {
        status: 201,
        description: 'The webhook, with its secret.',
        schema: createdWebhook,
        name: 'CreatedWebhook',
        headers: ['Idempotent-Replayed'],
        example: { id: example.webhookId, url: exampleUrl, events: ['face.registered', 'user.deleted'], status: 'active', createdAt: example.at, secret: example.webhookSecret },
      },
    ],
    errors: [...plainBodyErrors, 'IDEMPOTENCY_CONFLICT', ...tenantWriteErrors, 'SERVICE_UNAVAILABLE', 'TIMEOUT'],
    async handle(deps, { body, context }) {
      return { status: 201, data: await deps.webhooks.register(context.tenant, { url: body.url, ...(body.events ? { events: body.events } : {}) }, context.requestId) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/webhooks',
    operationId: 'listWebhooks',
    summary: 'List webhooks',
    description: "The webhooks of this key's mode, with their delivery state.",
    tags: ['webhooks'],
    auth: { kind: 'key', scope: 'webhooks:manage' },
    responses: [
      {
        status: 200,
        description: 'The webhooks, oldest first.',
        schema: webhookListResponse,
        name: 'WebhookListResponse',
        example: { webhooks: [{ id: example.webhookId, url: exampleUrl, events: allEvents, status: 'active', createdAt: example.earlier, lastDeliveryAt: example.at, failureCount: 0 }] },
      },
    ],
    errors: ['INTERNAL_ERROR'],
    async handle(deps, { tenant }) {
      return { data: { webhooks: await deps.webhooks.list(tenant) } };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/webhooks/{id}',
    operationId: 'deleteWebhook',
    summary: 'Remove a webhook',
    description: 'Its delivery log and pending deliveries go with it.',
    tags: ['webhooks'],
    auth: { kind: 'key', scope: 'webhooks:manage' },
    params: webhookPath,
    responses: [{ status: 200, description: 'The webhook was removed.', schema: deleteWebhookResponse, name: 'DeleteWebhookResponse', example: { deleted: true, id: example.webhookId } }],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', ...tenantWriteErrors],
    async handle(deps, { params, tenant, requestId }) {
      await deps.webhooks.remove(tenant, params.id, requestId);
      return { data: { deleted: true, id: params.id } };
    },
  }),
  route({
    method: 'post',
    path: '/v1/webhooks/{id}/resume',
    operationId: 'resumeWebhook',
    summary: 'Resume a failing webhook',
    description: 'Makes the webhook active again; its paused (failed) deliveries are retried from now, in order.',
    tags: ['webhooks'],
    auth: { kind: 'key', scope: 'webhooks:manage' },
    params: webhookPath,
    idempotency: 'stored',
    responses: [
      { status: 200, description: 'The webhook is active again.', schema: resumeWebhookResponse, name: 'ResumeWebhookResponse', headers: ['Idempotent-Replayed'], example: { id: example.webhookId, status: 'active', resumedDeliveries: 4 } },
    ],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', 'IDEMPOTENCY_CONFLICT', 'INTERNAL_ERROR'],
    async handle(deps, { params, tenant }) {
      return { data: { id: params.id, status: 'active', resumedDeliveries: (await deps.webhooks.resume(tenant, params.id)).resumed } };
    },
  }),
  route({
    method: 'get',
    path: '/v1/webhooks/{id}/deliveries',
    operationId: 'listWebhookDeliveries',
    summary: "A webhook's delivery log",
    tags: ['webhooks'],
    auth: { kind: 'key', scope: 'webhooks:manage' },
    params: webhookPath,
    query: deliveriesQuery,
    responses: [
      {
        status: 200,
        description: 'The newest deliveries first.',
        schema: deliveriesResponse,
        name: 'DeliveriesResponse',
        example: {
          deliveries: [
            {
              id: example.deliveryId,
              event: 'face.registered',
              status: 'delivered',
              attempts: 1,
              createdAt: example.at,
              nextAttemptAt: null,
              lastAttemptAt: example.at,
              lastStatusCode: 200,
              lastError: null,
              deliveredAt: example.at,
            },
          ],
        },
      },
    ],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR'],
    async handle(deps, { params, query, tenant }) {
      const deliveries = await deps.webhooks.deliveries(tenant, params.id, query.limit);
      return {
        data: {
          deliveries: deliveries.map((d) => ({
            id: d.id,
            event: d.event,
            status: d.status,
            attempts: d.attempts,
            createdAt: d.createdAt.toISOString(),
            nextAttemptAt: d.status === 'pending' ? d.nextAttemptAt.toISOString() : null,
            lastAttemptAt: d.lastAttemptAt?.toISOString() ?? null,
            lastStatusCode: d.lastStatusCode,
            lastError: d.lastError,
            deliveredAt: d.deliveredAt?.toISOString() ?? null,
          })),
        },
      };
    },
  }),
]);
