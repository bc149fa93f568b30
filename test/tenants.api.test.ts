import test from 'ava';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService, type RunningService } from './support/service.ts';

const adminToken = 'admin-token-for-tests-0123456789';
const random = seededRandom(404);
let running: RunningService;
const admin = () => client(running.baseUrl, { authorization: `Bearer ${adminToken}` });

test.before(async () => {
  running = await startService({ ADMIN_TOKEN: adminToken });
});

test.after.always(async () => {
  await running?.stop();
});

/** Rate-limit tests count within one minute window: start them early in a minute. */
async function freshMinute(): Promise<void> {
  const into = Date.now() % 60_000;
  if (into > 40_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - into + 50));
}

async function newTenant(plan: 'free' | 'pro' | 'enterprise' = 'enterprise') {
  const response = await admin().post('/admin/tenants', { name: `tenant-${plan}`, plan });
  if (response.status !== 201) throw new Error(JSON.stringify(response.body));
  return response.body.data as { tenant: { id: string }; keys: { live: { key: string; id: string }; test: { key: string; id: string } } };
}

test.serial('the admin API creates a tenant with one live and one test key, shown once, stored as hashes', async (t) => {
  const response = await admin().post('/admin/tenants', { name: 'Acme', plan: 'pro', settings: { maxTemplates: 5 } });
  t.is(response.status, 201);
  const { tenant, keys } = response.body.data;
  t.like(tenant, { name: 'Acme', plan: 'pro' });
  t.is(tenant.settings.maxTemplates, 5);
  t.is(tenant.settings.matchThreshold, 0.45);
  t.regex(keys.live.key, /^fs_live_[A-Za-z0-9_-]{43}$/);
  t.regex(keys.test.key, /^fs_test_[A-Za-z0-9_-]{43}$/);
  t.false(keys.test.scopes.includes('users:delete'));
  t.false(keys.test.scopes.includes('webhooks:manage'));
  t.true(keys.live.scopes.includes('users:delete'));

  const listed = await admin().get(`/admin/tenants/${tenant.id}/keys`);
  t.is(listed.body.data.keys.length, 2);
  t.false(JSON.stringify(listed.body.data).includes(keys.live.key), 'the full key is never shown again');
  t.is(listed.body.data.keys[0].prefix, keys.live.key.slice(0, 12));
  const events = await running.service.store.readStream(`tenant-${tenant.id}`);
  t.false(JSON.stringify(events.map((e) => e.data)).includes(keys.live.key), "the event store holds only a hash");

  const one = await admin().get(`/admin/tenants/${tenant.id}`);
  t.like(one.body.data, { id: tenant.id, usage: { live: 0, test: 0 } });
  const patched = await admin().call('PATCH', `/admin/tenants/${tenant.id}`, { plan: 'enterprise', settings: { matchThreshold: 0.5 } });
  t.is(patched.status, 200);
  t.like(patched.body.data, { plan: 'enterprise', settings: { matchThreshold: 0.5, maxTemplates: 5 } });
});

test.serial('the admin API refuses a wrong token, bad input and unknown ids', async (t) => {
  t.is((await client(running.baseUrl).get('/admin/tenants')).status, 401);
  t.is((await client(running.baseUrl, { authorization: 'Bearer nope' }).get('/admin/tenants')).status, 401);
  t.is((await client(running.baseUrl, { authorization: `Bearer ${running.liveKey}` }).get('/admin/tenants')).status, 401, 'an API key is not an admin token');
  const bad = await admin().post('/admin/tenants', { name: '', plan: 'gold' });
  t.is(bad.status, 400);
  t.is(bad.body.error.details.field, 'name');
  const testDelete = await admin().post(`/admin/tenants/${running.tenantId}/keys`, { mode: 'test', scopes: ['users:delete'] });
  t.is(testDelete.status, 400);
  t.regex(testDelete.body.error.message, /test key cannot hold users:delete/);
  t.is((await admin().get('/admin/tenants/1b4e28ba-2fa1-4d2e-883f-0016d3cca427')).status, 404);
  t.is((await admin().delete(`/admin/keys/key_${'0'.repeat(32)}`)).status, 404);
});

test('the admin API is disabled without ADMIN_TOKEN', async (t) => {
  const other = await startService();
  try {
    t.is((await client(other.baseUrl, { authorization: `Bearer ${adminToken}` }).get('/admin/tenants')).status, 404);
  } finally {
    await other.stop();
  }
});

