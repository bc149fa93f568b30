import { z } from 'zod';
import { AppError, hasCode } from '../../errors/appError.ts';
import type { BlindIndex } from '../../crypto/blindIndex.ts';
import type { FieldCipher } from '../../crypto/fieldCipher.ts';
import type { CommandContext } from '../../eventStore/metadata.ts';
import { descriptorModel, type FaceService } from '../../faces/faceService.ts';
import type { TenantContext } from '../../tenancy/tenant.ts';
import { aad } from '../../users/userEvents.ts';
import type { ErasureResult } from '../../users/erasure.ts';
import type { UserReadModel, UserRow } from '../../users/userReadModel.ts';
import type { UserDirectory } from '../../users/userDirectory.ts';
import type { Context } from 'koa';
import type { ReadConsistency } from '../readConsistency.ts';
import { route, routeGroup } from '../routes/declaration.ts';
import { example, exampleDescriptor } from '../routes/examples.ts';
import { groups } from '../routes/groups.ts';
import { commandErrors, plainBodyErrors, readErrors, sdkNote } from '../routes/notes.ts';
import { descriptorSchema, emailSchema, userIdSchema } from '../v1/schemas.ts';

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

const isoDate = z.iso.datetime();
const sdkDuplicateFace = z
  .object({
    success: z.literal(false),
    error: z.string(),
    code: z.literal('DUPLICATE_FACE'),
    matchedEmail: z.string().optional().meta({ description: 'The email of the user (same tenant and mode) the face already belongs to.' }),
  })
  .meta({ description: 'The face already belongs to another user.' });
const sdkMatchResponse = z.union([
  z.object({
    match: z.literal(true),
    user: z.object({ id: userIdSchema, email: z.string(), name: z.string().nullable(), similarity: z.number() }),
    bestSimilarity: z.number(),
  }),
  z.object({ match: z.literal(false), bestSimilarity: z.number().optional().meta({ description: 'Absent when there was nobody to compare with.' }) }),
]);
const sdkRegisterResponse = z.object({ success: z.literal(true), profileId: userIdSchema, created: z.boolean(), updated: z.boolean() });
const sdkRegistrationStatus = z.union([
  z.object({
    registered: z.literal(true),
    verified: z.boolean().meta({ description: 'True once the user has signed in successfully.' }),
    profileId: userIdSchema,
    createdAt: isoDate,
  }),
  z.object({ registered: z.literal(false) }),
]);
const sdkUnlinkResponse = z.object({ success: z.literal(true) });
const sdkUsersResponse = z.object({
  items: z.array(
    z.object({
      id: userIdSchema,
      email: z.string(),
      fullName: z.string().nullable(),
      emailVerified: z.boolean().meta({ description: 'Always false: this service does not verify emails.' }),
      loginCount: z.number().int(),
      successfulLogins: z.number().int(),
      lastLogin: isoDate.nullable(),
      createdAt: isoDate,
    }),
  ),
  totalItems: z.number().int(),
  page: z.number().int(),
  perPage: z.number().int(),
});

export interface DevportalDeps {
  readonly faces: FaceService;
  readonly readModel: UserReadModel;
  readonly cipher: FieldCipher;
  readonly blindIndex: BlindIndex;
  readonly erase: (context: CommandContext, userId: string) => Promise<ErasureResult>;
  readonly consistency: ReadConsistency;
  readonly directory: UserDirectory;
}

const open = (deps: DevportalDeps, userId: string, sealed: string | null, recordAad: string) => deps.cipher.openText(userId, sealed, recordAad);

async function userByEmail(deps: DevportalDeps, ctx: Context, tenant: TenantContext, email: string): Promise<UserRow | undefined> {
  await deps.consistency.beforeRead(ctx, { tenant });
  const page = await deps.readModel.listUsers(tenant, { page: 1, perPage: 1, sort: 'createdAt', emailIndex: deps.blindIndex.email(tenant.tenantId, tenant.mode, email) });
  return page.items[0];
}

