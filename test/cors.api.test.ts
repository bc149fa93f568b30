import test from 'ava';
import { randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService, type RunningService } from './support/service.ts';

const adminToken = 'cors-admin-token-0123456789abcdef';
const allowed = 'https://app.example.com';
const random = seededRandom(71);
let running: RunningService;
let admin: ReturnType<typeof client>;
let browserKey: { id: string; key: string };

test.before(async () => {
  running = await startService({ ADMIN_TOKEN: adminToken });
  admin = client(running.baseUrl, { authorization: `Bearer ${adminToken}` });
  const issued = await admin.post(`/admin/tenants/${running.tenantId}/keys`, { mode: 'test', name: 'browser', allowedOrigins: [allowed] });
  browserKey = issued.body.data;
});

test.after.always(async () => {
  await running?.stop();
});

const preflight = (origin: string, path = '/v1/faces/identify') =>
  fetch(`${running.baseUrl}${path}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key, content-type' } });

test.serial('keys carry allowedOrigins: set at issue time, listed, changed later by an event', async (t) => {
  t.deepEqual(browserKey.key.startsWith('fs_test_'), true);
  const keys = (await admin.get(`/admin/tenants/${running.tenantId}/keys`)).body.data.keys as Array<{ id: string; allowedOrigins: string[] }>;
  t.deepEqual(keys.find((k) => k.id === browserKey.id)?.allowedOrigins, [allowed]);
  t.deepEqual(keys.find((k) => k.id !== browserKey.id)?.allowedOrigins, [], 'empty by default');
  const changed = await admin.call('PATCH', `/admin/keys/${browserKey.id}`, { allowedOrigins: [allowed, 'http://localhost:5173'] });
  t.is(changed.status, 200);
  t.deepEqual(changed.body.data.allowedOrigins, [allowed, 'http://localhost:5173']);
  const events = await running.service.store.readStream(`tenant-${running.tenantId}`);
  t.like(events.at(-1), { type: 'ApiKeyOriginsChanged', data: { keyId: browserKey.id, allowedOrigins: [allowed, 'http://localhost:5173'] } });
  // Bad origins are refused naming the field; nothing changes.
  for (const bad of ['https://app.example.com/', 'https://*.example.com', 'app.example.com', 'https://APP.example.com', 'ftp://x.example.com', 'https://a.example.com:443']) {
    const refused = await admin.call('PATCH', `/admin/keys/${browserKey.id}`, { allowedOrigins: [bad] });
    t.is(refused.status, 400, bad);
    t.is(refused.body.error.details.field, 'allowedOrigins[0]', bad);
  }
  t.is((await admin.call('PATCH', `/admin/keys/${browserKey.id}`, { allowedOrigins: [allowed, allowed] })).status, 400, 'an origin twice');
  await admin.call('PATCH', `/admin/keys/${browserKey.id}`, { allowedOrigins: [allowed] });
});

test.serial('a preflight from an allowed origin answers 204 with the CORS headers; any other origin 403', async (t) => {
  const ok = await preflight(allowed);
  t.is(ok.status, 204);
  t.is(ok.headers.get('access-control-allow-origin'), allowed);
  t.regex(ok.headers.get('access-control-allow-methods') ?? '', /POST/);
  t.regex(ok.headers.get('access-control-allow-headers') ?? '', /X-API-Key/i);
  t.regex(ok.headers.get('vary') ?? '', /Origin/);
  t.is((await preflight(allowed, '/api/devportal/match')).status, 204, 'the SDK routes too');
  const refused = await preflight('https://evil.example.com');
  t.is(refused.status, 403);
  t.is(refused.headers.get('access-control-allow-origin'), null);
  const body = (await refused.json()) as { error: { code: string; details: { origin: string } } };
  t.like(body.error, { code: 'FORBIDDEN', details: { origin: 'https://evil.example.com' } });
});

test.serial('a request with an Origin its key does not list is 403 before any work; without Origin nothing changes', async (t) => {
  const head = await running.service.store.headPosition();
  const body = JSON.stringify({ email: 'cors@example.com', descriptor: randomVector(random) });
  // The live key of the tenant lists no origin.
  const refused = await fetch(`${running.baseUrl}/v1/faces/register`, { method: 'POST', headers: { authorization: `Bearer ${running.liveKey}`, 'content-type': 'application/json', origin: allowed }, body });
  t.is(refused.status, 403);
  const refusal = (await refused.json()) as { error: { code: string; details: { origin: string } } };
  t.like(refusal.error, { code: 'FORBIDDEN', details: { origin: allowed } });
  t.is(refused.headers.get('access-control-allow-origin'), allowed, 'the page may read why: some key allows this origin');
  t.is(await running.service.store.headPosition(), head, 'nothing was appended');
  const fromServer = await fetch(`${running.baseUrl}/v1/faces/register`, { method: 'POST', headers: { authorization: `Bearer ${running.liveKey}`, 'content-type': 'application/json' }, body });
  t.is(fromServer.status, 201);
  t.is(fromServer.headers.get('access-control-allow-origin'), null);
  const fromPage = await fetch(`${running.baseUrl}/v1/users`, { headers: { 'x-api-key': browserKey.key, origin: allowed } });
  t.is(fromPage.status, 200);
  t.is(fromPage.headers.get('access-control-allow-origin'), allowed);
  for (const header of ['X-Request-Id', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Retry-After']) t.regex(fromPage.headers.get('access-control-expose-headers') ?? '', new RegExp(header));
  // A revoked key no longer opens its origins.
  await admin.delete(`/admin/keys/${browserKey.id}`);
  t.is((await preflight(allowed)).status, 403);
});
