import Router from '@koa/router';
import { z } from 'zod';
import type { WebhookService } from '../../webhooks/webhookService.ts';
import { webhookEventNames } from '../../webhooks/payload.ts';
import { respond } from '../envelope.ts';
import { requestFingerprint } from '../idempotency.ts';
import { boundedArray, parseInput } from '../validation.ts';
import { runCommand, type CommandRouteDeps } from './commandRoute.ts';

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

export interface WebhooksRouteDeps extends CommandRouteDeps {
  readonly webhooks: WebhookService;
}

/** /v1/webhooks: register (the secret is shown once), list, remove, and each webhook's delivery log. */
export function webhooksRouter(deps: WebhooksRouteDeps): Router {
  const router = new Router({ prefix: '/v1/webhooks' });

  router.post('/', (ctx) =>
    runCommand(ctx, deps, createWebhookRequest, { acceptsImage: false, scope: 'webhooks:manage' }, async (input, context) => ({
      status: 201,
      data: await deps.webhooks.register(context.tenant, { url: input.url, ...(input.events ? { events: input.events } : {}) }, context.requestId),
      subjects: [],
    })),
  );

  router.get('/', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'webhooks:manage');
    respond(ctx, { webhooks: await deps.webhooks.list(tenant) });
  });

  router.delete('/:id', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'webhooks:manage');
    const id = parseInput(webhookIdSchema, ctx.params.id, 'path', 'id');
    await deps.webhooks.remove(tenant, id, String(ctx.state.requestId));
    respond(ctx, { deleted: true, id });
  });

  router.post('/:id/resume', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'webhooks:manage');
    const id = parseInput(webhookIdSchema, ctx.params.id, 'path', 'id');
    const resume = async () => ({ status: 200, data: { id, status: 'active', resumedDeliveries: (await deps.webhooks.resume(tenant, id)).resumed }, subjects: [] });
    const key = ctx.get('Idempotency-Key');
    const result = key === '' ? await resume() : await deps.idempotency.run(tenant, key, requestFingerprint(ctx.method, ctx.path, null), resume);
    if ('replayed' in result && result.replayed) ctx.set('Idempotent-Replayed', 'true');
    respond(ctx, result.data, result.status);
  });

  router.get('/:id/deliveries', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'webhooks:manage');
    const id = parseInput(webhookIdSchema, ctx.params.id, 'path', 'id');
    const { limit } = parseInput(deliveriesQuery, ctx.query, 'query');
    const deliveries = await deps.webhooks.deliveries(tenant, id, limit);
    respond(ctx, {
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
    });
  });

  return router;
}
