import test from 'ava';
import type { ErrorCode } from '../src/errors/appError.ts';
import { assertRefusal, fetchedAnswer, startHostileService, type CallerKind, type HostileTargets } from './support/hostile.ts';

/**
 * Hostile query strings, path parameters, methods and headers on every route, /healthz, /readyz,
 * /docs and /v1/openapi.json included. Each case, generated from the tables below, must answer a
 * small 4xx in the envelope (the SDK's flat shape on /api/devportal) and append nothing.
 */

let targets: HostileTargets;

test.before(async () => {
  targets = await startHostileService();
});

test.after.always(async () => {
  await targets?.running.stop();
});

interface RequestCase {
  readonly title: string;
  readonly method: string;
  /** With `{user}`-style placeholders. */
  readonly path: string;
  readonly caller: CallerKind;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly code?: ErrorCode;
}

// ---------------------------------------------------------------------------------------------
// Query strings: every parameter of every route that reads one, broken one way at a time.

type QueryKind = 'count' | 'enum' | 'email' | 'dateTime' | 'text';

const queryValues: Readonly<Record<QueryKind, readonly (readonly [string, string])[]>> = {
  count: [
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['-Infinity', '-Infinity'],
    ['1e400', '1e400'],
    ['-1', '-1'],
    ['0', '0'],
    ['1.5', '1.5'],
    ['a word', 'abc'],
    ['empty', ''],
    ['NUL', '%00'],
    ['1 then NUL', '1%00'],
    ['5,000 digits', '9'.repeat(5000)],
    ['a lone surrogate as UTF-8 bytes', '%ED%A0%80'],
    ['a %u escape', '%uD800'],
  ],
  enum: [
    ['NUL', '%00'],
    ['a valid value then NUL', 'createdAt%00'],
    ['an unknown value', 'nope'],
    ['empty', ''],
    ['a lone surrogate as UTF-8 bytes', '%ED%A0%80'],
  ],
  email: [
    ['NUL', '%00'],
    ['NUL inside', 'a%00b%40example.com'],
    ['not an email', 'x'],
    ['empty', ''],
    ['a lone surrogate as UTF-8 bytes', '%ED%A0%80%40example.com'],
    ['300 characters', `${'a'.repeat(288)}%40example.com`],
  ],
  dateTime: [
    ['NUL', '%00'],
    ['a date then NUL', '2024-01-01T00%3A00%3A00Z%00'],
    ['words', 'yesterday'],
    ['empty', ''],
    ['month 13', '2024-13-01T00%3A00%3A00Z'],
  ],
  text: [
    ['NUL', '%00'],
    ['NUL inside', 'a%00b'],
    ['300 characters', 'a'.repeat(300)],
  ],
};

const queryRoutes: readonly { readonly path: string; readonly caller: CallerKind; readonly params: Readonly<Record<string, QueryKind>>; readonly valid: Readonly<Record<string, string>> }[] = [
  { path: '/v1/users', caller: 'key', params: { page: 'count', perPage: 'count', sort: 'enum', email: 'email' }, valid: { page: '1', perPage: '10', sort: 'createdAt', email: 'a%40example.com' } },
  { path: '/v1/users/{user}/logs', caller: 'key', params: { page: 'count', perPage: 'count', success: 'enum' }, valid: { page: '1', perPage: '10', success: 'true' } },
  { path: '/v1/users/{user}/history', caller: 'key', params: { at: 'dateTime' }, valid: { at: '2024-01-01T00%3A00%3A00Z' } },
  { path: '/v1/erasures', caller: 'key', params: { page: 'count', perPage: 'count' }, valid: { page: '1', perPage: '10' } },
  { path: '/v1/webhooks/{webhook}/deliveries', caller: 'key', params: { limit: 'count' }, valid: { limit: '10' } },
  { path: '/api/devportal/register', caller: 'sdk', params: { email: 'email', appId: 'text' }, valid: { email: 'a%40example.com', appId: 'app' } },
  { path: '/api/devportal/users', caller: 'sdk', params: { appId: 'text', search: 'text', page: 'count', perPage: 'count' }, valid: { appId: 'app', search: 'a%40example.com', page: '1', perPage: '10' } },
];

