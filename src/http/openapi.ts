import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { errorStatus, type ErrorCode } from '../errors/appError.ts';
import { descriptorBodyLimit, imageBodyLimit } from './jsonBody.ts';
import {
  deleteTemplateResponse,
  deleteUserResponse,
  identifyRequest,
  identifyResponse,
  listLogsQuery,
  listUsersQuery,
  listUsersResponse,
  logsResponse,
  registerRequest,
  registerResponse,
  templateIdSchema,
  templatesResponse,
  userIdSchema,
  userResponse,
  verifyRequest,
  verifyResponse,
} from './v1/schemas.ts';

/** A JSON Schema (draft 2020-12) or OpenAPI object, as plain JSON. */
export type JsonObject = { [key: string]: unknown };

export interface OpenApiOperation {
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  readonly parameters?: readonly JsonObject[];
  readonly requestBody?: JsonObject;
  readonly responses: Readonly<Record<string, JsonObject>>;
}

export type HttpMethod = 'get' | 'post' | 'delete';

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
  };
}

const schemaRef = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });
const parameterRef = (name: string) => ({ $ref: `#/components/parameters/${name}` });

// The envelope and the health answers are not in schemas.ts (they are not /v1 resources); they are
// declared here with zod so every schema of the document comes out of the same converter.
const metaSchema = z
  .object({ requestId: z.string().regex(/^req_[0-9a-f]+$/), timestamp: z.iso.datetime() })
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