export const devportalRoutes = routeGroup<DevportalDeps>(groups.sdk, [
  route({
    method: 'post',
    path: '/api/devportal/match',
    operationId: 'sdkMatch',
    summary: 'Find whose face this is (SDK)',
    description: `The best match at or over the tenant's threshold (1:N, like \`POST /v1/faces/identify\` with one result); a sign-in attempt is recorded.\n\n${sdkNote}`,
    tags: ['sdk'],
    auth: { kind: 'key', scope: 'faces:identify' },
    body: { schema: sdkMatchRequest, name: 'SdkMatchRequest', description: 'A descriptor.', limit: 'descriptor', example: { descriptor: exampleDescriptor } },
    responses: [
      {
        status: 200,
        description: 'Match or not: `match` tells.',
        schema: sdkMatchResponse,
        name: 'SdkMatchResponse',
        example: { match: true, user: { id: example.userId, email: example.email, name: example.fullName, similarity: 0.8731 }, bestSimilarity: 0.8731 },
      },
    ],
    errors: [...plainBodyErrors, ...commandErrors],
    async handle(deps, { body, context, tenant }) {
      const result = await deps.faces.identify(context, { descriptor: Float32Array.from(body.descriptor), maxResults: 1 });
      const best = result.matches[0];
      if (!best) return { data: { match: false, ...(result.bestSimilarity !== null ? { bestSimilarity: result.bestSimilarity } : {}) } };
      const row = (await deps.directory.findMany(tenant, [best.userId])).get(best.userId);
      const name = row ? await open(deps, row.userId, row.fullNameSealed, aad.fullName(row.userId)) : null;
      return { data: { match: true, user: { id: best.userId, email: best.email, name, similarity: best.similarity }, bestSimilarity: best.similarity } };
    },
  }),
  route({
    method: 'post',
    path: '/api/devportal/register',
    operationId: 'sdkRegister',
    summary: 'Register a face (SDK)',
    description: `A new email creates the user (201); a known email adds a template to that user (200). A face that already belongs to another user is refused (409, with that user's email).\n\n${sdkNote}`,
    tags: ['sdk'],
    auth: { kind: 'key', scope: 'faces:register' },
    body: { schema: sdkRegisterRequest, name: 'SdkRegisterRequest', description: 'An email and a descriptor.', limit: 'descriptor', example: { email: example.email, fullName: example.fullName, descriptor: exampleDescriptor } },
    responses: [
      { status: 201, description: 'A new user was created (`created: true`).', schema: sdkRegisterResponse, name: 'SdkRegisterResponse', example: { success: true, profileId: example.userId, created: true, updated: false } },
      { status: 200, description: 'A template was added to the user with this email (`updated: true`).', schema: sdkRegisterResponse, name: 'SdkRegisterResponse', example: { success: true, profileId: example.userId, created: false, updated: true } },
      {
        status: 409,
        description: 'DUPLICATE_FACE: the face already belongs to another user.',
        schema: sdkDuplicateFace,
        name: 'SdkDuplicateFaceError',
        example: { success: false, error: 'this face is already registered to another user', code: 'DUPLICATE_FACE', matchedEmail: example.otherEmail },
      },
    ],
    errors: [...plainBodyErrors, 'LOW_QUALITY', ...commandErrors],
    async handle(deps, { body, context, tenant }) {
      try {
        const result = await deps.faces.register(context, {
          email: body.email,
          descriptor: Float32Array.from(body.descriptor),
          ...(body.fullName !== undefined ? { fullName: body.fullName } : {}),
          ...(body.qualityScore !== undefined ? { qualityScore: body.qualityScore } : {}),
          source: 'descriptor',
          model: descriptorModel,
        });
        return { status: result.created ? 201 : 200, data: { success: true, profileId: result.userId, created: result.created, updated: !result.created }, position: result.position };
      } catch (error) {
        if (!hasCode(error, 'DUPLICATE_FACE')) throw error;
        // The SDK shows which account already owns this face (same tenant and mode).
        const matchedUserId = String((error as AppError).details.matchedUserId ?? '');
        const row = (await deps.readModel.findUsers(tenant, [matchedUserId])).get(matchedUserId);
        const matchedEmail = row ? await open(deps, row.userId, row.emailSealed, aad.email(row.userId)) : null;
        return { status: 409, data: { success: false, error: (error as Error).message, code: 'DUPLICATE_FACE', ...(matchedEmail !== null ? { matchedEmail } : {}) } };
      }
    },
  }),
  route({
    method: 'get',
    path: '/api/devportal/register',
    operationId: 'sdkRegistrationStatus',
    summary: 'Is this email registered? (SDK)',
    description: sdkNote,
    tags: ['sdk'],
    auth: { kind: 'key', scope: 'users:read' },
    query: sdkStatusQuery,
    readAfter: true,
    responses: [
      {
        status: 200,
        description: 'Registered or not: `registered` tells.',
        schema: sdkRegistrationStatus,
        name: 'SdkRegistrationStatus',
        example: { registered: true, verified: true, profileId: example.userId, createdAt: example.earlier },
      },
    ],
    errors: ['VALIDATION_ERROR', ...readErrors],
    async handle(deps, { query, tenant }, ctx) {
      const row = await userByEmail(deps, ctx, tenant, query.email);
      return { data: row ? { registered: true, verified: row.successfulLogins > 0, profileId: row.userId, createdAt: row.createdAt.toISOString() } : { registered: false } };
    },
  }),
  route({
    method: 'delete',
    path: '/api/devportal/register',
    operationId: 'sdkUnregister',
    summary: 'Erase the user with this email (SDK)',
    description: `Erases the user's personal data (crypto-shredding), like \`DELETE /v1/users/{id}\`. The email travels in a JSON body.\n\n${sdkNote}`,
    tags: ['sdk'],
    auth: { kind: 'key', scope: 'users:delete' },
    body: { schema: sdkUnlinkRequest, name: 'SdkUnlinkRequest', description: 'The email of the user to erase.', limit: 'descriptor', example: { email: example.email } },
    responses: [{ status: 200, description: 'The user was erased.', schema: sdkUnlinkResponse, name: 'SdkUnlinkResponse', example: { success: true } }],
    errors: [...plainBodyErrors, 'NOT_FOUND', ...commandErrors],
    async handle(deps, { body, context, tenant }, ctx) {
      const row = await userByEmail(deps, ctx, tenant, body.email);
      if (!row) throw new AppError('NOT_FOUND', 'no user is registered with this email', { field: 'email' });
      await deps.erase(context, row.userId);
      return { data: { success: true } };
    },
  }),
  route({
    method: 'get',
    path: '/api/devportal/users',
    operationId: 'sdkListUsers',
    summary: 'List users (SDK)',
    description: `Newest first.\n\n${sdkNote}`,
    tags: ['sdk'],
    auth: { kind: 'key', scope: 'users:read' },
    query: sdkUsersQuery,
    readAfter: true,
    responses: [
      {
        status: 200,
        description: 'One page of users.',
        schema: sdkUsersResponse,
        name: 'SdkUsersResponse',
        example: {
          items: [{ id: example.userId, email: example.email, fullName: example.fullName, emailVerified: false, loginCount: 37, successfulLogins: 36, lastLogin: example.at, createdAt: example.earlier }],
          totalItems: 1,
          page: 1,
          perPage: 20,
        },
      },
    ],
    errors: ['VALIDATION_ERROR', ...readErrors],
    async handle(deps, { query, tenant }, ctx) {
      const search = query.search?.trim();
      const emailIndex = search ? deps.blindIndex.email(tenant.tenantId, tenant.mode, search) : undefined;
      await deps.consistency.beforeRead(ctx, { tenant });
      const page = await deps.readModel.listUsers(tenant, { page: query.page, perPage: query.perPage, sort: '-createdAt', ...(emailIndex !== undefined ? { emailIndex } : {}) });
      const items = [];
      for (const row of page.items) {
        const email = await open(deps, row.userId, row.emailSealed, aad.email(row.userId));
        if (email === null) continue;
        items.push({
          id: row.userId,
          email,
          fullName: await open(deps, row.userId, row.fullNameSealed, aad.fullName(row.userId)),
          // Emails are not verified by this service.
          emailVerified: false,
          loginCount: row.loginCount,
          successfulLogins: row.successfulLogins,
          lastLogin: row.lastLogin?.toISOString() ?? null,
          createdAt: row.createdAt.toISOString(),
        });
      }
      return { data: { items, totalItems: page.totalItems, page: query.page, perPage: query.perPage } };
    },
  }),
]);