const query = (params: Readonly<Record<string, string>>) => Object.entries(params).map(([key, value]) => `${key}=${value}`).join('&');

const queryCases: RequestCase[] = queryRoutes.flatMap((route) => {
  const at = (title: string, params: string, code: ErrorCode = 'VALIDATION_ERROR'): RequestCase => ({ title: `${route.path}?: ${title}`, method: 'GET', path: `${route.path}?${params}`, caller: route.caller, code });
  const [first] = Object.keys(route.params);
  return [
    ...Object.entries(route.params).flatMap(([param, kind]) =>
      queryValues[kind].map(([label, value]) => at(`${param} ${label}`, query({ ...route.valid, [param]: value }))),
    ),
    ...Object.keys(route.params).map((param) => at(`${param} twice`, `${query(route.valid)}&${param}=${route.valid[param]}`)),
    at('an unknown parameter', `${query(route.valid)}&nope=1`),
    at('a __proto__ parameter', `${query(route.valid)}&__proto__=1`),
    at('a constructor parameter', `${query(route.valid)}&constructor=1`),
    at('a bracketed parameter', `${query(route.valid)}&${first}[x]=1`),
    at('NUL as a parameter name', `${query(route.valid)}&%00=1`),
    at('a lone surrogate as a parameter name (%u)', `${query(route.valid)}&%uD800=1`),
    at('1,500 parameters', `${query(route.valid)}&${Array.from({ length: 1500 }, (_, i) => `p${i}=1`).join('&')}`),
  ];
});

// ---------------------------------------------------------------------------------------------
// Path parameters: every route that takes one, with ids that are not ids.

const pathRoutes: readonly { readonly method: string; readonly path: string; readonly caller: CallerKind; readonly body?: string; readonly code?: ErrorCode }[] = [
  { method: 'GET', path: '/v1/faces/templates/:id', caller: 'key' },
  { method: 'DELETE', path: '/v1/faces/templates/:id', caller: 'key' },
  { method: 'GET', path: '/v1/users/:id', caller: 'key' },
  { method: 'DELETE', path: '/v1/users/:id', caller: 'key' },
  { method: 'GET', path: '/v1/users/:id/history', caller: 'key' },
  { method: 'GET', path: '/v1/users/:id/logs', caller: 'key' },
  { method: 'DELETE', path: '/v1/webhooks/:id', caller: 'key' },
  { method: 'POST', path: '/v1/webhooks/:id/resume', caller: 'key' },
  { method: 'GET', path: '/v1/webhooks/:id/deliveries', caller: 'key' },
  { method: 'GET', path: '/admin/tenants/:id', caller: 'admin' },
  { method: 'PATCH', path: '/admin/tenants/:id', caller: 'admin', body: '{"plan":"pro"}' },
  { method: 'GET', path: '/admin/tenants/:id/keys', caller: 'admin' },
  { method: 'POST', path: '/admin/tenants/:id/keys', caller: 'admin', body: '{"mode":"test"}' },
  { method: 'DELETE', path: '/admin/keys/:id', caller: 'admin' },
  { method: 'GET', path: '/docs/assets/:id', caller: 'none', code: 'NOT_FOUND' },
];

const badIds: readonly (readonly [string, string])[] = [
  ['NUL', '%00'],
  ['a valid-looking id then NUL', `usr_${'0'.repeat(32)}%00`],
  ['a lone surrogate as UTF-8 bytes', '%ED%A0%80'],
  ['a %u escape', '%uD800'],
  ['8,000 characters', 'x'.repeat(8000)],
  ['a dot-dot path', '..%2F..%2F..%2Fetc%2Fpasswd'],
  ['an encoded dot-dot and slash', '%2e%2e%2f'],
  ['a lone percent sign', '%'],
  ['a broken escape', '%zz'],
  ['an encoded space', '%20'],
  ['a newline', `key_${'0'.repeat(32)}%0A`],
  ['upper-case hex', `USR_${'A'.repeat(32)}`],
  ['JSON', '%7B%22a%22%3A1%7D'],
];

