import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { errorStatus, type ErrorCode } from '../../errors/appError.ts';
import { allScopes, scopesAllowed } from '../../tenancy/tenantEvents.ts';
import { planLimits } from '../rateLimit.ts';
import { isJsonResponse, type HttpMethod, type JsonResponseDeclaration, type RouteDeclaration, type RouteGroup } from './declaration.ts';
import { example } from './examples.ts';
import type { ErrorShape } from './groups.ts';
import { guardErrors } from './guardErrors.ts';

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
  readonly 'x-required-scope'?: string;
  readonly parameters?: readonly JsonObject[];
  readonly requestBody?: JsonObject;
  readonly responses: Readonly<Record<string, JsonObject>>;
}

export interface OpenApiDocument {
  readonly openapi: '3.1.0';
  readonly info: { readonly title: string; readonly version: string; readonly license: { readonly name: string; readonly identifier: string }; readonly description: string };
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

type Responses = Record<string, JsonObject>;

const schemaRef = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });
const parameterRef = (name: string) => ({ $ref: `#/components/parameters/${name}` });

// The envelope and the SDK's flat error: every route answers one of them (http/envelope.ts).
const isoDate = z.iso.datetime();
const requestIdSchema = z.string().regex(/^req_[0-9a-f]+$/);
const metaSchema = z.object({ requestId: requestIdSchema, timestamp: isoDate }).meta({ description: 'Present on every response; `requestId` equals the X-Request-Id header.' });
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
const sdkErrorSchema = z
  .object({
    success: z.literal(false),
    error: z.string().meta({ description: 'The message, for people (the SDK shows it).' }),
    code: z.enum(errorCodes),
    details: z.record(z.string(), z.unknown()),
    requestId: requestIdSchema.meta({ description: 'Equals the X-Request-Id header.' }),
  })
  .meta({ description: 'A failure of an SDK route: flat, with `error` a string (the SDK ignores the HTTP status and reads it).' });

const exampleMeta = { requestId: 'req_5e4d3c2b1a0f9e8d7c6b', timestamp: example.at };

/** What an error of each code says, in the examples (the real messages name the field or the limit). */
const exampleMessages: Partial<Record<ErrorCode, { message: string; details?: Record<string, unknown> }>> = {
  VALIDATION_ERROR: { message: 'descriptor: must have exactly 128 numbers', details: { field: 'descriptor', in: 'body', issues: [{ field: 'descriptor', message: 'must have exactly 128 numbers' }] } },
  UNAUTHORIZED: { message: 'an API key is required (Authorization: Bearer <key> or X-API-Key)' },
  NOT_FOUND: { message: 'user not found', details: { userId: example.userId } },
  RATE_LIMITED: { message: 'more than 10 requests per minute on the free plan', details: { retryAfterSeconds: 41 } },
  DUPLICATE_FACE: { message: 'this face is already registered to another user', details: { similarity: 0.91 } },
  SERVICE_UNAVAILABLE: { message: 'the read models are catching up with the event store; retry shortly', details: { retryAfterSeconds: 1 } },
};

function errorExample(shape: ErrorShape, code: ErrorCode): unknown {
  const { message, details } = exampleMessages[code] ?? { message: code.toLowerCase().replaceAll('_', ' ') };
  return shape === 'envelope' ? { success: false, error: { code, message, details: details ?? {} }, meta: exampleMeta } : { success: false, error: message, code, details: details ?? {}, requestId: exampleMeta.requestId };
}

const conversion = { target: 'draft-2020-12', unrepresentable: 'any', uri: (id: string) => `#/components/schemas/${id}` } as const;

/**
 * Converts named zod schemas into `components.schemas` entries. A registry makes references between
 * them (`Error.meta` → `Meta`) come out as `$ref`s into the document instead of inline copies.
 */
function componentSchemas(named: ReadonlyMap<string, z.ZodType>, io: 'input' | 'output'): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of named) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { ...conversion, io }) as { schemas: Record<string, JsonObject> };
  const result: Record<string, JsonObject> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    const { $schema: _schema, $id: _id, ...rest } = schema;
    result[id] = rest;
  }
  return result;
}

/** One schema, inline (path and query parameters). */
function inlineSchema(schema: z.ZodType): JsonObject {
  const { $schema: _schema, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any', io: 'input' }) as JsonObject;
  return rest;
}

/** The properties of an object schema as OpenAPI parameters in `place`. */
function parameters(schema: z.ZodType, place: 'path' | 'query'): JsonObject[] {
  const json = inlineSchema(schema) as { properties?: Record<string, JsonObject>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: place,
      required: place === 'path' || (json.required?.includes(name) ?? false),
      schema: rest,
      ...(typeof description === 'string' ? { description } : {}),
    };
  });
}

