import http from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client, type TestResponse } from './support/http.ts';
import { startService, type RunningService } from './support/service.ts';

const adminToken = 'admin-token-for-openapi-tests-0123';
const random = seededRandom(4242);
let running: RunningService;
let api: ReturnType<typeof client>;
let doc: any;

const documented: ReadonlyArray<[string, string]> = [
  ['post', '/v1/faces/register'],
  ['post', '/v1/faces/verify'],
  ['post', '/v1/faces/identify'],
  ['get', '/v1/faces/templates/{id}'],
  ['delete', '/v1/faces/templates/{id}'],
  ['get', '/v1/users'],
  ['get', '/v1/users/{id}'],
  ['delete', '/v1/users/{id}'],
  ['get', '/v1/users/{id}/logs'],
  ['post', '/v1/webhooks'],
  ['get', '/v1/webhooks'],
  ['delete', '/v1/webhooks/{id}'],
  ['get', '/v1/webhooks/{id}/deliveries'],
  ['get', '/v1/openapi.json'],
  ['post', '/api/devportal/match'],
  ['post', '/api/devportal/register'],
  ['get', '/api/devportal/register'],
  ['delete', '/api/devportal/register'],
  ['get', '/api/devportal/users'],
  ['post', '/admin/tenants'],
  ['get', '/admin/tenants'],
  ['get', '/admin/tenants/{id}'],
  ['patch', '/admin/tenants/{id}'],
  ['post', '/admin/tenants/{id}/keys'],
  ['get', '/admin/tenants/{id}/keys'],
  ['get', '/admin/tenants/{id}/accuracy'],
  ['delete', '/admin/keys/{id}'],
  ['patch', '/admin/keys/{id}'],
  ['get', '/healthz'],
  ['get', '/metrics'],
  ['get', '/readyz'],
];
const publicPaths = ['/healthz', '/readyz', '/v1/openapi.json'];
/** Public HTML pages (the reference and the console): open, like the probes, but not JSON. */
const pagePaths = ['/docs', '/console'];
const rateHeaders = ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'];

const fakeIds: Record<string, string> = { id: `usr_${'0'.repeat(32)}` };
const fakeTenantId = '00000000-0000-4000-8000-000000000000';
const fakeKeyId = `key_${'0'.repeat(32)}`;
const fakeWebhookId = `wh_${'0'.repeat(32)}`;

/** A documented path with well-formed ids that exist nowhere. */
function concretePath(path: string): string {
  const fake = (name: string) =>
    path.startsWith('/admin/keys/') ? fakeKeyId : path.startsWith('/admin/tenants/') ? fakeTenantId : path.startsWith('/v1/webhooks/') ? fakeWebhookId : (fakeIds[name] ?? 'x');
  return path.replace(/\{(\w+)\}/g, (_, name: string) => fake(name));
}

const adminHeaders = { authorization: `Bearer ${adminToken}` };

function operations(): Array<[string, string, any]> {
  return Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) => Object.entries(item).map(([method, operation]) => [method, path, operation] as [string, string, any]));
}

/** The codes an error response's schema narrows to (envelope: `error.code`; SDK routes: `code`). */
function errorCodes(response: any): string[] | undefined {
  const narrowing = response?.content?.['application/json']?.schema?.allOf?.[1]?.properties;
  return narrowing?.error?.properties?.code?.enum ?? narrowing?.code?.enum;
}

/** Resolves a local `$ref` (`#/a/b`) inside the document; undefined if it points nowhere. */
function resolve(ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'null':
      return value === null;
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    default:
      return typeof value === type;
  }
}

/**
 * What `value` breaks of a JSON Schema of this document: the keywords it uses ($ref, type, const,
 * enum, pattern, minimum/maximum, required, properties, additionalProperties, items, allOf, anyOf,
 * oneOf). Enough to hold real answers to what the document promises.
 */
