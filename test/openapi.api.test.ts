import http from 'node:http';
import test from 'ava';
import { client } from './support/http.ts';
import { startService, type RunningService } from './support/service.ts';

let running: RunningService;
let api: ReturnType<typeof client>;
let doc: any;

const documented: ReadonlyArray<[string, string]> = [
  ['post', '/v1/faces/register'],
  ['post', '/v1/faces/verify'],
  ['post', '/v1/faces/identify'],
  ['get', '/v1/faces/templates/{userId}'],
  ['delete', '/v1/faces/templates/{templateId}'],
  ['get', '/v1/users'],
  ['get', '/v1/users/{id}'],
  ['delete', '/v1/users/{id}'],
  ['get', '/v1/users/{id}/logs'],
  ['get', '/healthz'],
  ['get', '/readyz'],
];

const fakeIds: Record<string, string> = { userId: `usr_${'0'.repeat(32)}`, id: `usr_${'0'.repeat(32)}`, templateId: `tpl_${'0'.repeat(32)}` };

function operations(): Array<[string, string, any]> {
  return Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) => Object.entries(item).map(([method, operation]) => [method, path, operation] as [string, string, any]));
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
  running = await startService();
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
    t.true(operation.tags.length > 0 && operation.tags.every((tag: string) => ['faces', 'users', 'health'].includes(tag)), where);
    const statuses = Object.keys(operation.responses);
    t.true(statuses.some((status) => /^2\d\d$/.test(status)), `${where} has a 2xx response`);
    for (const [status, response] of Object.entries<any>(operation.responses)) {
      t.truthy(response.headers?.['X-Request-Id'], `${where} ${status} documents X-Request-Id`);
      if (/^[45]\d\d$/.test(status)) t.is(response.content['application/json'].schema.allOf[0].$ref, '#/components/schemas/Error', `${where} ${status} is the Error envelope`);
    }
    if (method === 'post') t.true(operation.parameters.some((p: any) => p.$ref === '#/components/parameters/Idempotency-Key'), `${where} takes Idempotency-Key`);
  }
  t.truthy(doc.paths['/v1/faces/register'].post.responses['201']);
  t.truthy(doc.paths['/v1/faces/register'].post.responses['409']);
  t.deepEqual(doc.paths['/v1/faces/register'].post.responses['409'].content['application/json'].schema.allOf[1].properties.error.properties.code.enum, ['DUPLICATE_FACE', 'IDEMPOTENCY_CONFLICT']);
  t.truthy(doc.paths['/v1/faces/verify'].post.responses['200']);
  t.deepEqual(
    doc.paths['/v1/users'].get.parameters.map((p: any) => [p.name, p.in]),
    [['page', 'query'], ['perPage', 'query'], ['sort', 'query'], ['email', 'query']],
  );
  t.deepEqual(doc.paths['/v1/users/{id}/logs'].get.parameters.map((p: any) => p.name), ['id', 'page', 'perPage', 'success']);
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

test('every documented operation is a route the app really has', async (t) => {
  for (const [method, path] of operations()) {
    const concrete = path.replace(/\{(\w+)\}/g, (_, name: string) => fakeIds[name] ?? 'x');
    const response = await api.call(method.toUpperCase(), concrete, method === 'post' ? {} : undefined);
    t.not(response.status, 405, `${method.toUpperCase()} ${concrete}`);
    const message: string = response.body?.error?.message ?? '';
    t.false(message.startsWith('no route'), `${method.toUpperCase()} ${concrete} answered ${response.status} ${message}`);
  }
});

test('every route the app has is documented (besides the docs themselves)', (t) => {
  const routes = new Set<string>();
  for (const middleware of running.service.app.middleware as Array<{ router?: { stack: Array<{ path: string | RegExp; methods: string[] }> } }>) {
    for (const layer of middleware.router?.stack ?? []) {
      const path = String(layer.path).replace(/:(\w+)/g, '{$1}').replace(/(.)\/$/, '$1');
      if (path === '/v1/openapi.json' || path.startsWith('/docs')) continue;
      for (const method of layer.methods) if (method !== 'HEAD') routes.add(`${method.toLowerCase()} ${path}`);
    }
  }
  t.true(routes.size >= documented.length, `found the app's routes (${[...routes].join(', ')})`);
  const inDocument = new Set(operations().map(([method, path]) => `${method} ${path}`));
  t.deepEqual([...routes].filter((route) => !inDocument.has(route)), [], 'undocumented routes');
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
