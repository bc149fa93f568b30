import test from 'ava';
import { createLogger } from '../src/logging/logger.ts';
import { randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService } from './support/service.ts';

const random = seededRandom(5);

/** A logger at `level` whose JSON lines land in an array. */
function capturing(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger(level, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, requests: () => lines.filter((line) => line.msg === 'request') };
}

test.serial('one info line per request with the status answered, the route template, tenant and key; never a key, email or path', async (t) => {
  const log = capturing('info');
  const running = await startService({}, { logger: log.logger });
  try {
    const api = client(running.baseUrl, running.auth);
    const email = 'logged.person@example.com';
    const registered = await api.post('/v1/faces/register', { email, descriptor: randomVector(random) });
    const invalid = await api.post('/v1/faces/register', { email, descriptor: [1, 2] });
    const anonymous = await client(running.baseUrl).get('/v1/users');
    const missing = await api.get(`/v1/users/usr_${'0'.repeat(32)}?email=${encodeURIComponent(email)}`);
    const unknown = await api.get('/no/such/route');
    const answers = [registered, invalid, anonymous, missing, unknown];
    t.deepEqual(answers.map((r) => r.status), [201, 400, 401, 404, 404]);

    const lines = log.requests().filter((line) => answers.some((r) => r.headers.get('x-request-id') === line.requestId));
    t.is(lines.length, answers.length, 'one line per request');
    const byId = (response: (typeof answers)[number]) => lines.find((line) => line.requestId === response.headers.get('x-request-id'))!;
    t.like(byId(registered), { level: 30, method: 'POST', route: '/v1/faces/register', status: 201, tenantId: running.tenantId, mode: 'live' });
    t.regex(String(byId(registered).keyId), /^key_/);
    t.like(byId(invalid), { status: 400, route: '/v1/faces/register' });
    t.like(byId(anonymous), { status: 401 });
    t.false('tenantId' in byId(anonymous));
    t.like(byId(missing), { status: 404, route: '/v1/users/:id' });
    t.like(byId(unknown), { status: 404, route: null });
    t.true(lines.every((line) => typeof line.ms === 'number'));
    const text = JSON.stringify(log.requests());
    t.false(text.includes(email), 'no email, even from a query string');
    t.false(text.includes(running.liveKey), 'no key');
    t.false(text.includes('/no/such/route'), 'no raw path');
  } finally {
    await running.stop();
  }
});

test.serial('LOG_LEVEL=warn silences the access log', async (t) => {
  const log = capturing('warn');
  const running = await startService({}, { logger: log.logger });
  try {
    t.is((await client(running.baseUrl, running.auth).get('/v1/users')).status, 200);
    t.deepEqual(log.requests(), []);
  } finally {
    await running.stop();
  }
});
