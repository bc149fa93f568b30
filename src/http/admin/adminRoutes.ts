import { z } from 'zod';
import { allScopes, scopesAllowed } from '../../tenancy/tenantEvents.ts';
import { defaultTenantSettings } from '../../tenancy/tenant.ts';
import { allowedOriginsSchema } from '../../tenancy/origins.ts';
import type { TenantService } from '../../tenancy/tenantService.ts';
import type { GalleryAccuracy } from '../../faces/galleryAccuracy.ts';
import { falseIdentificationRate } from '../../faces/falseIdentification.ts';
import { route, routeGroup } from '../routes/declaration.ts';
import { example } from '../routes/examples.ts';
import { groups } from '../routes/groups.ts';
import { plainBodyErrors, tenantWriteErrors } from '../routes/notes.ts';
import { boundedArray } from '../validation.ts';
import { planLimits, type UsageHistory } from '../rateLimit.ts';

const plan = z.enum(['free', 'pro', 'enterprise'], { error: 'must be free, pro or enterprise' });
const settings = z
  .strictObject({
    matchThreshold: z.number().min(0.35).max(0.95),
    duplicateThreshold: z
      .number()
      .min(0.35)
      .max(0.99)
      .nullable()
      .meta({ description: 'Register refuses a face this close to another user. Null (default): the threshold identify signs faces in at (matchThreshold, or the gallery-aware one).' }),
    targetFalseIdentificationRate: z
      .number()
      .min(1e-6)
      .max(0.5)
      .nullable()
      .meta({ description: "Identify's target chance that a stranger is taken for some user. Null (default): identify uses matchThreshold; a rate: the lowest threshold, never below matchThreshold, whose estimate at the gallery's size meets it." }),
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

// Answers (tenancy/tenantService.ts: TenantView, IssuedKey, KeyView) inside the envelope.
const isoDate = z.iso.datetime();
const tenantSettings = settings.required().meta({ description: "The tenant's matching, template and retention settings (all present in answers)." });
const tenantView = z.object({ id: tenantIdParam, name: z.string(), plan, settings: tenantSettings, createdAt: isoDate });
const keyFields = {
  id: keyIdParam,
  prefix: z.string().meta({ description: 'The first 12 characters of the key, for people to recognise it; never enough to use it.' }),
  mode: issueKeyRequest.shape.mode,
  name: z.string(),
  scopes: z.array(z.enum(allScopes)),
  expiresAt: isoDate.nullable(),
  createdAt: isoDate,
  allowedOrigins: z.array(z.string()).meta({ description: 'Exact origins a browser may call the API from with this key (CORS).' }),
};
const issuedKey = z
  .object({ ...keyFields, key: z.string().regex(/^fs_(live|test)_[A-Za-z0-9_-]{43}$/).meta({ description: 'The full key: shown this once, stored only as a hash.' }) })
  .meta({ description: 'A new key, with its secret (shown once).' });
const keyView = z.object({ ...keyFields, revokedAt: isoDate.nullable(), status: z.enum(['active', 'revoked', 'expired']) }).meta({ description: 'A key without its secret.' });
const createTenantResponse = z.object({ tenant: tenantView, keys: z.object({ live: issuedKey, test: issuedKey }) });
const tenantListResponse = z.object({ tenants: z.array(tenantView) });
const tenantWithUsage = tenantView.extend({
  usage: z.object({ live: z.number().int(), test: z.number().int(), month: z.string().regex(/^\d{4}-\d{2}$/) }).meta({ description: 'Requests counted this UTC month, per mode.' }),
});
const keyListResponse = z.object({ keys: z.array(keyView) });
const revokeKeyResponse = z.object({
  revoked: z.literal(true),
  id: keyIdParam,
  alreadyRevoked: z.boolean().meta({ description: 'True when the key was revoked before: nothing changed.' }),
  revokedAt: isoDate.meta({ description: 'When the key was revoked (by this call or the earlier one).' }),
});

const accuracyQuery = z.strictObject({ mode: z.enum(['live', 'test'], { error: 'must be live or test' }).default('live').meta({ description: 'The data set (default live).' }) });
const accuracyResponse = z
  .object({
    tenantId: tenantIdParam,
    mode: z.enum(['live', 'test']),
    gallerySize: z.number().int().meta({ description: 'Users with a template in this data set (this instance\'s matcher): what identify compares a face with.' }),
    matchThreshold: z.number(),
    targetFalseIdentificationRate: z.number().nullable(),
    effectiveThreshold: z.number().meta({ description: 'The threshold identify uses now (no request threshold, no lighting adaptation).' }),
    estimatedFalseIdentificationRate: z.number().meta({ description: 'Estimated chance that a stranger reaches effectiveThreshold with some user: 1 − (1 − p)^gallerySize.' }),
    targetMet: z.boolean().meta({ description: 'False when even the highest threshold (0.95) does not meet the target (then 0.95 is used).' }),
    duplicateThreshold: z.number().meta({ description: 'The similarity at which register refuses a face as another user\'s now.' }),
    fit: z
      .object({
        source: z.enum(['gallery', 'calibration']).meta({ description: '`gallery`: fitted on this gallery\'s registrations; `calibration`: too few of them, the bench curve as is.' }),
        scale: z.number().meta({ description: 'Factor on the calibration curve that best explains the gallery\'s registrations.' }),
        observations: z.number().int().meta({ description: 'Registrations on record with the similarity of their nearest other user.' }),
        expectedTailDraws: z.number(),
      })
      .meta({ description: 'How the per-comparison false match curve of this gallery was estimated.' }),
    curve: z
      .array(z.object({ threshold: z.number(), falseMatchRate: z.number(), falseIdentificationRate: z.number() }))
      .meta({ description: 'Per threshold: the estimated false match rate of one comparison and the false identification rate at the current gallery size.' }),
    calibration: z.object({ impostorPairs: z.number().int(), minFalseMatchRate: z.number().meta({ description: 'The smallest rate verify\'s targetFalseMatchRate may ask for.' }) }),
  })
  .meta({ description: "A tenant's matching accuracy in one data set: gallery size, the estimated curve and the threshold identify uses." });

const usageCount = z.object({ period: z.string(), live: z.number().int().min(0), test: z.number().int().min(0) });
const planLimit = z.object({ perMinute: z.number().int(), perMonth: z.number().int() }).nullable().meta({ description: 'Requests per minute and per month; null when unlimited.' });
const usageQuery = z.strictObject({
  days: z.coerce.number({ error: 'must be a whole number from 1 to 400' }).int('must be a whole number from 1 to 400').min(1, 'must be a whole number from 1 to 400').max(400, 'must be a whole number from 1 to 400').default(30).meta({ description: 'How many UTC days, today included (default 30).' }),
});
const usageResponse = z.object({
  tenantId: tenantIdParam,
  plan,
  limits: z.object({ live: planLimit, test: planLimit }).meta({ description: "The plan's limits per mode (test keys always count as free)." }),
  month: z.object({ live: z.number().int(), test: z.number().int(), month: z.string().regex(/^\d{4}-\d{2}$/) }),
  days: z.array(usageCount.extend({ period: z.string().regex(/^\d{4}-\d{2}-\d{2}$/) })).meta({ description: 'Requests per UTC day, oldest first, zero-filled.' }),
  minutes: z.array(usageCount.extend({ period: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/) })).meta({ description: 'Requests per minute over the last hour, oldest first, zero-filled.' }),
});

export interface AdminDeps {
  readonly tenants: TenantService;
  readonly accuracy: GalleryAccuracy;
  readonly monthUsage: (tenantId: string) => Promise<{ live: number; test: number; month: string }>;
  /** Requests per day (the last `days`) and per minute (the last hour), per mode. */
  readonly usageHistory: (tenantId: string, days: number) => Promise<UsageHistory>;
  /** Called after a key or settings change, so cached keys on this instance are re-read. */
  readonly onKeysChanged: () => void;
}

const tenantPath = z.strictObject({ id: tenantIdParam.meta({ description: 'A tenant id (uuid).' }) });
const keyPath = z.strictObject({ id: keyIdParam.meta({ description: 'A key id (`key_…`).' }) });
const testKeyScopes = scopesAllowed('test');
const liveOnlyScopes = allScopes.filter((scope) => !testKeyScopes.includes(scope));
const exampleTenant = { id: example.tenantId, name: 'Acme sign-in', plan: 'pro', settings: defaultTenantSettings, createdAt: example.earlier } as const;
const exampleOrigins = ['https://app.example.com'];
const exampleKeyFields = { prefix: example.liveKey.slice(0, 12), mode: 'live', name: 'live key', scopes: [...allScopes], expiresAt: null, createdAt: example.earlier, allowedOrigins: exampleOrigins } as const;
const exampleKeyView = { id: example.keyId, ...exampleKeyFields, revokedAt: null, status: 'active' } as const;

/** `/admin`: operators manage tenants and keys, behind their own bearer token (ADMIN_TOKEN). */
export const adminRoutes = routeGroup<AdminDeps>(groups.admin, [
  route({
    method: 'post',
    path: '/admin/tenants',
    operationId: 'adminCreateTenant',
    summary: 'Create a tenant and its first keys',
    description: 'The answer holds one live and one test key with all the scopes their mode allows: their full values are shown this once.',
    tags: ['admin'],
    auth: { kind: 'admin' },
    body: { schema: createTenantRequest, name: 'CreateTenantRequest', description: 'A name; `plan` defaults to free, `settings` to the defaults.', limit: 'descriptor', example: { name: 'Acme sign-in', plan: 'pro', settings: { matchThreshold: 0.5 } } },
    responses: [
      {
        status: 201,
        description: 'The tenant and its first two keys.',
        schema: createTenantResponse,
        name: 'CreateTenantResponse',
        example: {
          tenant: { ...exampleTenant, settings: { ...defaultTenantSettings, matchThreshold: 0.5 } },
          keys: {
            live: { id: example.keyId, ...exampleKeyFields, allowedOrigins: [], key: example.liveKey },
            test: { id: example.testKeyId, ...exampleKeyFields, prefix: example.testKey.slice(0, 12), mode: 'test', name: 'test key', scopes: [...testKeyScopes], allowedOrigins: [], key: example.testKey },
          },
        },
      },
    ],
    errors: [...plainBodyErrors, 'INTERNAL_ERROR'],
    async handle(deps, { body, requestId }) {
      return { status: 201, data: await deps.tenants.createTenant(body, requestId) };
    },
  }),
  route({
    method: 'get',
    path: '/admin/tenants',
    operationId: 'adminListTenants',
    summary: 'List tenants',
    tags: ['admin'],
    auth: { kind: 'admin' },
    responses: [{ status: 200, description: 'Every tenant.', schema: tenantListResponse, name: 'TenantListResponse', example: { tenants: [exampleTenant] } }],
    errors: ['INTERNAL_ERROR'],
    async handle(deps) {
      return { data: { tenants: await deps.tenants.listTenants() } };
    },
  }),
  route({
    method: 'get',
    path: '/admin/tenants/{id}',
    operationId: 'adminGetTenant',
    summary: 'Get a tenant and its usage this month',
    tags: ['admin'],
    auth: { kind: 'admin' },
    params: tenantPath,
    responses: [
      {
        status: 200,
        description: 'The tenant, with requests counted this UTC month per mode.',
        schema: tenantWithUsage,
        name: 'TenantWithUsage',
        example: { ...exampleTenant, usage: { live: 48213, test: 377, month: '2026-11' } },
      },
    ],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR'],
    async handle(deps, { params }) {
      const tenant = await deps.tenants.getTenant(params.id);
      return { data: { ...tenant, usage: await deps.monthUsage(params.id) } };
    },
  }),
  route({
    method: 'get',
    path: '/admin/tenants/{id}/usage',
    operationId: 'adminTenantUsage',
    summary: "A tenant's requests per day and per minute, with its plan's limits",
    description: 'What the rate limiter counted, per mode: each UTC day of the range and each minute of the last hour (zero where nothing was counted), this month\'s total, and the limits they count against.',
    tags: ['admin'],
    auth: { kind: 'admin' },
    params: tenantPath,
    query: usageQuery,
    responses: [
      {
        status: 200,
        description: 'The counts and the limits.',
        schema: usageResponse,
        name: 'TenantUsage',
        example: {
          tenantId: example.tenantId,
          plan: 'pro',
          limits: { live: planLimits.pro, test: planLimits.free },
          month: { live: 48213, test: 377, month: '2026-11' },
          days: [
            { period: '2026-11-29', live: 1520, test: 12 },
            { period: '2026-11-30', live: 1688, test: 0 },
          ],
          minutes: [
            { period: '2026-11-30T14:01', live: 41, test: 0 },
            { period: '2026-11-30T14:02', live: 37, test: 2 },
          ],
        },
      },
    ],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR'],
    async handle(deps, { params, query }) {
      const tenant = await deps.tenants.getTenant(params.id);
      const [month, history] = await Promise.all([deps.monthUsage(params.id), deps.usageHistory(params.id, query.days)]);
      return { data: { tenantId: tenant.id, plan: tenant.plan, limits: { live: planLimits[tenant.plan], test: planLimits.free }, month, ...history } };
    },
  }),
  route({
    method: 'patch',
    path: '/admin/tenants/{id}',
    operationId: 'adminUpdateTenant',
    summary: "Change a tenant's plan or settings",
    description: 'Settings not sent keep their value. Keys cached by this instance are re-read at once; other instances see the change within seconds.',
    tags: ['admin'],
    auth: { kind: 'admin' },
    params: tenantPath,
    body: { schema: patchTenantRequest, name: 'PatchTenantRequest', description: '`plan` and/or some `settings`.', limit: 'descriptor', example: { plan: 'enterprise', settings: { logRetentionDays: 30 } } },
    responses: [
      { status: 200, description: 'The tenant as changed.', schema: tenantView, name: 'TenantView', example: { ...exampleTenant, plan: 'enterprise', settings: { ...defaultTenantSettings, logRetentionDays: 30 } } },
    ],
    errors: [...plainBodyErrors, 'NOT_FOUND', ...tenantWriteErrors],
    async handle(deps, { params, body, requestId }) {
      const tenant = await deps.tenants.changeSettings(params.id, body, requestId);
      deps.onKeysChanged();
      return { data: tenant };
    },
  }),
  route({
    method: 'get',
    path: '/admin/tenants/{id}/accuracy',
    operationId: 'adminGetTenantAccuracy',
    summary: "A tenant's matching accuracy: gallery size, false identification curve, effective threshold",
    description:
      'Each registration records how close the nearest other user came (a number, nothing personal); from those, per data set, the per-comparison false match curve of this gallery is fitted to the shape measured by `npm run bench:accuracy`. The false identification rate of a stranger at N users is 1 − (1 − p)^N. With `targetFalseIdentificationRate`, identify uses the lowest threshold, never below matchThreshold, whose estimate meets it.',
    tags: ['admin'],
    auth: { kind: 'admin' },
    params: tenantPath,
    query: accuracyQuery,
    responses: [
      {
        status: 200,
        description: 'The curve, the gallery size and the threshold identify uses now.',
        schema: accuracyResponse,
        name: 'TenantAccuracy',
        example: {
          tenantId: example.tenantId,
          mode: 'live',
          gallerySize: 12840,
          matchThreshold: 0.45,
          targetFalseIdentificationRate: 0.001,
          effectiveThreshold: 0.62,
          estimatedFalseIdentificationRate: 0.00094,
          targetMet: true,
          duplicateThreshold: 0.62,
          fit: { source: 'gallery', scale: 0.41, observations: 12839, expectedTailDraws: 3120.5 },
          curve: [
            { threshold: 0.45, falseMatchRate: 0.00026, falseIdentificationRate: 0.9654 },
            { threshold: 0.55, falseMatchRate: 0.0000421, falseIdentificationRate: 0.4178 },
            { threshold: 0.65, falseMatchRate: 0.0000041, falseIdentificationRate: 0.0513 },
          ],
          calibration: { impostorPairs: 12403, minFalseMatchRate: 0.0000806 },
        },
      },
    ],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR'],
    async handle(deps, { params, query }) {
      const tenant = await deps.tenants.getTenant(params.id);
      const key = { tenantId: tenant.id, mode: query.mode };
      const { settings } = tenant;
      const [fit, chosen] = await Promise.all([deps.accuracy.fit(key), deps.accuracy.identifyThreshold(key, settings, settings.matchThreshold, false)]);
      const curve = [];
      for (let bin = 70; bin <= 190; bin += 10) {
        const threshold = bin / 200;
        const falseMatchRate = fit.rate(threshold);
        curve.push({ threshold, falseMatchRate, falseIdentificationRate: falseIdentificationRate(falseMatchRate, chosen.gallerySize) });
      }
      return {
        data: {
          tenantId: tenant.id,
          mode: query.mode,
          gallerySize: chosen.gallerySize,
          matchThreshold: settings.matchThreshold,
          targetFalseIdentificationRate: settings.targetFalseIdentificationRate,
          effectiveThreshold: chosen.threshold,
          estimatedFalseIdentificationRate: chosen.estimatedFalseIdentificationRate,
          targetMet: chosen.targetMet,
          duplicateThreshold: settings.duplicateThreshold ?? chosen.threshold,
          fit: { source: fit.source, scale: fit.scale, observations: fit.observations, expectedTailDraws: fit.expectedTailDraws },
          curve,
          calibration: { impostorPairs: deps.accuracy.calibration.impostorPairs, minFalseMatchRate: deps.accuracy.minFalseMatchRate },
        },
      };
    },
  }),
  route({
    method: 'post',
    path: '/admin/tenants/{id}/keys',
    operationId: 'adminIssueKey',
    summary: 'Issue an API key',
    description: `\`scopes\` default to all the mode allows; test keys cannot hold ${liveOnlyScopes.map((scope) => `\`${scope}\``).join(' or ')} (400). \`expiresAt\`, if given, must be in the future. \`allowedOrigins\` lists the exact origins a browser may use the key from (CORS). The full key is shown this once.`,
    tags: ['admin'],
    auth: { kind: 'admin' },
    params: tenantPath,
    body: {
      schema: issueKeyRequest,
      name: 'IssueKeyRequest',
      description: 'The mode, and optionally a name, scopes, an expiry and allowed origins.',
      limit: 'descriptor',
      example: { mode: 'live', name: 'web sign-in', scopes: ['faces:verify', 'faces:identify'], allowedOrigins: exampleOrigins },
    },
    responses: [
      {
        status: 201,
        description: 'The key, with its secret.',
        schema: issuedKey,
        name: 'IssuedKey',
        example: { id: example.keyId, ...exampleKeyFields, name: 'web sign-in', scopes: ['faces:verify', 'faces:identify'], key: example.liveKey },
      },
    ],
    errors: [...plainBodyErrors, 'NOT_FOUND', ...tenantWriteErrors],
    async handle(deps, { params, body, requestId }) {
      await deps.tenants.getTenant(params.id);
      const issued = await deps.tenants.issueKey(params.id, body, requestId);
      deps.onKeysChanged();
      return { status: 201, data: issued };
    },
  }),
  route({
    method: 'get',
    path: '/admin/tenants/{id}/keys',
    operationId: 'adminListKeys',
    summary: "List a tenant's keys",
    tags: ['admin'],
    auth: { kind: 'admin' },
    params: tenantPath,
    responses: [{ status: 200, description: 'The keys, without their secret part.', schema: keyListResponse, name: 'KeyListResponse', example: { keys: [exampleKeyView] } }],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR'],
    async handle(deps, { params }) {
      return { data: { keys: await deps.tenants.listKeys(params.id) } };
    },
  }),
  route({
    method: 'patch',
    path: '/admin/keys/{id}',
    operationId: 'adminChangeKeyOrigins',
    summary: 'Set the origins a browser may use an API key from',
    description: 'Replaces the whole list (an ApiKeyOriginsChanged event). Preflights from an origin answer 204 while some active key allows it; a request whose Origin its own key does not list is 403.',
    tags: ['admin'],
    auth: { kind: 'admin' },
    params: keyPath,
    body: { schema: patchKeyRequest, name: 'PatchKeyRequest', description: 'The allowed origins, as they should be.', limit: 'descriptor', example: { allowedOrigins: [...exampleOrigins, 'https://staging.example.com'] } },
    responses: [
      { status: 200, description: 'The key as it is now.', schema: keyView, name: 'KeyView', example: { ...exampleKeyView, allowedOrigins: [...exampleOrigins, 'https://staging.example.com'] } },
    ],
    errors: [...plainBodyErrors, 'NOT_FOUND', ...tenantWriteErrors],
    async handle(deps, { params, body, requestId }) {
      const key = await deps.tenants.changeKeyOrigins(params.id, body.allowedOrigins, requestId);
      deps.onKeysChanged();
      return { data: key };
    },
  }),
  route({
    method: 'delete',
    path: '/admin/keys/{id}',
    operationId: 'adminRevokeKey',
    summary: 'Revoke an API key',
    description: 'The key is refused (401) at once on this instance; other instances see the revocation within seconds.',
    tags: ['admin'],
    auth: { kind: 'admin' },
    params: keyPath,
    responses: [
      { status: 200, description: 'The key was revoked.', schema: revokeKeyResponse, name: 'RevokeKeyResponse', example: { revoked: true, id: example.keyId, alreadyRevoked: false, revokedAt: example.at } },
    ],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', ...tenantWriteErrors],
    async handle(deps, { params, requestId }) {
      const result = await deps.tenants.revokeKey(params.id, requestId);
      deps.onKeysChanged();
      return { data: result };
    },
  }),
]);