test.serial('a key never reaches another tenant: by id and by listing, every endpoint answers as if nothing were there', async (t) => {
  const a = await newTenant();
  const b = await newTenant();
  const apiA = client(running.baseUrl, { authorization: `Bearer ${a.keys.live.key}` });
  const apiB = client(running.baseUrl, { 'x-api-key': b.keys.live.key });
  const face = randomVector(random);
  const registered = await apiB.post('/v1/faces/register', { email: 'bob@tenant-b.example', descriptor: face });
  t.is(registered.status, 201);
  const { userId, templateId } = registered.body.data;

  t.is((await apiA.get(`/v1/users/${userId}`)).status, 404);
  t.is((await apiA.get(`/v1/users/${userId}/logs`)).status, 404);
  t.is((await apiA.get(`/v1/faces/templates/${userId}`)).status, 404);
  t.is((await apiA.post('/v1/faces/verify', { userId, descriptor: face })).status, 404);
  t.is((await apiA.delete(`/v1/faces/templates/${templateId}`)).status, 404);
  t.is((await apiA.delete(`/v1/users/${userId}`)).status, 404);
  t.deepEqual((await apiA.get('/v1/users')).body.data.users, []);
  t.deepEqual((await apiA.get('/v1/users?email=bob@tenant-b.example')).body.data.users, []);
  t.deepEqual((await apiA.post('/v1/faces/identify', { descriptor: face })).body.data.matches, []);
  // The same face and email are free in tenant A: nothing leaks through duplicate checks either.
  const own = await apiA.post('/v1/faces/register', { email: 'bob@tenant-b.example', descriptor: atDistance(face, 0.05, random) });
  t.is(own.status, 201);
  t.not(own.body.data.userId, userId);
  t.is((await apiB.get(`/v1/users/${userId}`)).status, 200, 'B still has its user');
});

test.serial('test-mode data is invisible to live keys, and back', async (t) => {
  const tenant = await newTenant();
  const live = client(running.baseUrl, { authorization: `Bearer ${tenant.keys.live.key}` });
  const testMode = client(running.baseUrl, { authorization: `Bearer ${tenant.keys.test.key}` });
  const face = randomVector(random);
  const inTest = await testMode.post('/v1/faces/register', { email: 'same@example.com', descriptor: face });
  t.is(inTest.status, 201);
  t.is((await live.get(`/v1/users/${inTest.body.data.userId}`)).status, 404);
  t.deepEqual((await live.post('/v1/faces/identify', { descriptor: face })).body.data.matches, []);
  const inLive = await live.post('/v1/faces/register', { email: 'same@example.com', descriptor: face });
  t.is(inLive.status, 201, 'the same email and face are a different user in live mode');
  t.not(inLive.body.data.userId, inTest.body.data.userId);
  t.is((await testMode.get(`/v1/users/${inLive.body.data.userId}`)).status, 404);
  t.is((await testMode.get('/v1/users')).body.data.totalItems, 1);
  t.is((await live.get('/v1/users')).body.data.totalItems, 1);
});

test.serial('each scope is enforced; test keys cannot erase', async (t) => {
  const tenant = await newTenant();
  const issue = async (scopes: string[]) => (await admin().post(`/admin/tenants/${tenant.tenant.id}/keys`, { mode: 'live', scopes })).body.data.key as string;
  const full = client(running.baseUrl, { authorization: `Bearer ${tenant.keys.live.key}` });
  const face = randomVector(random);
  const { userId, templateId } = (await full.post('/v1/faces/register', { email: 'scoped@example.com', descriptor: face })).body.data;
  const calls: Array<[string, (api: ReturnType<typeof client>) => Promise<{ status: number; body: any }>]> = [
    ['faces:register', (api) => api.post('/v1/faces/register', { email: 'other@example.com', descriptor: randomVector(random) })],
    ['faces:verify', (api) => api.post('/v1/faces/verify', { userId, descriptor: face })],
    ['faces:identify', (api) => api.post('/v1/faces/identify', { descriptor: face })],
    ['users:read', (api) => api.get(`/v1/users/${userId}`)],
    ['users:read', (api) => api.get('/v1/users')],
    ['users:read', (api) => api.get(`/v1/faces/templates/${userId}`)],
    ['faces:register', (api) => api.delete(`/v1/faces/templates/tpl_${'0'.repeat(32)}`)],
  ];
  const onlyIdentify = client(running.baseUrl, { authorization: `Bearer ${await issue(['faces:identify'])}` });
  for (const [scope, call] of calls) {
    const response = await call(onlyIdentify);
    if (scope === 'faces:identify') t.is(response.status, 200);
    else {
      t.is(response.status, 403, scope);
      t.is(response.body.error.code, 'FORBIDDEN');
      t.is(response.body.error.details.scope, scope);
    }
  }
  const reader = client(running.baseUrl, { authorization: `Bearer ${await issue(['users:read'])}` });
  t.is((await reader.delete(`/v1/users/${userId}`)).status, 403);
  const testKey = client(running.baseUrl, { authorization: `Bearer ${tenant.keys.test.key}` });
  t.is((await testKey.delete(`/v1/users/${userId}`)).status, 403);
  t.is((await full.get(`/v1/faces/templates/${userId}`)).body.data.templates[0].id, templateId);
});