const refusedEverywhere = new Set(['NUL', 'a valid-looking id then NUL', '8,000 characters']);

const pathCases: RequestCase[] = pathRoutes.flatMap((route) =>
  badIds.map(([label, id]): RequestCase => ({
    title: `${route.method} ${route.path}: ${label}`,
    method: route.method,
    path: route.path.replace(':id', id),
    caller: route.caller,
    ...(route.body !== undefined ? { body: route.body, headers: { 'content-type': 'application/json' } } : {}),
    // A route whose unknown names are 404 (the docs assets) still refuses, like every route, a
    // path value that is not storable text or is over its length (400 naming the field).
    code: route.code !== undefined && !refusedEverywhere.has(label) ? route.code : 'VALIDATION_ERROR',
  })),
);

// ---------------------------------------------------------------------------------------------
// Methods: every path, with the methods it does not have (and some no route has).

const paths: readonly { readonly path: string; readonly allow: readonly string[]; readonly caller: CallerKind }[] = [
  { path: '/healthz', allow: ['GET'], caller: 'none' },
  { path: '/readyz', allow: ['GET'], caller: 'none' },
  { path: '/docs', allow: ['GET'], caller: 'none' },
  { path: '/docs/init.js', allow: ['GET'], caller: 'none' },
  { path: '/docs/assets/swagger-ui.css', allow: ['GET'], caller: 'none' },
  { path: '/v1/openapi.json', allow: ['GET'], caller: 'none' },
  { path: '/v1/faces/register', allow: ['POST'], caller: 'key' },
  { path: '/v1/faces/verify', allow: ['POST'], caller: 'key' },
  { path: '/v1/faces/identify', allow: ['POST'], caller: 'key' },
  { path: '/v1/faces/detect', allow: ['POST'], caller: 'key' },
  { path: '/v1/faces/templates/{template}', allow: ['GET', 'DELETE'], caller: 'key' },
  { path: '/v1/users', allow: ['GET'], caller: 'key' },
  { path: '/v1/users/{user}', allow: ['GET', 'DELETE'], caller: 'key' },
  { path: '/v1/users/{user}/history', allow: ['GET'], caller: 'key' },
  { path: '/v1/users/{user}/logs', allow: ['GET'], caller: 'key' },
  { path: '/v1/webhooks', allow: ['GET', 'POST'], caller: 'key' },
  { path: '/v1/webhooks/{webhook}', allow: ['DELETE'], caller: 'key' },
  { path: '/v1/webhooks/{webhook}/resume', allow: ['POST'], caller: 'key' },
  { path: '/v1/webhooks/{webhook}/deliveries', allow: ['GET'], caller: 'key' },
  { path: '/v1/erasures', allow: ['GET'], caller: 'key' },
  { path: '/admin/tenants', allow: ['GET', 'POST'], caller: 'admin' },
  { path: '/admin/tenants/{tenant}', allow: ['GET', 'PATCH'], caller: 'admin' },
  { path: '/admin/tenants/{tenant}/keys', allow: ['GET', 'POST'], caller: 'admin' },
  { path: '/admin/keys/{key}', allow: ['PATCH', 'DELETE'], caller: 'admin' },
  { path: '/api/devportal/match', allow: ['POST'], caller: 'sdk' },
  { path: '/api/devportal/register', allow: ['GET', 'POST', 'DELETE'], caller: 'sdk' },
  { path: '/api/devportal/users', allow: ['GET'], caller: 'sdk' },
];

const tried = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND', 'MKCOL', 'LOCK', 'SEARCH'];