const requestSchemas = { RegisterRequest: registerRequest, VerifyRequest: verifyRequest, IdentifyRequest: identifyRequest };
const responseSchemas = {
  Meta: metaSchema,
  Error: errorSchema,
  RegisterResponse: registerResponse,
  VerifyResponse: verifyResponse,
  IdentifyResponse: identifyResponse,
  TemplatesResponse: templatesResponse,
  DeleteTemplateResponse: deleteTemplateResponse,
  ListUsersResponse: listUsersResponse,
  UserResponse: userResponse,
  DeleteUserResponse: deleteUserResponse,
  LogsResponse: logsResponse,
  HealthResponse: healthResponse,
  ReadinessResponse: readinessResponse,
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

function success(status: number, dataSchema: string, description: string, extraHeaders: Record<string, JsonObject> = {}): Record<string, JsonObject> {
  return {
    [status]: {
      description,
      headers: { 'X-Request-Id': headerRef('X-Request-Id'), ...extraHeaders },
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

/** Error responses grouped by status; each narrows the Error envelope's `code` to what the route can answer. */
function errors(...codes: ErrorCode[]): Record<string, JsonObject> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(errorStatus[code], [...(byStatus.get(errorStatus[code]) ?? []), code]);
  const responses: Record<string, JsonObject> = {};
  for (const [status, group] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[status] = {
      description: group.join(' or '),
      headers: { 'X-Request-Id': headerRef('X-Request-Id') },
      content: {
        'application/json': {
          schema: { allOf: [schemaRef('Error'), { properties: { error: { properties: { code: { enum: group } } } } }] },
        },
      },
    };
  }
  return responses;
}

function jsonBody(schemaName: string, description: string): JsonObject {
  return { required: true, description, content: { 'application/json': { schema: schemaRef(schemaName) } } };
}

const bodyErrors: ErrorCode[] = ['VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'NO_FACE_DETECTED'];
// Commands append to the event store and consult the matcher: both can be saturated or slow.
const commandErrors: ErrorCode[] = ['INTERNAL_ERROR', 'SERVICE_UNAVAILABLE', 'TIMEOUT'];
const bodyLimits = `Bodies are limited to ${descriptorBodyLimit / 1024 / 1024} MB, or ${imageBodyLimit / 1024 / 1024} MB when they carry an \`image\`.`;
const replayed = { 'Idempotent-Replayed': headerRef('Idempotent-Replayed') };

function readPackageVersion(): string {
  const json = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof json.version === 'string' ? json.version : '0.0.0';
}

/** The OpenAPI 3.1 document of the service, generated from the zod schemas that validate it. */
export function buildOpenApiDocument(): OpenApiDocument {
  const userIdParam = (name: string) => pathParameter(name, userIdSchema, 'A user id (`usr_…`).');
  return {
    openapi: '3.1.0',
    info: {
      title: 'FaceSmash API',
      version: readPackageVersion(),
      description:
        'Event-sourced face recognition. Every response carries the JSON envelope `{success, data | error, meta}` and an `X-Request-Id` header equal to `meta.requestId`.',
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'faces', description: 'Register, verify and identify faces; manage templates.' },
      { name: 'users', description: 'Users, their sign-in logs, and erasure.' },
      { name: 'health', description: 'Liveness and readiness probes.' },
    ],
    paths: {
      '/v1/faces/register': {
        post: {
          operationId: 'registerFace',
          summary: 'Register a face',
          description: `A new email creates the user; a known email adds a template (evicting the lowest-quality one beyond \`maxTemplates\`). A face that already belongs to another user is refused. ${bodyLimits}`,
          tags: ['faces'],
          parameters: [parameterRef('Idempotency-Key')],
          requestBody: jsonBody('RegisterRequest', 'An email and exactly one of `descriptor` or `image`.'),
          responses: {
            ...success(201, 'RegisterResponse', 'The template was registered.', replayed),
            ...errors(...bodyErrors, 'MULTIPLE_FACES', 'DUPLICATE_FACE', 'IDEMPOTENCY_CONFLICT', ...commandErrors),
          },
        },
      },
      '/v1/faces/verify': {
        post: {
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
        },
      },
      '/v1/faces/identify': {
        post: {
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
        },
      },
      '/v1/faces/templates/{userId}': {
        get: {
          operationId: 'listTemplates',
          summary: "List a user's templates",
          tags: ['faces'],
          parameters: [userIdParam('userId')],
          responses: { ...success(200, 'TemplatesResponse', 'The templates.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR') },
        },
      },
      '/v1/faces/templates/{templateId}': {
        delete: {
          operationId: 'deleteTemplate',
          summary: 'Delete a template',
          tags: ['faces'],
          parameters: [pathParameter('templateId', templateIdSchema, 'A template id (`tpl_…`).')],
          responses: { ...success(200, 'DeleteTemplateResponse', 'The template was deleted.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', ...commandErrors) },
        },
      },
      '/v1/users': {
        get: {
          operationId: 'listUsers',
          summary: 'List users',
          description: 'Emails are stored encrypted: `email` filters by exact address (case-insensitive), there is no substring search.',
          tags: ['users'],
          parameters: queryParameters(listUsersQuery),
          responses: { ...success(200, 'ListUsersResponse', 'One page of users.'), ...errors('VALIDATION_ERROR', 'INTERNAL_ERROR') },
        },
      },
      '/v1/users/{id}': {
        get: {
          operationId: 'getUser',
          summary: 'Get a user',
          tags: ['users'],
          parameters: [userIdParam('id')],
          responses: { ...success(200, 'UserResponse', 'The user and their counters.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR') },
        },
        delete: {
          operationId: 'deleteUser',
          summary: 'Erase a user',
          description: "Erases the user's personal data (crypto-shredding) and answers an erasure receipt.",
          tags: ['users'],
          parameters: [userIdParam('id')],
          responses: { ...success(200, 'DeleteUserResponse', 'The user was erased.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', ...commandErrors) },
        },
      },
      '/v1/users/{id}/logs': {
        get: {
          operationId: 'listUserLogs',
          summary: "List a user's sign-in attempts",
          tags: ['users'],
          parameters: [userIdParam('id'), ...queryParameters(listLogsQuery)],
          responses: { ...success(200, 'LogsResponse', 'One page of sign-in attempts, newest first.'), ...errors('VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR') },
        },
      },
      '/healthz': {
        get: {
          operationId: 'health',
          summary: 'Liveness: the process answers',
          tags: ['health'],
          responses: { ...success(200, 'HealthResponse', 'The process is alive.'), ...errors('INTERNAL_ERROR') },
        },
      },
      '/readyz': {
        get: {
          operationId: 'ready',
          summary: 'Readiness: every dependency answers and projections are caught up',
          tags: ['health'],
          responses: {
            ...success(200, 'ReadinessResponse', 'Ready to serve.'),
            ...errors('INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'),
          },
        },
      },
    },
    components: {
      schemas: { ...withOneFace(componentSchemas(requestSchemas, 'input')), ...componentSchemas(responseSchemas, 'output') },
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
        'X-Request-Id': { description: 'The id of this request; equals `meta.requestId`.', schema: { type: 'string', pattern: '^req_[0-9a-f]+$' } },
        'Idempotent-Replayed': { description: '`true` when the response is the stored answer to an earlier request with the same Idempotency-Key.', schema: { type: 'string', const: 'true' } },
      },
    },
  };
}
