import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { errorStatus, type ErrorCode } from '../errors/appError.ts';
import { maxWebhooks } from '../tenancy/tenantDecider.ts';
import { allScopes, scopesAllowed, type Scope } from '../tenancy/tenantEvents.ts';
import { webhookEventNames } from '../webhooks/payload.ts';
import { createTenantRequest, issueKeyRequest, keyIdParam, patchKeyRequest, patchTenantRequest, tenantIdParam } from './admin/adminRoutes.ts';
import { descriptorBodyLimit, imageBodyLimit } from './jsonBody.ts';
import { planLimits } from './rateLimit.ts';
import {
  deleteTemplateResponse,
  deleteUserResponse,
  identifyRequest,
  identifyResponse,
  listLogsQuery,
  listUsersQuery,
  listUsersResponse,
  listErasuresQuery,
  listErasuresResponse,
  logsResponse,
  detectRequest,
  detectResponse,
  historyQuery,
  historyResponse,
  registerRequest,
  registerResponse,
  templateIdSchema,
  templatesResponse,
  userIdSchema,
  userResponse,
  verifyRequest,
  verifyResponse,
} from './v1/schemas.ts';
import { sdkMatchRequest, sdkRegisterRequest, sdkStatusQuery, sdkUnlinkRequest, sdkUsersQuery } from './sdk/devportalRoutes.ts';
import { createWebhookRequest, deliveriesQuery, webhookIdSchema } from './v1/webhooksRoutes.ts';

/** A JSON Schema (draft 2020-12) or OpenAPI object, as plain JSON. */
export type JsonObject = { [key: string]: unknown };

/** One way to authenticate: a security scheme's name and (always empty here) its OAuth scopes. */
export type SecurityRequirement = Readonly<Record<string, readonly string[]>>;

export interface OpenApiOperation {
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  /** Alternatives, any one of which authenticates; `[]` means no authentication. */
  readonly security: readonly SecurityRequirement[];
  /** The API-key scope the operation needs (403 FORBIDDEN without it). */
  readonly 'x-required-scope'?: Scope;
  readonly parameters?: readonly JsonObject[];
  readonly requestBody?: JsonObject;
  readonly responses: Readonly<Record<string, JsonObject>>;
}

/** An operation before its authentication is applied (see `keyed`, `admin`, `open`). */
type OperationDraft = Omit<OpenApiOperation, 'security' | 'x-required-scope'>;
type Responses = Record<string, JsonObject>;

export type HttpMethod = 'get' | 'post' | 'patch' | 'delete';

export interface OpenApiDocument {
  readonly openapi: '3.1.0';
  readonly info: { readonly title: string; readonly version: string; readonly description: string };
  readonly servers: readonly { readonly url: string }[];
  readonly tags: readonly { readonly name: string; readonly description: string }[];
  readonly paths: Readonly<Record<string, Partial<Record<HttpMethod, OpenApiOperation>>>>;
  readonly components: {
    readonly schemas: Readonly<Record<string, JsonObject>>;
    readonly parameters: Readonly<Record<string, JsonObject>>;
    readonly headers: Readonly<Record<string, JsonObject>>;
    readonly securitySchemes: Readonly<Record<string, JsonObject>>;
  };
}

const schemaRef = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });
const parameterRef = (name: string) => ({ $ref: `#/components/parameters/${name}` });

// The envelope and the health answers are not in schemas.ts (they are not /v1 resources); they are
// declared here with zod so every schema of the document comes out of the same converter.
const isoDate = z.iso.datetime();
const requestIdSchema = z.string().regex(/^req_[0-9a-f]+$/);
const metaSchema = z
  .object({ requestId: requestIdSchema, timestamp: isoDate })
  .meta({ description: 'Present on every response; `requestId` equals the X-Request-Id header.' });
const errorCodes = Object.keys(errorStatus) as [ErrorCode, ...ErrorCode[]];
const errorSchema = z
  .object({
    success: z.literal(false),
    error: z.object({
      code: z.enum(errorCodes).meta({ description: 'Stable, for programs.' }),
      message: z.string().meta({ description: 'For people; names the offending field first on VALIDATION_ERROR.' }),
      details: z.record(z.string(), z.unknown()),
    }),
    meta: metaSchema,
  })
  .meta({ description: 'The error envelope.' });
const healthResponse = z.object({ status: z.literal('ok'), uptimeSeconds: z.number().int() });
const readinessResponse = z.object({
  status: z.literal('ready'),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean() }).catchall(z.unknown())),
});

// /admin answers (tenancy/tenantService.ts: TenantView, IssuedKey, KeyView) inside the envelope.
// Requests are adminRoutes.ts's own schemas; the settings, plan and mode below are taken from them.
const planSchema = createTenantRequest.shape.plan.unwrap();
const tenantSettingsSchema = patchTenantRequest.shape.settings
  .unwrap()
  .required()
  .meta({ description: 'The tenant\'s matching, template and retention settings (all present in answers).' });