const methodCases: RequestCase[] = paths.flatMap((route) =>
  tried
    .filter((method) => !route.allow.includes(method))
    .flatMap((method): RequestCase[] => [
      { title: `${method} ${route.path}`, method, path: route.path, caller: route.caller, code: 'METHOD_NOT_ALLOWED' },
      ...(route.caller !== 'none' && method === 'PROPFIND' ? [{ title: `${method} ${route.path} without a key`, method, path: route.path, caller: 'none' as const, code: 'METHOD_NOT_ALLOWED' as const }] : []),
    ]),
);

// ---------------------------------------------------------------------------------------------
// Headers: keys, tokens, idempotency keys and sizes, on a route of each kind.

const junkCredentials: readonly (readonly [string, Readonly<Record<string, string>>])[] = [
  ['an empty Bearer', { authorization: 'Bearer' }],
  ['Bearer and a space', { authorization: 'Bearer ' }],
  ['a 10 KB Bearer token', { authorization: `Bearer ${'x'.repeat(10_000)}` }],
  ['Basic credentials', { authorization: 'Basic Zm9vOmJhcg==' }],
  ['a key of the right prefix and junk', { authorization: 'Bearer fs_live_not-a-real-key' }],
  ['a Latin-1 key', { authorization: 'Bearer fs_live_\u00e9\u00e9\u00e9' }],
  ['two tokens', { authorization: 'Bearer a b' }],
  ['a junk X-API-Key', { 'x-api-key': 'fs_test_junk' }],
  ['a 10 KB X-API-Key', { 'x-api-key': 'x'.repeat(10_000) }],
];

const credentialRoutes: readonly { readonly method: string; readonly path: string; readonly body?: string }[] = [
  { method: 'GET', path: '/v1/users' },
  { method: 'POST', path: '/v1/faces/identify', body: '{}' },
  { method: 'GET', path: '/v1/webhooks' },
  { method: 'GET', path: '/v1/erasures' },
  { method: 'GET', path: '/admin/tenants' },
  { method: 'POST', path: '/admin/tenants', body: '{"name":"x"}' },
  { method: 'GET', path: '/api/devportal/users' },
  { method: 'POST', path: '/api/devportal/match', body: '{}' },
];

const credentialCases: RequestCase[] = credentialRoutes.flatMap((route) =>
  junkCredentials.map(([label, headers]): RequestCase => ({
    title: `${route.method} ${route.path}: ${label}`,
    method: route.method,
    path: route.path,
    caller: 'none',
    headers: { ...headers, ...(route.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(route.body !== undefined ? { body: route.body } : {}),
    code: 'UNAUTHORIZED',
  })),
);

const badIdempotencyKeys: readonly (readonly [string, string])[] = [
  ['256 characters', 'k'.repeat(256)],
  ['a space inside', 'a key'],
  ['Latin-1 characters', 'cl\u00e9'],
  ['a tab', 'a\tb'],
];

// Valid bodies: only the Idempotency-Key is wrong, and the command must not run.
const idempotencyCases: RequestCase[] = badIdempotencyKeys.flatMap(([label, key]) => [
  { title: `POST /v1/faces/verify with a valid body: Idempotency-Key ${label}`, method: 'POST', path: '/v1/faces/verify', caller: 'key', headers: { 'idempotency-key': key, 'content-type': 'application/json' }, body: 'VERIFY', code: 'VALIDATION_ERROR' },
  { title: `POST /v1/webhooks with a valid body: Idempotency-Key ${label}`, method: 'POST', path: '/v1/webhooks', caller: 'key', headers: { 'idempotency-key': key, 'content-type': 'application/json' }, body: '{"url":"http://127.0.0.1:9/idem"}', code: 'VALIDATION_ERROR' },
  { title: `POST /v1/faces/detect: Idempotency-Key ${label}`, method: 'POST', path: '/v1/faces/detect', caller: 'key', headers: { 'idempotency-key': key, 'content-type': 'application/json' }, body: '{"image":"x"}', code: 'VALIDATION_ERROR' },
]);

const everyPath = paths.map((route) => ({ method: route.allow[0]!, path: route.path, caller: route.caller }));
const sizeCases: RequestCase[] = everyPath.flatMap((route): RequestCase[] => [
  { title: `${route.method} ${route.path}: a 20 KB header`, ...route, headers: { 'x-padding': 'x'.repeat(20_000) }, code: 'REQUEST_HEADER_FIELDS_TOO_LARGE' },
  { title: `${route.method} ${route.path}: 400 headers of 50 bytes`, ...route, headers: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`x-h${i}`, 'y'.repeat(40)])), code: 'REQUEST_HEADER_FIELDS_TOO_LARGE' },
  { title: `${route.method} ${route.path}: a 20 KB URL`, ...route, path: `${route.path}?q=${'x'.repeat(20_000)}`, code: 'REQUEST_HEADER_FIELDS_TOO_LARGE' },
]);