/** Names bound to one schema each; a name declared twice must be the same schema. */
function collect(into: Map<string, z.ZodType>, name: string, schema: z.ZodType, where: string): void {
  const known = into.get(name);
  if (known !== undefined && known !== schema) throw new Error(`${where}: the schema name ${name} is already taken by another schema`);
  into.set(name, schema);
}

const requestIdHeader = { 'X-Request-Id': headerRef('X-Request-Id') };
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

/** The error schema narrowed to some codes (and, optionally, to some `details`). */
function errorContent(shape: ErrorShape, codes: readonly ErrorCode[], details?: JsonObject): JsonObject {
  const narrowed = { code: { enum: codes }, ...(details ? { details } : {}) };
  // The envelope's narrowing names message and details too (as anything): validators that merge
  // allOf branches (Redocly's) otherwise read the base's closed `error` object as refusing them.
  const envelopeNarrowed = { message: {}, details: {}, ...narrowed };
  return {
    'application/json': {
      schema: shape === 'envelope' ? { allOf: [schemaRef('Error'), { properties: { error: { properties: envelopeNarrowed } } }] } : { allOf: [schemaRef('SdkError'), { properties: narrowed }] },
      example: errorExample(shape, codes[0]!),
    },
  };
}

/** The error answers of a route, grouped by status; each narrows `code` to what the route can answer. */
function errorResponses<Deps>(shape: ErrorShape, declared: RouteDeclaration<Deps>): Responses {
  const { auth } = declared;
  const guarded = new Set(guardErrors(auth));
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(declared.errors)) {
    if (guarded.has(code)) continue;
    byStatus.set(errorStatus[code], [...(byStatus.get(errorStatus[code]) ?? []), code]);
  }
  const responses: Responses = {};
  for (const [status, group] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[status] = { description: group.join(' or '), headers: { ...requestIdHeader }, content: errorContent(shape, group) };
  }
  const guard = (status: number, description: string, content: JsonObject) => {
    if (responses[status]) throw new Error(`${declared.operationId}: ${status} is answered by the guard`);
    responses[status] = { description, headers: { ...requestIdHeader }, content };
  };
  if (auth.kind === 'key') {
    guard(401, 'UNAUTHORIZED: no API key, or an unknown, revoked or expired one.', errorContent(shape, ['UNAUTHORIZED']));
    guard(
      403,
      `FORBIDDEN: the key lacks the \`${auth.scope}\` scope (named in \`details.scope\`), or a browser's Origin is not one of the key's allowed origins (\`details.origin\`).`,
      errorContent(shape, ['FORBIDDEN'], { type: 'object', properties: { scope: { const: auth.scope }, origin: { type: 'string' } } }),
    );
    guard(429, "RATE_LIMITED (the plan's requests per minute) or QUOTA_EXCEEDED (its requests per month); retry after `Retry-After` seconds.", errorContent(shape, ['RATE_LIMITED', 'QUOTA_EXCEEDED']));
  } else if (auth.kind === 'admin') {
    guard(401, 'UNAUTHORIZED: the admin token is missing or wrong.', errorContent(shape, ['UNAUTHORIZED']));
  } else if (auth.kind === 'metrics') {
    guard(401, 'UNAUTHORIZED: METRICS_TOKEN is configured and the request does not carry it.', errorContent(shape, ['UNAUTHORIZED']));
  }
  return responses;
}

function successResponse(shape: ErrorShape, response: JsonResponseDeclaration): JsonObject {
  const headers: JsonObject = { ...requestIdHeader };
  for (const name of response.headers ?? []) headers[name] = headerRef(name);
  const schema = shape === 'sdk' ? schemaRef(response.name) : { type: 'object', required: ['success', 'data', 'meta'], properties: { success: { const: true }, data: schemaRef(response.name), meta: schemaRef('Meta') } };
  const shown = shape === 'sdk' ? response.example : { success: true, data: response.example, meta: exampleMeta };
  return { description: response.description, headers, content: { 'application/json': { schema, example: shown } } };
}

