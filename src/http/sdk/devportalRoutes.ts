import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AppError, hasCode } from '../../errors/appError.ts';
import type { BlindIndex } from '../../crypto/blindIndex.ts';
import type { FieldCipher } from '../../crypto/fieldCipher.ts';
import type { CommandContext } from '../../eventStore/metadata.ts';
import { descriptorModel, type FaceService } from '../../faces/faceService.ts';
import { aad } from '../../users/userEvents.ts';
import type { ErasureResult } from '../../users/erasure.ts';
import type { UserReadModel, UserRow } from '../../users/userReadModel.ts';
import { descriptorBodyLimit, readJsonBody } from '../jsonBody.ts';
import type { ReadConsistency } from '../readConsistency.ts';
import type { UserDirectory } from '../../users/userDirectory.ts';
import { parseInput } from '../validation.ts';
import { commandContext, type TenantResolver } from '../v1/commandRoute.ts';
import { descriptorSchema, emailSchema } from '../v1/schemas.ts';

/**
 * The routes the shipped `@facesmash/sdk` FaceSmashApiClient calls (api-contract.md "FaceSmash SDK
 * compatibility"), with its bodies and answers. They run the same commands as /v1. `appId` is
 * accepted and not used: the API key decides the tenant and mode.
 */
const appId = z.string().max(200).meta({ description: 'Accepted and not used: the API key decides the tenant and mode.' }).optional();
export const sdkMatchRequest = z.strictObject({ descriptor: descriptorSchema, appId });
export const sdkRegisterRequest = z.strictObject({
  email: emailSchema,
  fullName: z.string().trim().min(1).max(200).optional(),
  descriptor: descriptorSchema,
  qualityScore: z.number().min(0).max(1).optional(),
  appId,
});
export const sdkStatusQuery = z.strictObject({ email: emailSchema, appId });
export const sdkUnlinkRequest = z.strictObject({ email: emailSchema, appId });
export const sdkUsersQuery = z.strictObject({
  appId,
  search: z.string().max(254, 'must be at most 254 characters').optional().meta({ description: 'An exact email (case-insensitive): emails are stored encrypted, so there is no substring search.' }),
  page: z.coerce.number().int().min(1).default(1),
  perPage: z.coerce.number().int().min(1).max(100).default(20),
});

export interface DevportalDeps {
  readonly resolveTenant: TenantResolver;
  readonly faces: FaceService;
  readonly readModel: UserReadModel;
  readonly cipher: FieldCipher;
  readonly blindIndex: BlindIndex;
  readonly erase: (context: CommandContext, userId: string) => Promise<ErasureResult>;
  readonly consistency: ReadConsistency;
  readonly directory: UserDirectory;
}

export function devportalRouter(deps: DevportalDeps): Router {
  const router = new Router({ prefix: '/api/devportal' });
  const { readModel, cipher } = deps;

  const open = (userId: string, sealed: string | null, recordAad: string) => cipher.openText(userId, sealed, recordAad);
  const body = async (ctx: Context) => (await readJsonBody(ctx, descriptorBodyLimit)).value;
  const userByEmail = async (ctx: Context, email: string): Promise<UserRow | undefined> => {
    const tenant = ctx.state.tenant as CommandContext['tenant'];
    await deps.consistency.beforeRead(ctx, { tenant });
    const page = await readModel.listUsers(tenant, { page: 1, perPage: 1, sort: 'createdAt', emailIndex: deps.blindIndex.email(tenant.tenantId, tenant.mode, email) });
    return page.items[0];
  };

  router.post('/match', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'faces:identify');
    const input = parseInput(sdkMatchRequest, await body(ctx), 'body');
    const result = await deps.faces.identify(commandContext(ctx, tenant), { descriptor: Float32Array.from(input.descriptor), maxResults: 1 });
    const best = result.matches[0];
    if (!best) {
      ctx.body = { match: false, ...(result.bestSimilarity !== null ? { bestSimilarity: result.bestSimilarity } : {}) };
      return;
    }
    const row = (await deps.directory.findMany(tenant, [best.userId])).get(best.userId);
    const name = row ? await open(row.userId, row.fullNameSealed, aad.fullName(row.userId)) : null;
    ctx.body = { match: true, user: { id: best.userId, email: best.email, name, similarity: best.similarity }, bestSimilarity: best.similarity };
  });

  router.post('/register', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'faces:register');
    const input = parseInput(sdkRegisterRequest, await body(ctx), 'body');
    try {
      const result = await deps.faces.register(commandContext(ctx, tenant), {
        email: input.email,
        descriptor: Float32Array.from(input.descriptor),
        ...(input.fullName !== undefined ? { fullName: input.fullName } : {}),
        ...(input.qualityScore !== undefined ? { qualityScore: input.qualityScore } : {}),
        source: 'descriptor',
        model: descriptorModel,
      });
      ctx.status = result.created ? 201 : 200;
      ctx.body = { success: true, profileId: result.userId, created: result.created, updated: !result.created };
    } catch (error) {
      if (!hasCode(error, 'DUPLICATE_FACE')) throw error;
      // The SDK shows which account already owns this face (same tenant and mode).
      const matchedUserId = String((error as AppError).details.matchedUserId ?? '');
      const row = (await readModel.findUsers(tenant, [matchedUserId])).get(matchedUserId);
      const matchedEmail = row ? await open(row.userId, row.emailSealed, aad.email(row.userId)) : null;
      ctx.status = 409;
      ctx.body = { success: false, error: (error as Error).message, code: 'DUPLICATE_FACE', ...(matchedEmail !== null ? { matchedEmail } : {}) };
    }
  });

  router.get('/register', async (ctx) => {
    deps.resolveTenant(ctx, 'users:read');
    const query = parseInput(sdkStatusQuery, ctx.query, 'query');
    const row = await userByEmail(ctx, query.email);
    ctx.body = row
      ? { registered: true, verified: row.successfulLogins > 0, profileId: row.userId, createdAt: row.createdAt.toISOString() }
      : { registered: false };
  });

  router.delete('/register', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'users:delete');
    const input = parseInput(sdkUnlinkRequest, await body(ctx), 'body');
    const row = await userByEmail(ctx, input.email);
    if (!row) throw new AppError('NOT_FOUND', 'no user is registered with this email', { field: 'email' });
    await deps.erase(commandContext(ctx, tenant), row.userId);
    ctx.body = { success: true };
  });

  router.get('/users', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'users:read');
    const query = parseInput(sdkUsersQuery, ctx.query, 'query');
    const search = query.search?.trim();
    const emailIndex = search ? deps.blindIndex.email(tenant.tenantId, tenant.mode, search) : undefined;
    await deps.consistency.beforeRead(ctx, { tenant });
    const page = await readModel.listUsers(tenant, { page: query.page, perPage: query.perPage, sort: '-createdAt', ...(emailIndex !== undefined ? { emailIndex } : {}) });
    const items = [];
    for (const row of page.items) {
      const email = await open(row.userId, row.emailSealed, aad.email(row.userId));
      if (email === null) continue;
      items.push({
        id: row.userId,
        email,
        fullName: await open(row.userId, row.fullNameSealed, aad.fullName(row.userId)),
        // Emails are not verified by this service.
        emailVerified: false,
        loginCount: row.loginCount,
        successfulLogins: row.successfulLogins,
        lastLogin: row.lastLogin?.toISOString() ?? null,
        createdAt: row.createdAt.toISOString(),
      });
    }
    ctx.body = { items, totalItems: page.totalItems, page: query.page, perPage: query.perPage };
  });

  return router;
}