const cases: readonly RequestCase[] = [...queryCases, ...pathCases, ...methodCases, ...credentialCases, ...idempotencyCases, ...sizeCases];

for (const requestCase of cases) {
  test.serial(requestCase.title, async (t) => {
    const path = targets.path(requestCase.path);
    const body = requestCase.body === 'VERIFY' ? JSON.stringify({ userId: targets.userId, descriptor: targets.descriptor }) : requestCase.body;
    const before = await targets.running.service.store.headPosition();
    const response = await fetch(`${targets.running.baseUrl}${path}`, {
      method: requestCase.method,
      headers: { ...targets.auth(requestCase.caller), ...(requestCase.headers ?? {}) },
      ...(body !== undefined ? { body } : {}),
    });
    const answer = await fetchedAnswer(response);
    const code = assertRefusal(t, answer, path);
    if (requestCase.code !== undefined) t.is(code, requestCase.code, answer.body.subarray(0, 300).toString());
    if (code === 'METHOD_NOT_ALLOWED') t.truthy(answer.headers.allow, 'a 405 says what is allowed');
    t.is(await targets.running.service.store.headPosition(), before, 'nothing appended');
  });
}

test.serial('there are hundreds of request cases', (t) => {
  t.true(cases.length >= 300, `${cases.length} cases`);
});

test.serial('405 names the methods the path has, in Allow and in details', async (t) => {
  const response = await fetch(`${targets.running.baseUrl}${targets.path('/v1/users/{user}')}`, { method: 'PUT', headers: targets.auth('key') });
  t.is(response.status, 405);
  t.is(response.headers.get('allow'), 'GET, HEAD, DELETE, OPTIONS');
  t.like(await response.json(), { error: { code: 'METHOD_NOT_ALLOWED', details: { method: 'PUT', allow: ['GET', 'HEAD', 'DELETE', 'OPTIONS'] } } });
});

test.serial('OPTIONS answers Allow in the envelope (the flat shape on the SDK routes), without a key', async (t) => {
  const v1 = await fetch(`${targets.running.baseUrl}/v1/webhooks`, { method: 'OPTIONS' });
  t.is(v1.status, 200);
  t.is(v1.headers.get('allow'), 'GET, HEAD, POST, OPTIONS');
  const body = (await v1.json()) as any;
  t.deepEqual(body.data, { allow: ['GET', 'HEAD', 'POST', 'OPTIONS'] });
  t.is(v1.headers.get('x-request-id'), body.meta.requestId);

  const sdk = await fetch(`${targets.running.baseUrl}/api/devportal/register`, { method: 'OPTIONS' });
  t.is(sdk.status, 200);
  t.deepEqual(await sdk.json(), { success: true, allow: ['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'] });

  const nowhere = await fetch(`${targets.running.baseUrl}/nowhere`, { method: 'OPTIONS' });
  t.is(nowhere.status, 404);
  t.is(((await nowhere.json()) as any).error.code, 'NOT_FOUND');
});

test.serial('a query with NUL on a route that reads its query is refused naming the parameter', async (t) => {
  const response = await fetch(`${targets.running.baseUrl}/api/devportal/users?search=a%00b`, { headers: targets.auth('sdk') });
  t.is(response.status, 400);
  t.like(await response.json(), { success: false, code: 'VALIDATION_ERROR', details: { field: 'search', in: 'query' } });
});