function operation<Deps>(shape: ErrorShape, declared: RouteDeclaration<Deps>): OpenApiOperation {
  const responses: Responses = {};
  for (const response of declared.responses) {
    responses[response.status] = isJsonResponse(response)
      ? successResponse(shape, response)
      : {
          description: response.description,
          headers: { ...requestIdHeader },
          content: { [response.contentType]: { schema: response.contentSchema ?? { type: 'string' } } },
        };
  }
  for (const [status, response] of Object.entries(errorResponses(shape, declared))) {
    if (responses[status]) throw new Error(`${declared.operationId}: ${status} is both an answer and an error`);
    responses[status] = response;
  }
  if (declared.auth.kind === 'key') {
    // The guard counts every request it authenticated: all answers but 401 carry the plan's headers.
    for (const [status, response] of Object.entries(responses)) {
      if (status === '401') continue;
      responses[status] = { ...response, headers: { ...(response.headers as JsonObject), ...rateHeaders, ...(status === '429' ? { 'Retry-After': headerRef('Retry-After') } : {}) } };
    }
  }
  const parametersOf = [
    ...(declared.params ? parameters(declared.params, 'path') : []),
    ...(declared.query ? parameters(declared.query, 'query') : []),
    ...(declared.idempotency ? [parameterRef('Idempotency-Key')] : []),
    ...(declared.readAfter ? [parameterRef('X-Read-After')] : []),
  ];
  const { auth } = declared;
  const authNote =
    auth.kind === 'key'
      ? `**Scope:** \`${auth.scope}\`: the API key must hold it (403 FORBIDDEN otherwise).${testKeyScopes.includes(auth.scope) ? '' : ' Test keys (`fs_test_…`) cannot hold it.'}`
      : auth.kind === 'admin'
        ? 'Needs the operator token (`ADMIN_TOKEN`); API keys are refused.'
        : undefined;
  const description = join(declared.description, authNote);
  return {
    operationId: declared.operationId,
    summary: declared.summary,
    ...(description !== '' ? { description } : {}),
    tags: declared.tags,
    security: auth.kind === 'key' ? [{ bearerKey: [] }, { apiKeyHeader: [] }] : auth.kind === 'admin' ? [{ adminToken: [] }] : auth.kind === 'metrics' ? [{ metricsToken: [] }, {}] : [],
    ...(auth.kind === 'key' ? { 'x-required-scope': auth.scope } : {}),
    ...(parametersOf.length > 0 ? { parameters: parametersOf } : {}),
    ...(declared.body
      ? { requestBody: { required: true, description: declared.body.description, content: { 'application/json': { schema: schemaRef(declared.body.name), example: declared.body.example } } } }
      : {}),
    responses,
  };
}

function readPackageVersion(): string {
  const json = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof json.version === 'string' ? json.version : '0.0.0';
}