// The path parameters of adminRoutes.ts.
const tenantIdSchema = tenantIdParam;
const keyIdSchema = keyIdParam;
const tenantView = z.object({ id: tenantIdSchema, name: z.string(), plan: planSchema, settings: tenantSettingsSchema, createdAt: isoDate });
const keyFields = {
  id: keyIdSchema,
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
const keyView = z
  .object({ ...keyFields, revokedAt: isoDate.nullable(), status: z.enum(['active', 'revoked', 'expired']) })
  .meta({ description: 'A key without its secret.' });
const createTenantResponse = z.object({ tenant: tenantView, keys: z.object({ live: issuedKey, test: issuedKey }) });
const tenantListResponse = z.object({ tenants: z.array(tenantView) });
const tenantWithUsage = tenantView.extend({
  usage: z
    .object({ live: z.number().int(), test: z.number().int(), month: z.string().regex(/^\d{4}-\d{2}$/) })
    .meta({ description: 'Requests counted this UTC month, per mode.' }),
});
const keyListResponse = z.object({ keys: z.array(keyView) });
const revokeKeyResponse = z.object({
  revoked: z.literal(true),
  id: keyIdSchema,
  alreadyRevoked: z.boolean().meta({ description: 'True when the key was revoked before: nothing changed.' }),
  revokedAt: isoDate.meta({ description: 'When the key was revoked (by this call or the earlier one).' }),
});

// /v1/webhooks answers (webhooks/webhookService.ts WebhookView; the delivery log of v1/webhooksRoutes.ts).
const webhookEvents = z.array(z.enum(webhookEventNames));
const webhookStatus = z.enum(['active', 'failing']).meta({ description: '`failing` once a delivery used up its attempts: deliveries pause.' });
const createdWebhook = z.object({
  id: webhookIdSchema,
  url: z.string(),
  events: webhookEvents,
  status: webhookStatus,
  createdAt: isoDate,
  secret: z.string().regex(/^whsec_[A-Za-z0-9_-]+$/).meta({ description: 'Signs deliveries: X-FaceSmash-Signature is the hex HMAC-SHA256 of the raw body, X-FaceSmash-Signature-256 is `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` (replay-safe). Shown this once.' }),
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

// The SDK routes (sdk/devportalRoutes.ts, api-contract.md "FaceSmash SDK compatibility") answer flat bodies.
const sdkErrorSchema = z
  .object({
    success: z.literal(false),
    error: z.string().meta({ description: 'The message, for people (the SDK shows it).' }),
    code: z.enum(errorCodes),
    details: z.record(z.string(), z.unknown()),
    requestId: requestIdSchema.meta({ description: 'Equals the X-Request-Id header.' }),
  })
  .meta({ description: 'A failure of an SDK route: flat, with `error` a string (the SDK ignores the HTTP status and reads it).' });
const sdkDuplicateFaceSchema = z
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

/** Face requests: "exactly one of descriptor or image" is restated on them (see `withOneFace`). */
const faceRequestSchemas = { RegisterRequest: registerRequest, VerifyRequest: verifyRequest, IdentifyRequest: identifyRequest };
const otherRequestSchemas = {
  CreateTenantRequest: createTenantRequest,
  PatchTenantRequest: patchTenantRequest,
  IssueKeyRequest: issueKeyRequest,
  CreateWebhookRequest: createWebhookRequest,
  SdkMatchRequest: sdkMatchRequest,
  SdkRegisterRequest: sdkRegisterRequest,
  SdkUnlinkRequest: sdkUnlinkRequest,
};
const responseSchemas = {
  Meta: metaSchema,
  Error: errorSchema,
  RegisterResponse: registerResponse,
  VerifyResponse: verifyResponse,
  IdentifyResponse: identifyResponse,
  TemplatesResponse: templatesResponse,
  DeleteTemplateResponse: deleteTemplateResponse,
  ListUsersResponse: listUsersResponse,
  ListErasuresResponse: listErasuresResponse,
  UserResponse: userResponse,
  DeleteUserResponse: deleteUserResponse,
  LogsResponse: logsResponse,
  DetectRequest: detectRequest,
  DetectResponse: detectResponse,
  HistoryResponse: historyResponse,
  CreatedWebhook: createdWebhook,
  WebhookView: webhookView,
  WebhookListResponse: webhookListResponse,
  DeleteWebhookResponse: deleteWebhookResponse,
  DeliveriesResponse: deliveriesResponse,
  ResumeWebhookResponse: resumeWebhookResponse,
  HealthResponse: healthResponse,
  ReadinessResponse: readinessResponse,
  TenantSettings: tenantSettingsSchema,
  TenantView: tenantView,
  IssuedKey: issuedKey,
  KeyView: keyView,
  CreateTenantResponse: createTenantResponse,
  TenantListResponse: tenantListResponse,
  TenantWithUsage: tenantWithUsage,
  KeyListResponse: keyListResponse,
  RevokeKeyResponse: revokeKeyResponse,
  PatchKeyRequest: patchKeyRequest,
  SdkError: sdkErrorSchema,
  SdkDuplicateFaceError: sdkDuplicateFaceSchema,
  SdkMatchResponse: sdkMatchResponse,
  SdkRegisterResponse: sdkRegisterResponse,
  SdkRegistrationStatus: sdkRegistrationStatus,
  SdkUnlinkResponse: sdkUnlinkResponse,
  SdkUsersResponse: sdkUsersResponse,
};

const conversion = { target: 'draft-2020-12', unrepresentable: 'any', uri: (id: string) => `#/components/schemas/${id}` } as const;

/**
 * Converts named zod schemas into `components.schemas` entries. A registry makes references between
 * them (`Error.meta` → `Meta`) come out as `$ref`s into the document instead of inline copies.
 */
function componentSchemas(named: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { ...conversion, io }) as { schemas: Record<string, JsonObject> };
  const result: Record<string, JsonObject> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    const { $schema: _schema, $id: _id, ...rest } = schema;
    result[id] = rest;
  }
  return result;
}

/**
 * "Exactly one of descriptor or image" is a zod refinement, which JSON Schema conversion cannot see;
 * it is restated here so generated clients and validators know it.
 */
function withOneFace(schemas: Record<string, JsonObject>): Record<string, JsonObject> {
  const result: Record<string, JsonObject> = {};
  for (const [id, schema] of Object.entries(schemas)) result[id] = { ...schema, oneOf: [{ required: ['descriptor'] }, { required: ['image'] }] };
  return result;
}

/** One schema, inline (path and query parameters). */
function inlineSchema(schema: z.ZodType): JsonObject {
  const { $schema: _schema, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any', io: 'input' }) as JsonObject;
  return rest;
}

function queryParameters(schema: z.ZodType): JsonObject[] {
  const json = inlineSchema(schema) as { properties?: Record<string, JsonObject>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: 'query',
    required: json.required?.includes(name) ?? false,
    schema: property,
    ...(typeof property.description === 'string' ? { description: property.description } : {}),
  }));
}

