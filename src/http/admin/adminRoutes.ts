import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AppError } from '../../errors/appError.ts';
import { allScopes } from '../../tenancy/tenantEvents.ts';
import { allowedOriginsSchema } from '../../tenancy/origins.ts';
import type { TenantService } from '../../tenancy/tenantService.ts';
import { bearerTokenCheck } from '../bearerToken.ts';
import { respond } from '../envelope.ts';
import { descriptorBodyLimit, readJsonBody } from '../jsonBody.ts';
import { boundedArray, parseInput } from '../validation.ts';

const plan = z.enum(['free', 'pro', 'enterprise'], { error: 'must be free, pro or enterprise' });
const settings = z
  .strictObject({
    matchThreshold: z.number().min(0.35).max(0.95),
    duplicateThreshold: z.number().min(0.5).max(0.99),
    maxTemplates: z.number().int().min(1).max(100),
    minQuality: z.number().min(0).max(1),
    logRetentionDays: z.number().int().min(1).max(3650),
    inactiveUserErasureMonths: z.number().int().min(1).max(120).nullable(),
  })
  .partial();

export const createTenantRequest = z.strictObject({ name: z.string().trim().min(1, 'must not be empty').max(200), plan: plan.optional(), settings: settings.optional() });
export const patchTenantRequest = z.strictObject({ plan: plan.optional(), settings: settings.optional() });
export const issueKeyRequest = z.strictObject({
  mode: z.enum(['live', 'test'], { error: 'must be live or test' }),
  name: z.string().trim().min(1).max(200).optional(),
  scopes: boundedArray(z.enum(allScopes, { error: `must be one of ${allScopes.join(', ')}` }), { min: 1, max: allScopes.length }).optional(),
  expiresAt: z.iso.datetime({ error: 'must be an ISO-8601 date-time' }).nullable().optional(),
  allowedOrigins: allowedOriginsSchema.optional(),
});
export const patchKeyRequest = z.strictObject({ allowedOrigins: allowedOriginsSchema });

export const tenantIdParam = z.uuid({ error: 'must be a tenant id (uuid)' });
export const keyIdParam = z.string().regex(/^key_[0-9a-f]{32}$/, 'must be a key id (key_ and 32 hex characters)');

export interface AdminDeps {
  readonly adminToken: string;
  readonly tenants: TenantService;
  readonly monthUsage: (tenantId: string) => Promise<unknown>;
  /** Called after a key or settings change, so cached keys on this instance are re-read. */
  readonly onKeysChanged: () => void;
}

/** `/admin`: operators manage tenants and keys, behind their own bearer token. */
export function adminRouter(deps: AdminDeps): Router {
  const router = new Router({ prefix: '/admin' });
  const authorised = bearerTokenCheck(deps.adminToken);

  router.use(async (ctx, next) => {
    if (!authorised(ctx)) throw new AppError('UNAUTHORIZED', 'the admin token is required');
    await next();
  });

  const body = async (ctx: Context) => (await readJsonBody(ctx, descriptorBodyLimit)).value;
  const requestId = (ctx: Context) => String(ctx.state.requestId);

  router.post('/tenants', async (ctx) => {
    const input = parseInput(createTenantRequest, await body(ctx), 'body');
    respond(ctx, await deps.tenants.createTenant(input, requestId(ctx)), 201);
  });
  router.get('/tenants', async (ctx) => {
    respond(ctx, { tenants: await deps.tenants.listTenants() });
  });
  router.get('/tenants/:id', async (ctx) => {
    const tenantId = parseInput(tenantIdParam, ctx.params.id, 'path', 'id');
    const tenant = await deps.tenants.getTenant(tenantId);
    respond(ctx, { ...tenant, usage: await deps.monthUsage(tenantId) });
  });
  router.patch('/tenants/:id', async (ctx) => {
    const tenantId = parseInput(tenantIdParam, ctx.params.id, 'path', 'id');
    const input = parseInput(patchTenantRequest, await body(ctx), 'body');
    const tenant = await deps.tenants.changeSettings(tenantId, input, requestId(ctx));
    deps.onKeysChanged();
    respond(ctx, tenant);
  });
  router.post('/tenants/:id/keys', async (ctx) => {
    const tenantId = parseInput(tenantIdParam, ctx.params.id, 'path', 'id');
    const input = parseInput(issueKeyRequest, await body(ctx), 'body');
    await deps.tenants.getTenant(tenantId);
    respond(ctx, await deps.tenants.issueKey(tenantId, input, requestId(ctx)), 201);
  });
  router.get('/tenants/:id/keys', async (ctx) => {
    const tenantId = parseInput(tenantIdParam, ctx.params.id, 'path', 'id');
    respond(ctx, { keys: await deps.tenants.listKeys(tenantId) });
  });
  router.patch('/keys/:id', async (ctx) => {
    const keyId = parseInput(keyIdParam, ctx.params.id, 'path', 'id');
    const input = parseInput(patchKeyRequest, await body(ctx), 'body');
    const key = await deps.tenants.changeKeyOrigins(keyId, input.allowedOrigins, requestId(ctx));
    deps.onKeysChanged();
    respond(ctx, key);
  });
  router.delete('/keys/:id', async (ctx) => {
    const keyId = parseInput(keyIdParam, ctx.params.id, 'path', 'id');
    const result = await deps.tenants.revokeKey(keyId, requestId(ctx));
    deps.onKeysChanged();
    respond(ctx, result);
  });
  return router;
}