test.serial('missing, malformed, unknown, revoked and expired keys get 401; rotation keeps service', async (t) => {
  const tenant = await newTenant();
  const anonymous = await client(running.baseUrl).get('/v1/users');
  t.is(anonymous.status, 401);
  t.is(anonymous.body.error.code, 'UNAUTHORIZED');
  t.is((await client(running.baseUrl, { authorization: 'Bearer fs_live_short' }).get('/v1/users')).status, 401);
  t.is((await client(running.baseUrl, { authorization: `Bearer fs_live_${'A'.repeat(43)}` }).get('/v1/users')).status, 401);

  const rotated = (await admin().post(`/admin/tenants/${tenant.tenant.id}/keys`, { mode: 'live', name: 'rotated' })).body.data;
  const revoke = await admin().delete(`/admin/keys/${tenant.keys.live.id}`);
  t.like(revoke.body.data, { revoked: true, id: tenant.keys.live.id, alreadyRevoked: false });
  t.false(Number.isNaN(Date.parse(revoke.body.data.revokedAt)));
  const old = await client(running.baseUrl, { authorization: `Bearer ${tenant.keys.live.key}` }).get('/v1/users');
  t.is(old.status, 401);
  t.regex(old.body.error.message, /revoked/);
  t.is((await client(running.baseUrl, { authorization: `Bearer ${rotated.key}` }).get('/v1/users')).status, 200);

  const soon = (await admin().post(`/admin/tenants/${tenant.tenant.id}/keys`, { mode: 'live', expiresAt: new Date(Date.now() + 1500).toISOString() })).body.data;
  const expiring = client(running.baseUrl, { authorization: `Bearer ${soon.key}` });
  t.is((await expiring.get('/v1/users')).status, 200);
  await new Promise((resolve) => setTimeout(resolve, 1700));
  const expired = await expiring.get('/v1/users');
  t.is(expired.status, 401);
  t.regex(expired.body.error.message, /expired/);
  const past = await admin().post(`/admin/tenants/${tenant.tenant.id}/keys`, { mode: 'live', expiresAt: '2020-01-01T00:00:00Z' });
  t.is(past.status, 400);
});

test.serial('the free plan: the 11th request in a minute gets 429 with Retry-After; headers on every response', async (t) => {
  const tenant = await newTenant('free');
  const api = client(running.baseUrl, { authorization: `Bearer ${tenant.keys.live.key}` });
  await freshMinute();
  const statuses: number[] = [];
  let last;
  for (let i = 0; i < 11; i++) {
    last = i % 2 === 0 ? await api.get('/v1/users') : await api.post('/v1/faces/identify', { descriptor: [1] });
    statuses.push(last.status);
    if (i < 10) {
      t.is(last.headers.get('x-ratelimit-limit'), '10');
      t.is(last.headers.get('x-ratelimit-remaining'), String(9 - i));
      t.regex(last.headers.get('x-ratelimit-reset') ?? '', /^\d{10}$/);
    }
  }
  t.deepEqual(statuses.slice(0, 10), [200, 400, 200, 400, 200, 400, 200, 400, 200, 400], 'bad requests count too, and still carry the headers');
  t.is(last!.status, 429);
  t.is(last!.body.error.code, 'RATE_LIMITED');
  t.is(last!.headers.get('x-ratelimit-remaining'), '0');
  const retryAfter = Number(last!.headers.get('retry-after'));
  t.true(retryAfter >= 1 && retryAfter <= 60);
  // Test keys of any plan count as free, in their own window.
  const testKey = client(running.baseUrl, { authorization: `Bearer ${tenant.keys.test.key}` });
  t.is((await testKey.get('/v1/users')).headers.get('x-ratelimit-remaining'), '9');
});

test.serial('a pro tenant has 100 per minute; the monthly quota answers QUOTA_EXCEEDED', async (t) => {
  const tenant = await newTenant('pro');
  const api = client(running.baseUrl, { authorization: `Bearer ${tenant.keys.live.key}` });
  const first = await api.get('/v1/users');
  t.is(first.headers.get('x-ratelimit-limit'), '100');
  // Use up the month without 50,000 requests: the counter is the durable one the limiter reads.
  const month = new Date().toISOString().slice(0, 7);
  await running.service.database.db.withSchema('api').updateTable('rate_counters').set({ count: '50000' }).where('tenant_id', '=', tenant.tenant.id).where('period', '=', `M:${month}`).execute();
  const over = await api.get('/v1/users');
  t.is(over.status, 429);
  t.is(over.body.error.code, 'QUOTA_EXCEEDED');
  t.truthy(over.headers.get('retry-after'));
  const usage = await admin().get(`/admin/tenants/${tenant.tenant.id}`);
  t.true(usage.body.data.usage.live >= 50_000);
});

test('monthly usage is durable: it survives a restart of the service', async (t) => {
  let service = await startService({ ADMIN_TOKEN: adminToken }, { plan: 'free' });
  try {
    const api = () => client(service.baseUrl, { authorization: `Bearer ${service.liveKey}` });
    await freshMinute();
    for (let i = 0; i < 3; i++) t.is((await api().get('/v1/users')).status, 200);
    service = await service.restart();
    const usage = await client(service.baseUrl, { authorization: `Bearer ${adminToken}` }).get(`/admin/tenants/${service.tenantId}`);
    t.is(usage.body.data.usage.live, 3);
    const next = await api().get('/v1/users');
    t.is(next.status, 200);
    t.is(next.headers.get('x-ratelimit-remaining'), '6', 'the minute window survived the restart too');
  } finally {
    await service.stop();
  }
});