function pathParameter(name: string, schema: z.ZodType, description: string): JsonObject {
  return { name, in: 'path', required: true, description, schema: inlineSchema(schema) };
}

const requestIdHeader = { 'X-Request-Id': headerRef('X-Request-Id') };

/** A success in the envelope: `{success: true, data, meta}`. */
function success(status: number, dataSchema: string, description: string, extraHeaders: Record<string, JsonObject> = {}): Responses {
  return {
    [status]: {
      description,
      headers: { ...requestIdHeader, ...extraHeaders },
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['success', 'data', 'meta'],
            properties: { success: { const: true }, data: schemaRef(dataSchema), meta: schemaRef('Meta') },
          },
        },
      },
    },
  };
}

/** A success of an SDK route: the flat body itself. */
function flat(status: number, schemaName: string, description: string): Responses {
  return { [status]: { description, headers: { ...requestIdHeader }, content: { 'application/json': { schema: schemaRef(schemaName) } } } };
}

/** The envelope (`Error`, code at `error.code`) or the SDK routes' flat body (`SdkError`, code at `code`). */
type ErrorShape = 'envelope' | 'sdk';

/** The error schema narrowed to some codes (and, optionally, to some `details`). */
function errorContent(shape: ErrorShape, codes: readonly ErrorCode[], details?: JsonObject): JsonObject {
  const narrowed = { code: { enum: codes }, ...(details ? { details } : {}) };
  return {
    'application/json': {
      schema:
        shape === 'envelope'
          ? { allOf: [schemaRef('Error'), { properties: { error: { properties: narrowed } } }] }
          : { allOf: [schemaRef('SdkError'), { properties: narrowed }] },
    },
  };
}

/** Error responses grouped by status; each narrows `code` to what the route can answer. */
function errorsOf(shape: ErrorShape, codes: readonly ErrorCode[], description?: string): Responses {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(errorStatus[code], [...(byStatus.get(errorStatus[code]) ?? []), code]);
  const responses: Responses = {};
  for (const [status, group] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[status] = { description: description ?? group.join(' or '), headers: { ...requestIdHeader }, content: errorContent(shape, group) };
  }
  return responses;
}

const errors = (...codes: ErrorCode[]): Responses => errorsOf('envelope', codes);
const sdkErrors = (...codes: ErrorCode[]): Responses => errorsOf('sdk', codes);

function jsonBody(schemaName: string, description: string): JsonObject {
  return { required: true, description, content: { 'application/json': { schema: schemaRef(schemaName) } } };
}

const keySecurity: readonly SecurityRequirement[] = [{ bearerKey: [] }, { apiKeyHeader: [] }];
const adminSecurity: readonly SecurityRequirement[] = [{ adminToken: [] }];
const rateHeaders = {
  'X-RateLimit-Limit': headerRef('X-RateLimit-Limit'),
  'X-RateLimit-Remaining': headerRef('X-RateLimit-Remaining'),
  'X-RateLimit-Reset': headerRef('X-RateLimit-Reset'),
};
const testKeyScopes = scopesAllowed('test');
const liveOnlyScopes = allScopes.filter((scope) => !testKeyScopes.includes(scope));
const plans = Object.entries(planLimits)
  .map(([plan, limits]) => (limits ? `${plan} ${limits.perMinute}/min and ${limits.perMonth}/month` : `${plan} unlimited`))
  .join(', ');

const join = (...parts: Array<string | undefined>) => parts.filter((part) => part !== undefined && part !== '').join('\n\n');

/**
 * An operation behind an API key (the /v1 and SDK guard, http/v1/guard.ts): key security, the scope
 * it needs, 401/403/429 in the route's error shape, and the rate-limit headers on every answer the
 * guard let through to counting (all but 401), plus Retry-After on 429.
 */
