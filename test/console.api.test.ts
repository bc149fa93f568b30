import http from 'node:http';
import test from 'ava';
import { randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService, type RunningService } from './support/service.ts';

const adminToken = 'console-admin-token-0123456789abcdef';
const random = seededRandom(1313);
let running: RunningService;
let admin: ReturnType<typeof client>;

test.before(async () => {
  running = await startService({ ADMIN_TOKEN: adminToken });
  admin = client(running.baseUrl, { authorization: `Bearer ${adminToken}` });
});

test.after.always(async () => {
  await running?.stop();
});

const operator = (tenantId: string, mode = 'live') => client(running.baseUrl, { authorization: `Bearer ${adminToken}`, 'x-operator-tenant': tenantId, 'x-operator-mode': mode });

async function newTenant(name: string, plan = 'free'): Promise<{ id: string; live: string; test: string }> {
  const created = await admin.post('/admin/tenants', { name, plan });
  if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  return { id: created.body.data.tenant.id, live: created.body.data.keys.live.key, test: created.body.data.keys.test.key };
}

test.serial('GET / redirects to the console, which is a page loading only its own scripts under a strict CSP', async (t) => {
  const root = await fetch(`${running.baseUrl}/`, { redirect: 'manual' });
  t.is(root.status, 302);
  t.is(root.headers.get('location'), '/console');
  const page = await fetch(`${running.baseUrl}/console`);
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type') ?? '', /^text\/html/);
  const csp = page.headers.get('content-security-policy') ?? '';
  t.regex(csp, /default-src 'self'/);
  t.regex(csp, /script-src 'self'(;|$)/);
  t.notRegex(csp, /unsafe-inline|unsafe-eval|https?:/);
  const html = await page.text();
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  t.true(scripts.length > 0);
  for (const [, attributes, body] of scripts) {
    t.regex(attributes!, /src="\/console\/assets\/[\w.]+"/, 'every script is a file of ours');
    t.is(body!.trim(), '', 'no inline script');
  }
  t.notRegex(html, /\sstyle=|\son\w+=/, 'no inline style or handler');
  const referenced = [...html.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map((match) => match[1]!);
  t.true(referenced.includes('/console/assets/uPlot.min.css'));
  for (const asset of referenced) {
    const response = await fetch(`${running.baseUrl}${asset}`);
    t.is(response.status, 200, asset);
    t.regex(response.headers.get('content-type') ?? '', asset.endsWith('.js') ? /^text\/javascript/ : /^text\/css/, asset);
    t.is(response.headers.get('x-content-type-options'), 'nosniff');
  }
});

test.serial('the console modules import only files the console serves (uPlot from node_modules), nothing from another origin', async (t) => {
  const seen = new Set<string>();
  const queue = ['main.js'];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const response = await fetch(`${running.baseUrl}/console/assets/${name}`);
    t.is(response.status, 200, name);
    const source = await response.text();
    t.notRegex(source, /(import|from|fetch\(|src=|href=)\s*['"`]https?:/, `${name} loads nothing from another origin`);
    for (const match of source.matchAll(/^import [^'"]*['"]\.\/([\w.]+)['"]/gm)) queue.push(match[1]!);
  }
  t.true(seen.has('uPlot.esm.js'));
  t.true(seen.size >= 9, [...seen].join(', '));
  const etag = (await fetch(`${running.baseUrl}/console/assets/uPlot.esm.js`)).headers.get('etag');
  t.truthy(etag);
  // node:http, not fetch: fetch adds Cache-Control: no-cache to a conditional request, which forbids a 304.
  const url = new URL(running.baseUrl);
  const status = await new Promise<number>((done, fail) => {
    http.get({ host: url.hostname, port: url.port, path: '/console/assets/uPlot.esm.js', headers: { 'if-none-match': etag! } }, (response) => done(response.resume().statusCode ?? 0)).on('error', fail);
  });
  t.is(status, 304);
});

test.serial('console asset names never reach the file system: traversal and unknown names are 404 envelopes', async (t) => {
  for (const name of ['..%2fpackage.json', '%2e%2e%2f%2e%2e%2fpackage.json', 'index.html.bak', 'package.json', 'uPlot.cjs.js', '__proto__', 'constructor', 'api.ts']) {
    const response = await admin.get(`/console/assets/${name}`);
    t.is(response.status, 404, name);
    t.is(response.body.error.code, 'NOT_FOUND', name);
  }
});

test.serial("an operator acts on one tenant's /v1 data with the admin token and X-Operator-Tenant, with the mode's scopes, not counted against the plan", async (t) => {
  const acme = await newTenant('acme', 'free');
  const other = await newTenant('other', 'free');
  const acmeKey = client(running.baseUrl, { authorization: `Bearer ${acme.live}` });
  const otherKey = client(running.baseUrl, { authorization: `Bearer ${other.live}` });
  t.is((await acmeKey.post('/v1/faces/register', { email: 'ada@acme.test', descriptor: randomVector(random) })).status, 201);
  t.is((await otherKey.post('/v1/faces/register', { email: 'bob@other.test', descriptor: randomVector(random) })).status, 201);

  const acting = operator(acme.id);
  const listed = await acting.get('/v1/users');
  t.is(listed.status, 200);
  t.deepEqual(listed.body.data.users.map((user: { email: string }) => user.email), ['ada@acme.test']);
  t.is(listed.headers.get('x-ratelimit-limit'), 'unlimited');
  // The free plan allows 10 a minute: an operator's reads are not the tenant's traffic.
  for (let index = 0; index < 12; index += 1) t.is((await acting.get('/v1/users?email=bob@other.test')).body.data.totalItems, 0);
  const usage = (await admin.get(`/admin/tenants/${acme.id}`)).body.data.usage;
  t.is(usage.live, 1, 'only the key’s register counted');

  // Another tenant's user is a 404 for the operator acting on acme, like for acme's key.
  const bob = (await operator(other.id).get('/v1/users?email=bob@other.test')).body.data.users[0];
  t.is((await acting.get(`/v1/users/${bob.id}`)).status, 404);

  // The test data set: no users:delete, as for test keys; and it is a separate data set.
  const testMode = operator(acme.id, 'test');
  t.is((await testMode.get('/v1/users')).body.data.totalItems, 0);
  const ada = listed.body.data.users[0];
  const refused = await testMode.delete(`/v1/users/${ada.id}`);
  t.is(refused.status, 403);
  t.is(refused.body.error.code, 'FORBIDDEN');

  // What the operator writes names `operator` as its actor.
  t.is((await acting.post('/v1/faces/register', { email: 'ada@acme.test', descriptor: randomVector(random) })).status, 201);
  const history = await acting.get(`/v1/users/${ada.id}/history`);
  t.is(history.status, 200);
  t.true(history.body.data.events.some((event: { actorKeyId: string | null }) => event.actorKeyId === 'operator'));
});

test.serial('X-Operator-Tenant without the admin token, with a bad mode or an unknown tenant is 401 and reaches nothing', async (t) => {
  const acme = await newTenant('acme-2');
  const withKey = client(running.baseUrl, { authorization: `Bearer ${acme.live}`, 'x-operator-tenant': running.tenantId });
  for (const [name, response] of [
    ['a key naming a tenant', await withKey.get('/v1/users')],
    ['no secret', await client(running.baseUrl, { 'x-operator-tenant': acme.id }).get('/v1/users')],
    ['a wrong admin token', await client(running.baseUrl, { authorization: `Bearer ${adminToken}x`, 'x-operator-tenant': acme.id }).get('/v1/users')],
    ['a bad mode', await operator(acme.id, 'staging').get('/v1/users')],
    ['an unknown tenant', await operator('00000000-0000-4000-8000-000000000000').get('/v1/users')],
    ['a malformed tenant id', await operator('acme').get('/v1/users')],
  ] as const) {
    t.is(response.status, 401, name);
    t.is(response.body.error.code, 'UNAUTHORIZED', name);
  }
  // The admin token alone is not an API key.
  t.is((await admin.get('/v1/users')).status, 401);
});

test.serial('a browser page on another origin cannot act as the operator (no key lists an origin for it)', async (t) => {
  const response = await operator(running.tenantId).get('/v1/users', { origin: 'https://evil.example' });
  t.is(response.status, 403);
  t.is(response.body.error.code, 'FORBIDDEN');
});

test.serial("GET /admin/tenants/{id}/usage: requests per day and per minute per mode, zero-filled, with the plan's limits", async (t) => {
  const acme = await newTenant('usage', 'pro');
  const live = client(running.baseUrl, { authorization: `Bearer ${acme.live}` });
  const testKey = client(running.baseUrl, { authorization: `Bearer ${acme.test}` });
  for (let index = 0; index < 3; index += 1) t.is((await live.get('/v1/users')).status, 200);
  t.is((await testKey.get('/v1/users')).status, 200);
  const answer = await admin.get(`/admin/tenants/${acme.id}/usage?days=7`);
  t.is(answer.status, 200);
  const usage = answer.body.data;
  t.like(usage, { tenantId: acme.id, plan: 'pro', limits: { live: { perMinute: 100, perMonth: 50_000 }, test: { perMinute: 10, perMonth: 1_000 } }, month: { live: 3, test: 1 } });
  t.is(usage.days.length, 7);
  t.is(usage.minutes.length, 60);
  // Totals, not "today's" bar: the requests may straddle UTC midnight.
  const total = (rows: Array<{ live: number; test: number }>) => rows.reduce((sum, row) => ({ live: sum.live + row.live, test: sum.test + row.test }), { live: 0, test: 0 });
  t.deepEqual(total(usage.days), { live: 3, test: 1 });
  t.is(usage.days.at(-1).period, usage.minutes.at(-1).period.slice(0, 10), 'the last day is the day of the last minute');
  t.true(usage.days.slice(0, -2).every((day: { live: number; test: number }) => day.live === 0 && day.test === 0));
  t.deepEqual(usage.days.map((day: { period: string }) => day.period), [...usage.days.map((day: { period: string }) => day.period)].sort());
  t.deepEqual(total(usage.minutes), { live: 3, test: 1 });

  // Unlimited plans are counted in memory and flushed: the answer includes them too.
  const enterprise = (await admin.get(`/admin/tenants/${running.tenantId}/usage`)).body.data;
  t.is(enterprise.limits.live, null);
  t.is(enterprise.days.length, 30);
  t.is((await client(running.baseUrl, running.auth).get('/v1/users')).status, 200);
  const after = (await admin.get(`/admin/tenants/${running.tenantId}/usage`)).body.data;
  t.is(total(after.days).live, total(enterprise.days).live + 1);
});

test.serial('the usage route refuses a bad range, an unknown tenant and a missing admin token', async (t) => {
  for (const days of ['0', '401', 'x', '1.5']) {
    const response = await admin.get(`/admin/tenants/${running.tenantId}/usage?days=${days}`);
    t.is(response.status, 400, days);
    t.is(response.body.error.code, 'VALIDATION_ERROR');
    t.regex(JSON.stringify(response.body.error), /days/);
  }
  t.is((await admin.get('/admin/tenants/00000000-0000-4000-8000-000000000000/usage')).status, 404);
  t.is((await client(running.baseUrl, running.auth).get(`/admin/tenants/${running.tenantId}/usage`)).status, 401);
});