function violations(schema: any, value: unknown, at = '$'): string[] {
  if (schema === undefined || schema === true) return [];
  const problems: string[] = [];
  if (typeof schema.$ref === 'string') {
    const target = resolve(schema.$ref);
    if (target === undefined) return [`${at}: ${schema.$ref} resolves nowhere`];
    problems.push(...violations(target, value, at));
  }
  if (schema.type !== undefined && ![schema.type].flat().some((type: string) => typeMatches(type, value))) problems.push(`${at}: ${JSON.stringify(value)} is not ${[schema.type].flat().join(' or ')}`);
  if ('const' in schema && !isDeepStrictEqual(schema.const, value)) problems.push(`${at}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.some((option: unknown) => isDeepStrictEqual(option, value))) problems.push(`${at}: ${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`);
  if (typeof value === 'string' && typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value)) problems.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  if (typeof value === 'number' && typeof schema.minimum === 'number' && value < schema.minimum) problems.push(`${at}: ${value} < ${schema.minimum}`);
  if (typeof value === 'number' && typeof schema.maximum === 'number' && value > schema.maximum) problems.push(`${at}: ${value} > ${schema.maximum}`);
  if (typeMatches('object', value)) {
    const object = value as Record<string, unknown>;
    const properties: Record<string, unknown> = schema.properties ?? {};
    for (const name of schema.required ?? []) if (!Object.hasOwn(object, name)) problems.push(`${at}.${name} is missing`);
    for (const [name, item] of Object.entries(object)) {
      if (Object.hasOwn(properties, name)) problems.push(...violations(properties[name], item, `${at}.${name}`));
      else if (schema.additionalProperties === false) problems.push(`${at}.${name} is not documented`);
      else if (typeof schema.additionalProperties === 'object') problems.push(...violations(schema.additionalProperties, item, `${at}.${name}`));
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) value.forEach((item, index) => problems.push(...violations(schema.items, item, `${at}[${index}]`)));
  for (const part of schema.allOf ?? []) problems.push(...violations(part, value, at));
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((part: unknown) => violations(part, value, at).length === 0)) problems.push(`${at}: matches no anyOf branch (${schema.anyOf.map((part: unknown) => violations(part, value, at).join('; ')).join(' | ')})`);
  if (Array.isArray(schema.oneOf) && schema.oneOf.filter((part: unknown) => violations(part, value, at).length === 0).length !== 1) problems.push(`${at}: does not match exactly one oneOf branch`);
  return problems;
}

/** Holds a real answer to the document: its status is documented, its body and documented headers conform. */
function conforms(t: ExecutionContext, method: string, path: string, response: TestResponse): void {
  const where = `${method.toUpperCase()} ${path} → ${response.status}`;
  const documentedResponse = doc.paths[path]?.[method]?.responses?.[String(response.status)];
  if (!documentedResponse) {
    t.fail(`${where} is not a documented answer (${JSON.stringify(response.body)})`);
    return;
  }
  t.deepEqual(violations(documentedResponse.content['application/json'].schema, response.body), [], `${where}: body`);
  for (const [name, header] of Object.entries<any>(documentedResponse.headers ?? {})) {
    if (name === 'Idempotent-Replayed') continue;
    const value = response.headers.get(name);
    if (value === null) {
      t.fail(`${where}: no ${name} header`);
      continue;
    }
    const schema = (header.$ref ? (resolve(header.$ref) as any) : header).schema;
    t.deepEqual(violations(schema, /^\d+$/.test(value) ? Number(value) : value), [], `${where}: ${name}: ${value}`);
  }
}

/** A raw GET whose path is sent exactly as written (fetch would normalise `..` away). */
function rawGet(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const url = new URL(running.baseUrl);
  return new Promise((done, fail) => {
    const request = http.get({ host: url.hostname, port: url.port, path, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => done({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', fail);
  });
}

test.before(async () => {
  // Private webhook targets are allowed so a webhook can be registered without the network.
  running = await startService({ ADMIN_TOKEN: adminToken, WEBHOOK_ALLOW_PRIVATE: 'true' });
  api = client(running.baseUrl, running.auth);
  const response = await api.get('/v1/openapi.json');
  doc = response.body;
});

test.after.always(async () => {
  await running?.stop();
});

test('the document is OpenAPI 3.1.0 about this service, served as JSON', async (t) => {
  const response = await api.get('/v1/openapi.json');
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^application\/json/);
  t.truthy(response.headers.get('x-request-id'));
  t.is(doc.openapi, '3.1.0');
  t.is(doc.info.title, 'FaceSmash API');
  t.regex(doc.info.version, /^\d+\.\d+\.\d+/);
  t.deepEqual(doc.servers, [{ url: '/' }]);
});

test('every route of the contract is documented with an operationId, tags and a 2xx answer', (t) => {
  for (const [method, path] of documented) t.truthy(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
  const ids = new Set<string>();
  for (const [method, path, operation] of operations()) {
    const where = `${method.toUpperCase()} ${path}`;
    t.is(typeof operation.operationId, 'string', where);
    t.false(ids.has(operation.operationId), `${where}: operationId is unique`);
    ids.add(operation.operationId);
    t.is(typeof operation.summary, 'string', where);
    t.true(operation.tags.length > 0 && operation.tags.every((tag: string) => ['faces', 'users', 'webhooks', 'sdk', 'admin', 'health', 'docs', 'console'].includes(tag)), where);
    t.true(operation.tags.every((tag: string) => doc.tags.some((declared: any) => declared.name === tag)), `${where}: its tags are declared`);
    const statuses = Object.keys(operation.responses);
    t.true(statuses.some((status) => /^2\d\d$/.test(status)), `${where} has a 2xx response`);
    for (const [status, response] of Object.entries<any>(operation.responses)) {
      t.truthy(response.headers?.['X-Request-Id'], `${where} ${status} documents X-Request-Id`);
      if (!/^[45]\d\d$/.test(status)) continue;
      const schema = response.content['application/json'].schema;
      const base = schema.allOf?.[0]?.$ref ?? schema.$ref;
      if (path.startsWith('/api/devportal/')) t.true(['#/components/schemas/SdkError', '#/components/schemas/SdkDuplicateFaceError'].includes(base), `${where} ${status} is a flat SDK error`);
      else t.is(base, '#/components/schemas/Error', `${where} ${status} is the Error envelope`);
    }
    if (method === 'post' && path.startsWith('/v1/')) t.true(operation.parameters.some((p: any) => p.$ref === '#/components/parameters/Idempotency-Key'), `${where} takes Idempotency-Key`);
  }
  t.truthy(doc.paths['/v1/faces/register'].post.responses['201']);
  t.truthy(doc.paths['/v1/faces/register'].post.responses['409']);
  t.deepEqual(doc.paths['/v1/faces/register'].post.responses['409'].content['application/json'].schema.allOf[1].properties.error.properties.code.enum, ['DUPLICATE_FACE', 'IDEMPOTENCY_CONFLICT']);
  t.truthy(doc.paths['/v1/faces/verify'].post.responses['200']);
  t.deepEqual(
    doc.paths['/v1/users'].get.parameters.filter((p: any) => p.in === 'query').map((p: any) => [p.name, p.in]),
    [['page', 'query'], ['perPage', 'query'], ['sort', 'query'], ['email', 'query']],
  );
  t.deepEqual(doc.paths['/v1/users/{id}/logs'].get.parameters.filter((p: any) => p.name !== undefined).map((p: any) => p.name), ['id', 'page', 'perPage', 'success']);
  t.true(doc.paths['/v1/users'].get.parameters.some((p: any) => p.$ref === '#/components/parameters/X-Read-After'), 'reads take X-Read-After');
});

test('the register request schema comes from zod: email required, a descriptor of exactly 128 numbers', (t) => {
  const ref = doc.paths['/v1/faces/register'].post.requestBody.content['application/json'].schema.$ref;
  const schema: any = resolve(ref);
  t.truthy(schema);
  t.true(schema.required.includes('email'));
  t.is(schema.properties.descriptor.type, 'array');
  t.is(schema.properties.descriptor.minItems, 128);
  t.is(schema.properties.descriptor.maxItems, 128);
  t.is(schema.properties.email.format, 'email');
  t.false(schema.additionalProperties);
  const identify: any = resolve('#/components/schemas/IdentifyRequest');
  t.deepEqual([identify.properties.maxResults.minimum, identify.properties.maxResults.maximum, identify.properties.maxResults.default], [1, 50, 1]);
  const error: any = resolve('#/components/schemas/Error');
  t.true(error.properties.error.properties.code.enum.includes('VALIDATION_ERROR'));
  t.true(error.properties.error.properties.code.enum.includes('SERVICE_UNAVAILABLE'));
});

test('every $ref in the document resolves inside it', (t) => {
  const refs: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref') refs.push(String(value));
        else walk(value);
      }
    }
  };
  walk(doc);
  t.true(refs.length > 20);
  for (const ref of new Set(refs)) t.not(resolve(ref), undefined, `${ref} resolves`);
  t.false(JSON.stringify(doc).includes('"$defs"'), 'no schema-local definitions that would dangle once embedded');
});

test('every declared operation answers as a route (no 405, no "no route")', async (t) => {
  for (const [method, path] of operations()) {
    const concrete = concretePath(path);
    const headers = path.startsWith('/admin/') ? adminHeaders : {};
    const response = await api.call(method.toUpperCase(), concrete, method === 'post' ? {} : undefined, headers);
    t.not(response.status, 405, `${method.toUpperCase()} ${concrete}`);
    // The envelope's error is an object; the SDK routes' flat error is the message itself.
    const error = response.body?.error;
    const message: string = typeof error === 'string' ? error : (error?.message ?? '');
    t.false(message.startsWith('no route'), `${method.toUpperCase()} ${concrete} answered ${response.status} ${message}`);
  }
});

test('nothing is mounted outside the declarations: every route the app has is in the document (besides the docs UI, the console\'s assets and the redirect at /)', (t) => {
  const routes = new Set<string>();
  for (const middleware of running.service.app.middleware as Array<{ router?: { stack: Array<{ path: string | RegExp; methods: string[] }> } }>) {
    for (const layer of middleware.router?.stack ?? []) {
      const path = String(layer.path).replace(/:(\w+)/g, '{$1}').replace(/(.)\/$/, '$1');
      if (path.startsWith('/docs') || path.startsWith('/console/assets') || path === '/') continue;
      for (const method of layer.methods) if (method !== 'HEAD') routes.add(`${method.toLowerCase()} ${path}`);
    }
  }
  t.true(routes.size >= documented.length, `found the app's routes (${[...routes].join(', ')})`);
  for (const prefix of ['/v1/', '/api/devportal/', '/admin/']) t.true([...routes].some((route) => route.includes(` ${prefix}`)), `routes under ${prefix} were found`);
  const inDocument = new Set(operations().map(([method, path]) => `${method} ${path}`));
  t.deepEqual([...routes].filter((route) => !inDocument.has(route)), [], 'undocumented routes');
});

test('security: API keys with a named scope on /v1 and the SDK routes, the admin token on /admin, nothing on the probes and this document', (t) => {
  const schemes = doc.components.securitySchemes;
  t.like(schemes.bearerKey, { type: 'http', scheme: 'bearer' });
  t.regex(schemes.bearerKey.description, /fs_live_/);
  t.regex(schemes.bearerKey.description, /fs_test_/);
  t.like(schemes.apiKeyHeader, { type: 'apiKey', in: 'header', name: 'X-API-Key' });
  t.like(schemes.adminToken, { type: 'http', scheme: 'bearer' });
  const scopes: string[] = doc.components.schemas.IssueKeyRequest.properties.scopes.items.enum;
  t.true(scopes.includes('users:delete'));
  const open: string[] = [];
  for (const [method, path, operation] of operations()) {
    const where = `${method.toUpperCase()} ${path}`;
    if (path === '/metrics') {
      t.deepEqual(operation.security, [{ metricsToken: [] }, {}], `${where} takes the metrics token when one is configured`);
      continue;
    }
    if (publicPaths.includes(path) || pagePaths.includes(path)) {
      open.push(path);
      t.deepEqual(operation.security, [], `${where} is public`);
      t.is(operation['x-required-scope'], undefined, where);
      continue;
    }
    if (path.startsWith('/admin/')) {
      t.deepEqual(operation.security, [{ adminToken: [] }], `${where} takes the admin token`);
      t.deepEqual(operation.tags, ['admin'], where);
      t.deepEqual(errorCodes(operation.responses['401']), ['UNAUTHORIZED'], `${where} documents 401`);
      t.is(operation['x-required-scope'], undefined, where);
      continue;
    }
    t.true(path.startsWith('/v1/') || path.startsWith('/api/devportal/'), `${where} is keyed, admin or public`);
    t.deepEqual(operation.security, [{ bearerKey: [] }, { apiKeyHeader: [] }], `${where} takes an API key`);
    const scope = operation['x-required-scope'];
    t.true(scopes.includes(scope), `${where} names its scope (${scope})`);
    t.true(operation.description.includes(`\`${scope}\``), `${where} describes its scope`);
    t.deepEqual(errorCodes(operation.responses['401']), ['UNAUTHORIZED'], `${where} documents 401`);
    t.deepEqual(errorCodes(operation.responses['403']), ['FORBIDDEN'], `${where} documents 403`);
    t.deepEqual(errorCodes(operation.responses['429']), ['RATE_LIMITED', 'QUOTA_EXCEEDED'], `${where} documents 429`);
    t.truthy(operation.responses['429'].headers['Retry-After'], `${where} 429 documents Retry-After`);
    const errorBase = path.startsWith('/v1/') ? '#/components/schemas/Error' : '#/components/schemas/SdkError';
    for (const status of ['401', '403', '429']) t.is(operation.responses[status].content['application/json'].schema.allOf[0].$ref, errorBase, `${where} ${status}`);
    for (const [status, response] of Object.entries<any>(operation.responses)) {
      // The guard counts a request once its key is known: every answer but 401 carries the counters.
      for (const header of rateHeaders) t.is(Boolean(response.headers[header]), status !== '401', `${where} ${status} ${header}`);
    }
  }
  t.deepEqual(open.sort(), [...publicPaths, ...pagePaths].sort());
  const scopeOf = (method: string, path: string) => doc.paths[path][method]['x-required-scope'];
  t.is(scopeOf('post', '/v1/faces/register'), 'faces:register');
  t.is(scopeOf('delete', '/v1/faces/templates/{id}'), 'faces:register');
  t.is(scopeOf('post', '/api/devportal/match'), 'faces:identify');
  t.is(scopeOf('delete', '/api/devportal/register'), 'users:delete');
  t.is(doc.paths['/v1/users/{id}'].delete.responses['403'].content['application/json'].schema.allOf[1].properties.error.properties.details.properties.scope.const, 'users:delete');
  for (const header of [...rateHeaders, 'Retry-After']) t.truthy(doc.components.headers[header], header);
});

test('the app enforces the declared security: 401 without a key, 403 naming the missing scope, the admin token only for /admin', async (t) => {
  const anonymous = client(running.baseUrl);
  const keyed = operations().filter(([, , operation]) => operation['x-required-scope'] !== undefined);
  t.true(keyed.length >= 14);
  const withoutScope = new Map<string, string>();
  for (const scope of new Set(keyed.map(([, , operation]) => operation['x-required-scope'] as string))) {
    const scopes = doc.components.schemas.IssueKeyRequest.properties.scopes.items.enum.filter((other: string) => other !== scope);
    const issued = await api.post(`/admin/tenants/${running.tenantId}/keys`, { mode: 'live', name: `without ${scope}`, scopes }, adminHeaders);
    conforms(t, 'post', '/admin/tenants/{id}/keys', issued);
    withoutScope.set(scope, issued.body.data.key);
  }
  for (const [method, path, operation] of keyed) {
    const concrete = concretePath(path);
    const body = method === 'post' || method === 'delete' ? {} : undefined;
    const missing = await anonymous.call(method.toUpperCase(), concrete, body);
    t.is(missing.status, 401, `${method.toUpperCase()} ${path} without a key`);
    conforms(t, method, path, missing);
    // Bearer on /v1, X-API-Key on the SDK routes (as the SDK sends it): both schemes are exercised.
    const key = withoutScope.get(operation['x-required-scope'])!;
    const header: Record<string, string> = path.startsWith('/api/devportal/') ? { 'x-api-key': key } : { authorization: `Bearer ${key}` };
    const forbidden = await anonymous.call(method.toUpperCase(), concrete, body, header);
    t.is(forbidden.status, 403, `${method.toUpperCase()} ${path} without ${operation['x-required-scope']}`);
    conforms(t, method, path, forbidden);
  }
  for (const [method, path] of operations().filter(([, path]) => path.startsWith('/admin/'))) {
    for (const headers of [{}, running.auth]) {
      const refused = await anonymous.call(method.toUpperCase(), concretePath(path), method === 'post' || method === 'patch' ? {} : undefined, headers);
      t.is(refused.status, 401, `${method.toUpperCase()} ${path} with ${Object.keys(headers).length ? 'an API key' : 'nothing'}`);
      conforms(t, method, path, refused);
    }
  }
  for (const path of pagePaths) t.is((await fetch(`${running.baseUrl}${path}`)).status, 200, `${path} needs nothing`);
  for (const path of publicPaths) {
    const response = await anonymous.get(path);
    t.not(response.status, 401, `${path} needs nothing`);
    conforms(t, 'get', path, response);
  }
});

test('the admin answers are what the document says', async (t) => {
  const admin = client(running.baseUrl, adminHeaders);
  const created = await admin.post('/admin/tenants', { name: 'documented tenant', plan: 'pro', settings: { maxTemplates: 3 } });
  t.is(created.status, 201);
  conforms(t, 'post', '/admin/tenants', created);
  const id: string = created.body.data.tenant.id;
  conforms(t, 'get', '/admin/tenants', await admin.get('/admin/tenants'));
  conforms(t, 'get', '/admin/tenants/{id}', await admin.get(`/admin/tenants/${id}`));
  const patched = await admin.call('PATCH', `/admin/tenants/${id}`, { settings: { inactiveUserErasureMonths: 24 } });
  t.is(patched.status, 200);
  conforms(t, 'patch', '/admin/tenants/{id}', patched);
  const issued = await admin.post(`/admin/tenants/${id}/keys`, { mode: 'test', name: 'ci', expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
  t.is(issued.status, 201);
  conforms(t, 'post', '/admin/tenants/{id}/keys', issued);
  const revoked = await admin.delete(`/admin/keys/${issued.body.data.id}`);
  t.is(revoked.status, 200);
  conforms(t, 'delete', '/admin/keys/{id}', revoked);
  const keys = await admin.get(`/admin/tenants/${id}/keys`);
  t.deepEqual(keys.body.data.keys.map((key: any) => key.status).sort(), ['active', 'active', 'revoked']);
  conforms(t, 'get', '/admin/tenants/{id}/keys', keys);
  conforms(t, 'get', '/admin/tenants/{id}/accuracy', await admin.get(`/admin/tenants/${id}/accuracy?mode=test`));
  conforms(t, 'get', '/admin/tenants/{id}/accuracy', await admin.get(`/admin/tenants/${fakeTenantId}/accuracy`));
  conforms(t, 'get', '/admin/tenants/{id}', await admin.get(`/admin/tenants/${fakeTenantId}`));
  conforms(t, 'post', '/admin/tenants/{id}/keys', await admin.post(`/admin/tenants/${id}/keys`, { mode: 'test', scopes: ['users:delete'] }));
  conforms(t, 'delete', '/admin/keys/{id}', await admin.delete('/admin/keys/nope'));
});

test('the webhook answers are what the document says', async (t) => {
  // Nothing listens on port 9: the delivery fails and stays in the log with its error.
  const created = await api.post('/v1/webhooks', { url: 'http://127.0.0.1:9/documented-hook', events: ['template.created'] });
  t.is(created.status, 201);
  conforms(t, 'post', '/v1/webhooks', created);
  conforms(t, 'post', '/v1/webhooks', await api.post('/v1/webhooks', { url: 'ftp://example.com/hook' }));
  t.is((await api.post('/v1/faces/register', { email: 'webhook.doc@example.com', descriptor: randomVector(random) })).status, 201);
  conforms(t, 'get', '/v1/webhooks', await api.get('/v1/webhooks'));
  let deliveries = await api.get(`/v1/webhooks/${created.body.data.id}/deliveries?limit=5`);
  for (let tries = 0; tries < 100 && (deliveries.body.data?.deliveries ?? []).every((d: any) => d.attempts === 0); tries++) {
    await new Promise((done) => setTimeout(done, 100));
    deliveries = await api.get(`/v1/webhooks/${created.body.data.id}/deliveries?limit=5`);
  }
  t.is(deliveries.body.data.deliveries[0]?.event, 'template.created');
  conforms(t, 'get', '/v1/webhooks/{id}/deliveries', deliveries);
  conforms(t, 'get', '/v1/webhooks', await api.get('/v1/webhooks'));
  conforms(t, 'delete', '/v1/webhooks/{id}', await api.delete(`/v1/webhooks/${created.body.data.id}`));
  conforms(t, 'delete', '/v1/webhooks/{id}', await api.delete(`/v1/webhooks/${created.body.data.id}`));
  conforms(t, 'get', '/v1/webhooks/{id}/deliveries', await api.get(`/v1/webhooks/${fakeWebhookId}/deliveries`));
});

test('the SDK routes answer the flat bodies the document describes', async (t) => {
  const sdk = client(running.baseUrl, { 'x-api-key': running.liveKey });
  const face = randomVector(random);
  const appId = 'docs-app';
  const created = await sdk.post('/api/devportal/register', { email: 'documented.sdk@example.com', fullName: 'Doc User', descriptor: face, qualityScore: 0.9, appId });
  t.is(created.status, 201);
  conforms(t, 'post', '/api/devportal/register', created);
  const added = await sdk.post('/api/devportal/register', { email: 'documented.sdk@example.com', descriptor: atDistance(face, 0.1, random) });
  t.is(added.status, 200);
  conforms(t, 'post', '/api/devportal/register', added);
  const duplicate = await sdk.post('/api/devportal/register', { email: 'someone.else@example.com', descriptor: atDistance(face, 0.05, random) });
  t.is(duplicate.status, 409);
  conforms(t, 'post', '/api/devportal/register', duplicate);
  conforms(t, 'post', '/api/devportal/register', await sdk.post('/api/devportal/register', { email: 'not-an-email', descriptor: face }));

  const matched = await sdk.post('/api/devportal/match', { descriptor: atDistance(face, 0.2, random), appId });
  t.true(matched.body.match);
  conforms(t, 'post', '/api/devportal/match', matched);
  const unmatched = await sdk.post('/api/devportal/match', { descriptor: randomVector(random) });
  t.false(unmatched.body.match);
  conforms(t, 'post', '/api/devportal/match', unmatched);

  const status = await sdk.get(`/api/devportal/register?email=documented.sdk%40example.com&appId=${appId}`);
  t.true(status.body.registered);
  conforms(t, 'get', '/api/devportal/register', status);
  conforms(t, 'get', '/api/devportal/register', await sdk.get('/api/devportal/register?email=nobody%40example.com'));
  const users = await sdk.get('/api/devportal/users?search=documented.sdk%40example.com&perPage=5');
  t.is(users.body.items.length, 1);
  conforms(t, 'get', '/api/devportal/users', users);

  const unlinked = await sdk.call('DELETE', '/api/devportal/register', { email: 'documented.sdk@example.com', appId });
  t.is(unlinked.status, 200);
  conforms(t, 'delete', '/api/devportal/register', unlinked);
  const gone = await sdk.call('DELETE', '/api/devportal/register', { email: 'documented.sdk@example.com' });
  t.is(gone.status, 404);
  conforms(t, 'delete', '/api/devportal/register', gone);
});

test('/docs is an HTML page that loads only local assets, each with a sensible type and caching', async (t) => {
  const response = await fetch(`${running.baseUrl}/docs`);
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^text\/html/);
  t.regex(response.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  const html = await response.text();
  t.false(/<script>|<script\s[^>]*>[^<\s]/i.test(html), 'no inline script');
  const references = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
  t.true(references.length >= 4);
  for (const reference of references) t.false(/^(https?:)?\/\//i.test(reference), `${reference} is local`);
  for (const expected of ['/docs/assets/swagger-ui.css', '/docs/assets/swagger-ui-bundle.js', '/docs/assets/swagger-ui-standalone-preset.js', '/docs/init.js']) {
    t.true(references.includes(expected), `${expected} is referenced`);
  }
  const types: Record<string, RegExp> = { css: /^text\/css/, js: /^(text|application)\/javascript/, png: /^image\/png/ };
  for (const reference of references) {
    const asset = await fetch(`${running.baseUrl}${reference}`);
    t.is(asset.status, 200, reference);
    t.regex(asset.headers.get('content-type') ?? '', types[reference.split('.').at(-1)!]!, reference);
    t.truthy(asset.headers.get('cache-control'), reference);
    t.true((await asset.arrayBuffer()).byteLength > 0, reference);
  }
  const init = await (await fetch(`${running.baseUrl}/docs/init.js`)).text();
  t.regex(init, /url: '\/v1\/openapi\.json'/);
  t.regex(init, /validatorUrl: null/);
});

test('assets answer 304 to a matching If-None-Match', async (t) => {
  const first = await fetch(`${running.baseUrl}/docs/assets/swagger-ui.css`);
  const etag = first.headers.get('etag');
  t.truthy(etag);
  await first.arrayBuffer();
  // Raw request: fetch adds Cache-Control: no-cache to conditional requests, which forbids a 304.
  const again = await rawGet('/docs/assets/swagger-ui.css', { 'if-none-match': etag! });
  t.is(again.status, 304);
  t.is(again.body, '');
});

test('only the listed assets are served: traversal and unknown files are 404', async (t) => {
  for (const path of [
    '/docs/assets/../package.json',
    '/docs/assets/..%2fpackage.json',
    '/docs/assets/%2e%2e%2f%2e%2e%2fpackage.json',
    '/docs/assets/..%2f..%2f..%2fpackage.json',
    '/docs/assets/package.json',
    '/docs/assets/swagger-ui.js.map',
    '/docs/assets/absolute-path.js',
    '/docs/assets/constructor',
    '/docs/assets/__proto__',
    '/docs/assets/',
  ]) {
    const response = await rawGet(path);
    t.is(response.status, 404, path);
    t.false(response.body.includes('"swagger-ui-dist"'), `${path} leaks no file`);
  }
});