function keyed(scope: Scope, shape: ErrorShape, draft: OperationDraft): OpenApiOperation {
  const guard: Responses = {
    ...errorsOf(shape, ['UNAUTHORIZED'], 'UNAUTHORIZED: no API key, or an unknown, revoked or expired one.'),
    403: {
      description: `FORBIDDEN: the key lacks the \`${scope}\` scope (named in \`details.scope\`).`,
      headers: { ...requestIdHeader },
      content: errorContent(shape, ['FORBIDDEN'], { type: 'object', required: ['scope'], properties: { scope: { const: scope } } }),
    },
    ...errorsOf(shape, ['RATE_LIMITED', 'QUOTA_EXCEEDED'], "RATE_LIMITED (the plan's requests per minute) or QUOTA_EXCEEDED (its requests per month); retry after `Retry-After` seconds."),
  };
  for (const status of Object.keys(guard)) if (Object.hasOwn(draft.responses, status)) throw new Error(`${draft.operationId}: ${status} is documented by the key guard`);
  const responses: Responses = {};
  for (const [status, response] of Object.entries({ ...draft.responses, ...guard })) {
    const headers = { ...(response.headers as JsonObject), ...(status === '401' ? {} : rateHeaders), ...(status === '429' ? { 'Retry-After': headerRef('Retry-After') } : {}) };
    responses[status] = { ...response, headers };
  }
  const liveOnly = testKeyScopes.includes(scope) ? '' : ' Test keys (`fs_test_…`) cannot hold it.';
  return {
    ...draft,
    description: join(draft.description, `**Scope:** \`${scope}\`: the API key must hold it (403 FORBIDDEN otherwise).${liveOnly}`),
    security: keySecurity,
    'x-required-scope': scope,
    responses,
  };
}

/** An operator operation behind ADMIN_TOKEN (http/admin/adminRoutes.ts). */
function admin(draft: Omit<OperationDraft, 'tags'>): OpenApiOperation {
  return {
    ...draft,
    tags: ['admin'],
    description: join(draft.description, 'Needs the operator token (`ADMIN_TOKEN`); API keys are refused.'),
    security: adminSecurity,
    responses: { ...draft.responses, ...errorsOf('envelope', ['UNAUTHORIZED'], 'UNAUTHORIZED: the admin token is missing or wrong.') },
  };
}

/** An operation anyone may call. */
function open(draft: OperationDraft): OpenApiOperation {
  return { ...draft, security: [] };
}

