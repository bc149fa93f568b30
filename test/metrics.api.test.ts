import test from 'ava';
import { randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService, type RunningService } from './support/service.ts';

const random = seededRandom(14);
const metricsToken = 'metrics-token-for-the-test';
const adminToken = 'admin-token-for-the-metrics-test';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * A strict reader of the Prometheus text format (version 0.0.4): every line is a HELP, a TYPE or
 * a sample; every sample belongs to a family declared by TYPE before it; label values are quoted
 * with \\, \" and \n escapes; values are floats as Go parses them (so `Nan` too, which prom-client
 * writes for an empty event-loop histogram). Throws on anything else.
 */
function parsePrometheus(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sample = new RegExp(`^(${name})(?:\\{(.*)\\})? (-?(?:[0-9.]+(?:e[+-]?[0-9]+)?|[Nn][Aa][Nn]|[+-]Inf))(?: -?[0-9]+)?$`);
  const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (comment) {
      if (comment[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(comment[3]!)) throw new Error(`bad type: ${line}`);
        types.set(comment[2]!, comment[3]!);
      }
      continue;
    }
    const match = sample.exec(line);
    if (!match) throw new Error(`not a Prometheus line: ${line}`);
    const labels: Record<string, string> = {};
    if (match[2]) {
      label.lastIndex = 0;
      while (label.lastIndex < match[2].length) {
        const pair = label.exec(match[2]);
        if (!pair) throw new Error(`bad labels: ${line}`);
        labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
    }
    const family = [...types.keys()].find((type) => match[1] === type || (/_(bucket|sum|count|total|created)$/.test(match[1]!) && match[1]!.startsWith(`${type}_`)));
    if (!family) throw new Error(`a sample before its TYPE: ${line}`);
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return { types, samples };
}

function value(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

async function scrape(running: RunningService): Promise<{ types: Map<string, string>; samples: Sample[]; contentType: string | null }> {
  const response = await fetch(`${running.baseUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  return { ...parsePrometheus(await response.text()), contentType: response.headers.get('content-type') };
}

let running: RunningService;
test.before(async () => {
  running = await startService({ METRICS_TOKEN: metricsToken, ADMIN_TOKEN: adminToken, WEBHOOK_ALLOW_PRIVATE: 'true' });
});
test.after.always(async () => {
  await running?.stop();
});

test.serial('GET /metrics is Prometheus text with every family the operator needs', async (t) => {
  const { types, samples, contentType } = await scrape(running);
  t.regex(contentType ?? '', /^text\/plain; version=0\.0\.4/);
  for (const [family, type] of Object.entries({
    facesmash_http_request_duration_seconds: 'histogram',
    facesmash_http_errors_total: 'counter',
    facesmash_eventstore_append_batch_duration_seconds: 'histogram',
    facesmash_eventstore_append_batch_size: 'histogram',
    facesmash_follower_position: 'gauge',
    facesmash_follower_lag: 'gauge',
    facesmash_matcher_templates: 'gauge',
    facesmash_matcher_scan_duration_seconds: 'histogram',
    facesmash_detection_duration_seconds: 'histogram',
    facesmash_detection_queue_depth: 'gauge',
    facesmash_webhook_deliveries_total: 'counter',
    facesmash_database_statements_total: 'counter',
    process_cpu_seconds_total: 'counter',
    nodejs_eventloop_lag_seconds: 'gauge',
  })) {
    t.is(types.get(family), type, family);
  }
  const consumers = samples.filter((s) => s.name === 'facesmash_follower_position').map((s) => s.labels.consumer);
  t.is(consumers.length, 3, `one position per consumer: ${consumers.join(', ')}`);
  t.true(samples.filter((s) => s.name === 'facesmash_follower_lag').every((s) => s.value >= 0));
});

test.serial('request, append, scan and template figures move with the requests', async (t) => {
  const api = client(running.baseUrl, running.auth);
  const before = (await scrape(running)).samples;
  const faces = Array.from({ length: 3 }, () => randomVector(random));
  for (const [index, descriptor] of faces.entries()) t.is((await api.post('/v1/faces/register', { email: `metrics.${index}@example.com`, descriptor })).status, 201);
  for (let i = 0; i < 4; i += 1) t.is((await api.get('/v1/users')).status, 200);
  t.is((await api.post('/v1/faces/identify', { descriptor: faces[1] })).status, 200);
  t.is((await api.post('/v1/faces/register', { email: 'metrics.bad@example.com', descriptor: [1, 2] })).status, 400);
  t.is((await api.get(`/v1/users/usr_${'0'.repeat(32)}`)).status, 404);
  t.is((await client(running.baseUrl).get('/no/such/path')).status, 404);
  const after = (await scrape(running)).samples;
  const moved = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);

  t.is(moved('facesmash_http_request_duration_seconds_count', { route: '/v1/users', method: 'GET', status: '200' }), 4);
  t.is(moved('facesmash_http_request_duration_seconds_count', { route: '/v1/faces/register', method: 'POST', status: '201' }), 3);
  t.is(moved('facesmash_http_request_duration_seconds_count', { route: '/v1/faces/register', method: 'POST', status: '400' }), 1);
  t.is(moved('facesmash_http_request_duration_seconds_count', { route: '/v1/users/:id', status: '404' }), 1, 'the route template, never the id');
  t.is(moved('facesmash_http_request_duration_seconds_count', { route: 'unmatched', status: '404' }), 1);
  t.false(after.some((s) => s.labels.route?.includes('usr_')), 'no path reaches a label');
  t.is(moved('facesmash_http_errors_total', { code: 'VALIDATION_ERROR' }), 1);
  t.is(moved('facesmash_http_errors_total', { code: 'NOT_FOUND' }), 2);
  t.true(moved('facesmash_eventstore_append_batch_size_count') >= 1, 'appends were batched and counted');
  t.true(moved('facesmash_eventstore_append_batch_size_sum') >= 3, 'every registration was one append unit');
  // Each registration scans the gallery for the same face under another account, then the identify.
  t.is(moved('facesmash_matcher_scan_duration_seconds_count', { gallery: '<=1k' }), 4);
  t.is(value(after, 'facesmash_matcher_templates'), value(before, 'facesmash_matcher_templates') + 3);
  t.true(moved('facesmash_database_statements_total', { result: 'ok' }) > 0);
  // The scrape itself is a request: the second one sees the first.
  t.true(value(after, 'facesmash_http_request_duration_seconds_count', { route: '/metrics' }) >= 1);
});

test.serial("the plan's refusals are counted by code", async (t) => {
  const admin = client(running.baseUrl, { authorization: `Bearer ${adminToken}` });
  const created = await admin.post('/admin/tenants', { name: 'metered', plan: 'free' });
  t.is(created.status, 201);
  const limited = client(running.baseUrl, { authorization: `Bearer ${created.body.data.keys.live.key}` });
  const before = (await scrape(running)).samples;
  const statuses: number[] = [];
  for (let i = 0; i < 12; i += 1) statuses.push((await limited.get('/v1/users')).status);
  t.true(statuses.includes(429), statuses.join(' '));
  const after = (await scrape(running)).samples;
  t.is(value(after, 'facesmash_http_errors_total', { code: 'RATE_LIMITED' }) - value(before, 'facesmash_http_errors_total', { code: 'RATE_LIMITED' }), statuses.filter((s) => s === 429).length);
});

test.serial('webhook deliveries are counted by outcome', async (t) => {
  const { createServer } = await import('node:http');
  let received = 0;
  const receiver = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received += 1;
      response.end('ok');
    });
  }).listen(0, '127.0.0.1');
  await new Promise((resolve) => receiver.once('listening', resolve));
  try {
    const address = receiver.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const api = client(running.baseUrl, running.auth);
    const before = (await scrape(running)).samples;
    t.is((await api.post('/v1/webhooks', { url: `http://127.0.0.1:${port}/hook`, events: ['face.registered'] })).status, 201);
    t.is((await api.post('/v1/faces/register', { email: 'hooked@example.com', descriptor: randomVector(random) })).status, 201);
    let delivered = 0;
    for (let i = 0; i < 200 && delivered < 1; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      const now = (await scrape(running)).samples;
      delivered = value(now, 'facesmash_webhook_deliveries_total', { outcome: 'delivered' }) - value(before, 'facesmash_webhook_deliveries_total', { outcome: 'delivered' });
    }
    t.is(delivered, 1);
    t.is(received, 1);
  } finally {
    await new Promise((resolve) => receiver.close(resolve));
  }
});

test.serial('with METRICS_TOKEN set, /metrics wants it', async (t) => {
  const anonymous = await fetch(`${running.baseUrl}/metrics`);
  t.is(anonymous.status, 401);
  t.like(await anonymous.json(), { success: false, error: { code: 'UNAUTHORIZED' } });
  t.is((await fetch(`${running.baseUrl}/metrics`, { headers: { authorization: 'Bearer not-the-metrics-token' } })).status, 401);
  t.is((await fetch(`${running.baseUrl}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).status, 401, 'the admin token is not the metrics token');
  t.is((await fetch(`${running.baseUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).status, 200);
});

test.serial('without METRICS_TOKEN, /metrics is open and still names no tenant, key or email', async (t) => {
  const open = await startService();
  try {
    const api = client(open.baseUrl, open.auth);
    t.is((await api.post('/v1/faces/register', { email: 'open.metrics@example.com', descriptor: randomVector(random) })).status, 201);
    const response = await fetch(`${open.baseUrl}/metrics`);
    t.is(response.status, 200);
    const text = await response.text();
    t.notThrows(() => parsePrometheus(text));
    t.false(text.includes(open.tenantId));
    t.false(text.includes(open.liveKey));
    t.false(text.includes('open.metrics@example.com'));
  } finally {
    await open.stop();
  }
});