/** The OpenAPI 3.1 document of the service, built from the route declarations that also build its router. */
export function buildOpenApiDocument(groups: readonly RouteGroup<never>[]): OpenApiDocument {
  const paths: Record<string, Partial<Record<HttpMethod, OpenApiOperation>>> = {};
  const inputs = new Map<string, z.ZodType>();
  const outputs = new Map<string, z.ZodType>([
    ['Meta', metaSchema],
    ['Error', errorSchema],
    ['SdkError', sdkErrorSchema],
  ]);
  for (const group of groups) {
    for (const declared of group.routes) {
      if (declared.undocumented) continue;
      const methods = (paths[declared.path] ??= {});
      if (methods[declared.method]) throw new Error(`${declared.method.toUpperCase()} ${declared.path} is declared twice`);
      methods[declared.method] = operation(group.info.errorShape, declared);
      if (declared.body) collect(inputs, declared.body.name, declared.body.schema, declared.operationId);
      for (const response of declared.responses) if (isJsonResponse(response)) collect(outputs, response.name, response.schema, declared.operationId);
    }
  }
  for (const name of inputs.keys()) if (outputs.has(name)) throw new Error(`the schema name ${name} is used for a request and an answer`);
  return {
    openapi: '3.1.0',
    info: {
      title: 'FaceSmash API',
      version: readPackageVersion(),
      license: { name: 'MIT', identifier: 'MIT' },
      description: join(
        'Event-sourced face recognition. /v1, /admin and the health probes answer the JSON envelope `{success, data | error, meta}`; every response carries an `X-Request-Id` header (equal to `meta.requestId`).',
        `Every /v1 and /api/devportal operation needs an API key (\`Authorization: Bearer fs_live_…\` or \`X-API-Key\`) that holds the scope the operation names (\`x-required-scope\`). Requests count against the tenant's plan per mode (${plans}; test keys always count as free); every answer past authentication carries \`X-RateLimit-Limit\`, \`X-RateLimit-Remaining\` and \`X-RateLimit-Reset\`.`,
        'Writes answer `X-Position`, the global position of what they stored; a read sent with `X-Read-After: <position>` answers only once the read models include it (any instance).',
        '/admin is for operators, with `ADMIN_TOKEN`. An operator may also call a /v1 route on one tenant\'s data with `Authorization: Bearer <ADMIN_TOKEN>` and `X-Operator-Tenant: <tenant id>` (and `X-Operator-Mode: live|test`, live by default): all the scopes the mode allows, not counted against the plan, events recorded with actor `operator`. /api/devportal serves the shipped FaceSmash SDK with its flat bodies.',
      ),
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'faces', description: 'Register, verify and identify faces; manage templates.' },
      { name: 'users', description: 'Users, their history and sign-in logs, and erasure.' },
      { name: 'webhooks', description: 'Signed event notifications to your URL, and their delivery log.' },
      { name: 'sdk', description: 'The routes the shipped `@facesmash/sdk` client calls, with its flat bodies (not the envelope).' },
      { name: 'admin', description: 'Operators: tenants and their API keys. Needs `ADMIN_TOKEN`; without it configured, /admin does not exist (404).' },
      { name: 'health', description: 'Liveness and readiness probes, and metrics.' },
      { name: 'docs', description: 'This document and its reference page.' },
      { name: 'console', description: 'The operator console: a web page over these routes (`GET /` redirects to it).' },
    ],
    paths,
    components: {
      schemas: { ...componentSchemas(inputs, 'input'), ...componentSchemas(outputs, 'output') },
      parameters: {
        'Idempotency-Key': {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description: 'A repeat with the same key and body within 24 h returns the first response and changes nothing; the same key with another body is 409 IDEMPOTENCY_CONFLICT.',
          schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
        },
        'X-Read-After': {
          name: 'X-Read-After',
          in: 'header',
          required: false,
          description: 'A position from an `X-Position` header: the answer includes that write (the read waits for the read models, boundedly, then answers 503 SERVICE_UNAVAILABLE).',
          schema: { type: 'string', pattern: '^[0-9]{1,19}$' },
        },
      },
      headers: {
        'X-Request-Id': { description: 'The id of this request; equals `meta.requestId` (`requestId` on the SDK routes).', schema: { type: 'string', pattern: '^req_[0-9a-f]+$' } },
        'Idempotent-Replayed': { description: '`true` when the response is the stored answer to an earlier request with the same Idempotency-Key.', schema: { type: 'string', const: 'true' } },
        'X-Position': { description: 'The global position of what this write stored; send it as `X-Read-After` to read it back from any instance.', schema: { type: 'string', pattern: '^[0-9]+$' } },
        'X-RateLimit-Limit': {
          description: `Requests per minute of the plan that counts this request (${plans}; test keys count as free); \`unlimited\` on enterprise.`,
          schema: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', const: 'unlimited' }] },
        },
        'X-RateLimit-Remaining': { description: 'Requests left in the current minute window; `unlimited` on enterprise.', schema: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', const: 'unlimited' }] } },
        'X-RateLimit-Reset': { description: 'Unix seconds when the current minute window ends.', schema: { type: 'integer', minimum: 0 } },
        'Retry-After': { description: 'Seconds to wait: until the minute window ends (RATE_LIMITED) or until the next UTC month (QUOTA_EXCEEDED).', schema: { type: 'integer', minimum: 1 } },
      },
      securitySchemes: {
        bearerKey: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'fs_live_… or fs_test_…',
          description: `An API key: \`Authorization: Bearer <key>\`. \`fs_live_…\` keys act on the tenant's live data, \`fs_test_…\` keys on its separate test data (always limited as the free plan; they cannot hold ${liveOnlyScopes.join(' or ')}). A key holds scopes; each operation names the one it needs. No key, or an unknown, revoked or expired one: 401 UNAUTHORIZED.`,
        },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The same API key in `X-API-Key` (the FaceSmash SDK sends it so). When both are sent, `Authorization: Bearer` wins.' },
        adminToken: { type: 'http', scheme: 'bearer', description: 'The operator token configured as `ADMIN_TOKEN`: `Authorization: Bearer <token>`. API keys are not admin tokens.' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'The scraper token configured as `METRICS_TOKEN`; without it configured, /metrics is open.' },
      },
    },
  };
}