const bodyErrors: ErrorCode[] = ['VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'NO_FACE_DETECTED'];
/** The SDK routes and /admin take descriptors or settings only: no image, so no face detection. */
const plainBodyErrors: ErrorCode[] = ['VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];
// Commands append to the event store and consult the matcher: both can be saturated or slow.
const commandErrors: ErrorCode[] = ['INTERNAL_ERROR', 'SERVICE_UNAVAILABLE', 'TIMEOUT'];
// Operator writes retry a few times on a concurrent change to the same tenant, then give up.
const tenantWriteErrors: ErrorCode[] = ['WRONG_EXPECTED_REVISION', 'INTERNAL_ERROR'];
const bodyLimits = `Bodies are limited to ${descriptorBodyLimit / 1024 / 1024} MB, or ${imageBodyLimit / 1024 / 1024} MB when they carry an \`image\`.`;
const sdkNote = `For the shipped \`@facesmash/sdk\` client: flat bodies, not the envelope; every failure carries \`error\` as a string (that client ignores the HTTP status). Same commands, events and limits as /v1. Bodies are limited to ${descriptorBodyLimit / 1024 / 1024} MB.`;
const replayed = { 'Idempotent-Replayed': headerRef('Idempotent-Replayed') };

function readPackageVersion(): string {
  const json = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof json.version === 'string' ? json.version : '0.0.0';
}

/** The OpenAPI 3.1 document of the service, generated from the zod schemas that validate it. */
export function buildOpenApiDocument(): OpenApiDocument {
  const userIdParam = (name: string) => pathParameter(name, userIdSchema, 'A user id (`usr_…`).');
  const tenantIdParam = pathParameter('id', tenantIdSchema, 'A tenant id (uuid).');
  return {
    openapi: '3.1.0',
    info: {
      title: 'FaceSmash API',
      version: readPackageVersion(),
      description: join(
        'Event-sourced face recognition. /v1, /admin and the health probes answer the JSON envelope `{success, data | error, meta}`; every response carries an `X-Request-Id` header (equal to `meta.requestId`).',
        `Every /v1 and /api/devportal operation needs an API key (\`Authorization: Bearer fs_live_…\` or \`X-API-Key\`) that holds the scope the operation names (\`x-required-scope\`). Requests count against the tenant's plan per mode (${plans}; test keys always count as free); every answer past authentication carries \`X-RateLimit-Limit\`, \`X-RateLimit-Remaining\` and \`X-RateLimit-Reset\`.`,
        '/admin is for operators, with `ADMIN_TOKEN`. /api/devportal serves the shipped FaceSmash SDK with its flat bodies.',
      ),
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'faces', description: 'Register, verify and identify faces; manage templates.' },
      { name: 'users', description: 'Users, their sign-in logs, and erasure.' },
      { name: 'webhooks', description: 'Signed event notifications to your URL, and their delivery log.' },
      { name: 'sdk', description: 'The routes the shipped `@facesmash/sdk` client calls, with its flat bodies (not the envelope).' },
      { name: 'admin', description: 'Operators: tenants and their API keys. Needs `ADMIN_TOKEN`; without it configured, /admin does not exist (404).' },
      { name: 'health', description: 'Liveness and readiness probes.' },
      { name: 'docs', description: 'This document.' },
    ],
    paths: {
      '/v1/faces/register': {
        post: keyed('faces:register', 'envelope', {
          operationId: 'registerFace',
          summary: 'Register a face',
          description: `A new email creates the user; a known email adds a template (evicting the lowest-quality one beyond \`maxTemplates\`). A face that already belongs to another user is refused. ${bodyLimits}`,
          tags: ['faces'],
          parameters: [parameterRef('Idempotency-Key')],
          requestBody: jsonBody('RegisterRequest', 'An email and exactly one of `descriptor` or `image`.'),
          responses: {
            ...success(201, 'RegisterResponse', 'The template was registered.', replayed),
            ...errors(...bodyErrors, 'MULTIPLE_FACES', 'LOW_QUALITY', 'DUPLICATE_FACE', 'IDEMPOTENCY_CONFLICT', ...commandErrors),
          },
        }),
      },
      '/v1/faces/verify': {
        post: keyed('faces:verify', 'envelope', {
          operationId: 'verifyFace',
          summary: 'Verify a face against one user (1:1)',
          description: `Compares against every template of the user and records the sign-in attempt. ${bodyLimits}`,
          tags: ['faces'],
          parameters: [parameterRef('Idempotency-Key')],
          requestBody: jsonBody('VerifyRequest', 'A user id and exactly one of `descriptor` or `image`.'),
          responses: {
            ...success(200, 'VerifyResponse', 'The comparison, match or not.', replayed),
            ...errors(...bodyErrors, 'MULTIPLE_FACES', 'NOT_FOUND', 'IDEMPOTENCY_CONFLICT', ...commandErrors),
          },
        }),
      },
      '/v1/faces/identify': {
        post: keyed('faces:identify', 'envelope', {
          operationId: 'identifyFace',
          summary: 'Identify a face among all users (1:N)',
          description: `Matches at or over the threshold, best first; a sign-in attempt is recorded. ${bodyLimits}`,
          tags: ['faces'],
          parameters: [parameterRef('Idempotency-Key')],
          requestBody: jsonBody('IdentifyRequest', 'Exactly one of `descriptor` or `image`.'),
          responses: {
            ...success(200, 'IdentifyResponse', 'The matches (possibly none).', replayed),
            ...errors(...bodyErrors, 'IDEMPOTENCY_CONFLICT', ...commandErrors),
          },
        }),
      },
      '/v1/faces/detect': {
        post: keyed('faces:detect', 'envelope', {
          operationId: 'detectFaces',
          summary: 'Detect faces and measure their quality',
          description: `Decodes a JPEG, PNG or WebP (EXIF orientation applied; up to ${imageBodyLimit / 1024 / 1024} MB and 40 megapixels), detects faces of at least 40 px (a face filling the whole frame, as in a tight crop, included), their 68 landmarks and 128-d descriptors, in a worker pool. No face: \`detected: false\` and nothing else. The image is never stored. Detect appends no event and is deterministic, so a retry with the same Idempotency-Key gets the same answer without the answer (which holds descriptors) being stored.`,
          tags: ['faces'],
          parameters: [parameterRef('Idempotency-Key')],
          requestBody: jsonBody('DetectRequest', 'An image as a data URL or base64.'),
          responses: { ...success(200, 'DetectResponse', 'The faces found, largest first.'), ...errors('VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE') },
        }),
      },
      '/v1/faces/templates/{userId}': {
        get: keyed('users:read', 'envelope', {
          operationId: 'listTemplates',
          summary: "List a user's templates",
          tags: ['faces'],
          parameters: [userIdParam('userId')],
          responses: { ...success(200, 'TemplatesResponse', 'The templates.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR') },
        }),
      },
      '/v1/faces/templates/{templateId}': {
        delete: keyed('faces:register', 'envelope', {
          operationId: 'deleteTemplate',
          summary: 'Delete a template',
          tags: ['faces'],
          parameters: [pathParameter('templateId', templateIdSchema, 'A template id (`tpl_…`).')],
          responses: { ...success(200, 'DeleteTemplateResponse', 'The template was deleted.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', ...commandErrors) },
        }),
      },
      '/v1/erasures': {
        get: keyed('users:delete', 'envelope', {
          operationId: 'listErasures',
          summary: 'Erasure receipts',
          description: "The tenant's erasure receipts, newest first, and the state of their hash chain (each digest covers the receipt and the digest before it, so a removed or altered receipt shows).",
          tags: ['users'],
          parameters: queryParameters(listErasuresQuery),
          responses: { ...success(200, 'ListErasuresResponse', 'One page of receipts.'), ...errors('VALIDATION_ERROR', 'INTERNAL_ERROR') },
        }),
      },
      '/v1/users': {
        get: keyed('users:read', 'envelope', {
          operationId: 'listUsers',
          summary: 'List users',
          description: 'Emails are stored encrypted: `email` filters by exact address (case-insensitive), there is no substring search.',
          tags: ['users'],
          parameters: queryParameters(listUsersQuery),
          responses: { ...success(200, 'ListUsersResponse', 'One page of users.'), ...errors('VALIDATION_ERROR', 'INTERNAL_ERROR') },
        }),
      },
      '/v1/users/{id}': {
        get: keyed('users:read', 'envelope', {
          operationId: 'getUser',
          summary: 'Get a user',
          tags: ['users'],
          parameters: [userIdParam('id')],
          responses: { ...success(200, 'UserResponse', 'The user and their counters.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR') },
        }),
        delete: keyed('users:delete', 'envelope', {
          operationId: 'deleteUser',
          summary: 'Erase a user',
          description: "Erases the user's personal data (crypto-shredding) and answers an erasure receipt.",
          tags: ['users'],
          parameters: [userIdParam('id')],
          responses: { ...success(200, 'DeleteUserResponse', 'The user was erased.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', ...commandErrors) },
        }),
      },
      '/v1/users/{id}/history': {
        get: keyed('users:read', 'envelope', {
          operationId: 'getUserHistory',
          summary: "Replay a user's history (audit)",
          description: 'Every event of the user with its time, actor key and request id, and its non-biometric facts; with `at`, the user’s state as it was then. After an erasure the events are still listed, their payloads marked erased.',
          tags: ['users'],
          parameters: [userIdParam('id'), ...queryParameters(historyQuery)],
          responses: { ...success(200, 'HistoryResponse', 'The history, oldest first.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR') },
        }),
      },
      '/v1/users/{id}/logs': {
        get: keyed('users:read', 'envelope', {
          operationId: 'listUserLogs',
          summary: "List a user's sign-in attempts",
          tags: ['users'],
          parameters: [userIdParam('id'), ...queryParameters(listLogsQuery)],
          responses: { ...success(200, 'LogsResponse', 'One page of sign-in attempts, newest first.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR') },
        }),
      },
      '/v1/webhooks': {
        post: keyed('webhooks:manage', 'envelope', {
          operationId: 'createWebhook',
          summary: 'Register a webhook',
          description: `Events of this key's mode (live or test) are POSTed to \`url\`, signed with the secret answered here (and only here). \`url\` must be https; addresses that resolve to loopback, private, link-local or metadata networks are refused (400) unless the server allows them. At most ${maxWebhooks} webhooks per tenant. Bodies are limited to ${descriptorBodyLimit / 1024 / 1024} MB.`,
          tags: ['webhooks'],
          parameters: [parameterRef('Idempotency-Key')],
          requestBody: jsonBody('CreateWebhookRequest', '`url`, and `events` (default: all).'),
          responses: {
            ...success(201, 'CreatedWebhook', 'The webhook, with its secret.', replayed),
            ...errors(...plainBodyErrors, 'IDEMPOTENCY_CONFLICT', ...tenantWriteErrors, 'SERVICE_UNAVAILABLE', 'TIMEOUT'),
          },
        }),
        get: keyed('webhooks:manage', 'envelope', {
          operationId: 'listWebhooks',
          summary: 'List webhooks',
          description: "The webhooks of this key's mode, with their delivery state.",
          tags: ['webhooks'],
          responses: { ...success(200, 'WebhookListResponse', 'The webhooks, oldest first.'), ...errors('INTERNAL_ERROR') },
        }),
      },
      '/v1/webhooks/{id}': {
        delete: keyed('webhooks:manage', 'envelope', {
          operationId: 'deleteWebhook',
          summary: 'Remove a webhook',
          description: 'Its delivery log and pending deliveries go with it.',
          tags: ['webhooks'],
          parameters: [pathParameter('id', webhookIdSchema, 'A webhook id (`wh_…`).')],
          responses: { ...success(200, 'DeleteWebhookResponse', 'The webhook was removed.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', ...tenantWriteErrors) },
        }),
      },
      '/v1/webhooks/{id}/resume': {
        post: keyed('webhooks:manage', 'envelope', {
          operationId: 'resumeWebhook',
          summary: 'Resume a failing webhook',
          description: 'Makes the webhook active again; its paused (failed) deliveries are retried from now, in order.',
          tags: ['webhooks'],
          parameters: [pathParameter('id', webhookIdSchema, 'A webhook id (`wh_…`).'), parameterRef('Idempotency-Key')],
          responses: { ...success(200, 'ResumeWebhookResponse', 'The webhook is active again.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR') },
        }),
      },
      '/v1/webhooks/{id}/deliveries': {
        get: keyed('webhooks:manage', 'envelope', {
          operationId: 'listWebhookDeliveries',
          summary: "A webhook's delivery log",
          tags: ['webhooks'],
          parameters: [pathParameter('id', webhookIdSchema, 'A webhook id (`wh_…`).'), ...queryParameters(deliveriesQuery)],
          responses: { ...success(200, 'DeliveriesResponse', 'The newest deliveries first.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR') },
        }),
      },
      '/v1/openapi.json': {
        get: open({
          operationId: 'openApiDocument',
          summary: 'This document',
          description: 'OpenAPI 3.1, generated from the zod schemas that validate requests. Public: no key, not counted against any plan. A reference UI is served at /docs.',
          tags: ['docs'],
          responses: {
            200: {
              description: 'The document itself (not an envelope).',
              headers: { ...requestIdHeader },
              content: { 'application/json': { schema: { type: 'object', required: ['openapi', 'info', 'paths'], properties: { openapi: { const: '3.1.0' } } } } },
            },
          },
        }),
      },
      '/api/devportal/match': {
        post: keyed('faces:identify', 'sdk', {
          operationId: 'sdkMatch',
          summary: 'Find whose face this is (SDK)',
          description: join('The best match at or over the tenant\'s threshold (1:N, like `POST /v1/faces/identify` with one result); a sign-in attempt is recorded.', sdkNote),
          tags: ['sdk'],
          requestBody: jsonBody('SdkMatchRequest', 'A descriptor.'),
          responses: { ...flat(200, 'SdkMatchResponse', 'Match or not: `match` tells.'), ...sdkErrors(...plainBodyErrors, ...commandErrors) },
        }),
      },
      '/api/devportal/register': {
        post: keyed('faces:register', 'sdk', {
          operationId: 'sdkRegister',
          summary: 'Register a face (SDK)',
          description: join('A new email creates the user (201); a known email adds a template to that user (200). A face that already belongs to another user is refused (409, with that user\'s email).', sdkNote),
          tags: ['sdk'],
          requestBody: jsonBody('SdkRegisterRequest', 'An email and a descriptor.'),
          responses: {
            ...flat(201, 'SdkRegisterResponse', 'A new user was created (`created: true`).'),
            ...flat(200, 'SdkRegisterResponse', 'A template was added to the user with this email (`updated: true`).'),
            409: {
              description: 'DUPLICATE_FACE',
              headers: { ...requestIdHeader },
              content: { 'application/json': { schema: schemaRef('SdkDuplicateFaceError') } },
            },
            ...sdkErrors(...plainBodyErrors, 'LOW_QUALITY', ...commandErrors),
          },
        }),
        get: keyed('users:read', 'sdk', {
          operationId: 'sdkRegistrationStatus',
          summary: 'Is this email registered? (SDK)',
          description: sdkNote,
          tags: ['sdk'],
          parameters: queryParameters(sdkStatusQuery),
          responses: { ...flat(200, 'SdkRegistrationStatus', 'Registered or not: `registered` tells.'), ...sdkErrors('VALIDATION_ERROR', 'INTERNAL_ERROR') },
        }),
        delete: keyed('users:delete', 'sdk', {
          operationId: 'sdkUnregister',
          summary: 'Erase the user with this email (SDK)',
          description: join('Erases the user\'s personal data (crypto-shredding), like `DELETE /v1/users/{id}`. The email travels in a JSON body.', sdkNote),
          tags: ['sdk'],
          requestBody: jsonBody('SdkUnlinkRequest', 'The email of the user to erase.'),
          responses: { ...flat(200, 'SdkUnlinkResponse', 'The user was erased.'), ...sdkErrors(...plainBodyErrors, 'NOT_FOUND', ...commandErrors) },
        }),
      },
      '/api/devportal/users': {
        get: keyed('users:read', 'sdk', {
          operationId: 'sdkListUsers',
          summary: 'List users (SDK)',
          description: join('Newest first.', sdkNote),
          tags: ['sdk'],
          parameters: queryParameters(sdkUsersQuery),
          responses: { ...flat(200, 'SdkUsersResponse', 'One page of users.'), ...sdkErrors('VALIDATION_ERROR', 'INTERNAL_ERROR') },
        }),
      },
      '/admin/tenants': {
        post: admin({
          operationId: 'adminCreateTenant',
          summary: 'Create a tenant and its first keys',
          description: 'The answer holds one live and one test key with all the scopes their mode allows: their full values are shown this once.',
          requestBody: jsonBody('CreateTenantRequest', 'A name; `plan` defaults to free, `settings` to the defaults.'),
          responses: { ...success(201, 'CreateTenantResponse', 'The tenant and its first two keys.'), ...errors(...plainBodyErrors, 'INTERNAL_ERROR') },
        }),
        get: admin({
          operationId: 'adminListTenants',
          summary: 'List tenants',
          responses: { ...success(200, 'TenantListResponse', 'Every tenant.'), ...errors('INTERNAL_ERROR') },
        }),
      },
      '/admin/tenants/{id}': {
        get: admin({
          operationId: 'adminGetTenant',
          summary: 'Get a tenant and its usage this month',
          parameters: [tenantIdParam],
          responses: { ...success(200, 'TenantWithUsage', 'The tenant, with requests counted this UTC month per mode.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR') },
        }),
        patch: admin({
          operationId: 'adminUpdateTenant',
          summary: "Change a tenant's plan or settings",
          description: 'Settings not sent keep their value. Keys cached by this instance are re-read at once; other instances see the change within seconds.',
          parameters: [tenantIdParam],
          requestBody: jsonBody('PatchTenantRequest', '`plan` and/or some `settings`.'),
          responses: { ...success(200, 'TenantView', 'The tenant as changed.'), ...errors(...plainBodyErrors, 'NOT_FOUND', ...tenantWriteErrors) },
        }),
      },
      '/admin/tenants/{id}/keys': {
        post: admin({
          operationId: 'adminIssueKey',
          summary: 'Issue an API key',
          description: `\`scopes\` default to all the mode allows; test keys cannot hold ${liveOnlyScopes.map((scope) => `\`${scope}\``).join(' or ')} (400). \`expiresAt\`, if given, must be in the future. The full key is shown this once.`,
          parameters: [tenantIdParam],
          requestBody: jsonBody('IssueKeyRequest', 'The mode, and optionally a name, scopes and an expiry.'),
          responses: { ...success(201, 'IssuedKey', 'The key, with its secret.'), ...errors(...plainBodyErrors, 'NOT_FOUND', ...tenantWriteErrors) },
        }),
        get: admin({
          operationId: 'adminListKeys',
          summary: "List a tenant's keys",
          parameters: [tenantIdParam],
          responses: { ...success(200, 'KeyListResponse', 'The keys, without their secret part.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR') },
        }),
      },
      '/admin/keys/{id}': {
        patch: admin({
          operationId: 'adminChangeKeyOrigins',
          summary: "Set the origins a browser may use an API key from",
          description: 'Replaces the whole list (an ApiKeyOriginsChanged event). Preflights from an origin answer 204 while some active key allows it; a request whose Origin its own key does not list is 403.',
          parameters: [pathParameter('id', keyIdSchema, 'A key id (`key_…`).')],
          requestBody: jsonBody('PatchKeyRequest', 'The allowed origins, as they should be.'),
          responses: { ...success(200, 'KeyView', 'The key as it is now.'), ...errors(...plainBodyErrors, 'NOT_FOUND', ...tenantWriteErrors) },
        }),
        delete: admin({
          operationId: 'adminRevokeKey',
          summary: 'Revoke an API key',
          description: 'The key is refused (401) at once on this instance; other instances see the revocation within seconds.',
          parameters: [pathParameter('id', keyIdSchema, 'A key id (`key_…`).')],
          responses: { ...success(200, 'RevokeKeyResponse', 'The key was revoked.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', ...tenantWriteErrors) },
        }),
      },
      '/healthz': {
        get: open({
          operationId: 'health',
          summary: 'Liveness: the process answers',
          tags: ['health'],
          responses: { ...success(200, 'HealthResponse', 'The process is alive.'), ...errors('INTERNAL_ERROR') },
        }),
      },
      '/readyz': {
        get: open({
          operationId: 'ready',
          summary: 'Readiness: every dependency answers and projections are caught up',
          tags: ['health'],
          responses: {
            ...success(200, 'ReadinessResponse', 'Ready to serve.'),
            ...errors('INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'),
          },
        }),
      },
    },
    components: {
      schemas: {
        ...withOneFace(componentSchemas(faceRequestSchemas, 'input')),
        ...componentSchemas(otherRequestSchemas, 'input'),
        ...componentSchemas(responseSchemas, 'output'),
      },
      parameters: {
        'Idempotency-Key': {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description: 'A repeat with the same key and body within 24 h returns the first response and changes nothing; the same key with another body is 409 IDEMPOTENCY_CONFLICT.',
          schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
        },
      },
      headers: {
        'X-Request-Id': { description: 'The id of this request; equals `meta.requestId` (`requestId` on the SDK routes).', schema: { type: 'string', pattern: '^req_[0-9a-f]+$' } },
        'Idempotent-Replayed': { description: '`true` when the response is the stored answer to an earlier request with the same Idempotency-Key.', schema: { type: 'string', const: 'true' } },
        'X-RateLimit-Limit': {
          description: `Requests per minute of the plan that counts this request (${plans}; test keys count as free); \`unlimited\` on enterprise.`,
          schema: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', const: 'unlimited' }] },
        },
        'X-RateLimit-Remaining': {
          description: 'Requests left in the current minute window; `unlimited` on enterprise.',
          schema: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', const: 'unlimited' }] },
        },
        'X-RateLimit-Reset': { description: 'Unix seconds when the current minute window ends.', schema: { type: 'integer', minimum: 0 } },
        'Retry-After': {
          description: 'Seconds to wait: until the minute window ends (RATE_LIMITED) or until the next UTC month (QUOTA_EXCEEDED).',
          schema: { type: 'integer', minimum: 1 },
        },
      },
      securitySchemes: {
        bearerKey: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'fs_live_… or fs_test_…',
          description: `An API key: \`Authorization: Bearer <key>\`. \`fs_live_…\` keys act on the tenant's live data, \`fs_test_…\` keys on its separate test data (always limited as the free plan; they cannot hold ${liveOnlyScopes.join(' or ')}). A key holds scopes; each operation names the one it needs. No key, or an unknown, revoked or expired one: 401 UNAUTHORIZED.`,
        },
        apiKeyHeader: {
          type: 'apiKey',
          in: 'header',
          name: 'X-API-Key',
          description: 'The same API key in `X-API-Key` (the FaceSmash SDK sends it so). When both are sent, `Authorization: Bearer` wins.',
        },
        adminToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'The operator token configured as `ADMIN_TOKEN`: `Authorization: Bearer <token>`. API keys are not admin tokens.',
        },
      },
    },
  };
}
