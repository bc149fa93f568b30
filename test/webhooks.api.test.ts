import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { verifyTimestampedSignature } from '../src/webhooks/signature.ts';

/**
 * The verification function of the FaceSmash docs (api-reference/webhooks), as a receiver
 * writes it: HMAC-SHA256 hex of the payload it gets, compared in constant time.
 */
function facesmashDocsVerifyWebhook(payload: string, signature: string, secret: string): boolean {
  const expected = createHmac('sha256', secret).update(payload).digest('hex');
  if (Buffer.from(signature).length !== Buffer.from(expected).length) return false;
  return timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
}
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService, type RunningService } from './support/service.ts';

interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly raw: string;
  readonly body: { id: string; event: string; createdAt: string; data: Record<string, unknown> };
}

/** A webhook receiver on loopback that records what arrives and answers what the test says. */
async function receiver(port = 0) {
  const received: Received[] = [];
  let answer = 200;
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      if (answer === 200) received.push({ headers: req.headers, raw, body: JSON.parse(raw) });
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    received,
    port: (server.address() as AddressInfo).port,
    answer: (status: number) => (answer = status),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const random = seededRandom(31);
let running: RunningService;
let api: ReturnType<typeof client>;

test.before(async () => {
  running = await startService({ WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_DELAYS_MS: '200,400,800,1600' });
  api = client(running.baseUrl, running.auth);
});

test.after.always(async () => {
  await running?.stop();
});

test.serial('deliveries are signed, in order per user, at least once, and never carry a descriptor', async (t) => {
  const hook = await receiver();
  try {
    const created = await api.post('/v1/webhooks', { url: `http://127.0.0.1:${hook.port}/hook` });
    t.is(created.status, 201);
    const { id, secret, events, status } = created.body.data;
    t.regex(id, /^wh_/);
    t.regex(secret, /^whsec_/);
    t.is(status, 'active');
    t.deepEqual(events, ['face.registered', 'face.verified', 'face.failed', 'template.created', 'template.deleted', 'user.deleted']);

    const face = randomVector(random);
    const user = (await api.post('/v1/faces/register', { email: 'hooked@example.com', descriptor: face })).body.data;
    const second = (await api.post('/v1/faces/register', { email: 'hooked@example.com', descriptor: atDistance(face, 0.1, random) })).body.data;
    await api.post('/v1/faces/verify', { userId: user.userId, descriptor: atDistance(face, 0.1, random) });
    await api.post('/v1/faces/verify', { userId: user.userId, descriptor: randomVector(random) });
    await api.delete(`/v1/faces/templates/${second.templateId}`);
    await api.delete(`/v1/users/${user.userId}`);

    const expected = ['face.registered', 'template.created', 'template.created', 'face.verified', 'face.failed', 'template.deleted', 'user.deleted'];
    await until(() => hook.received.length >= expected.length);
    t.deepEqual(hook.received.map((r) => r.body.event), expected);
    for (const r of hook.received) {
      // The recommended, replay-safe scheme, and the FaceSmash docs' own verification code.
      t.true(verifyTimestampedSignature(secret, String(r.headers['x-facesmash-signature-256']), r.raw));
      t.false(verifyTimestampedSignature('whsec_wrong', String(r.headers['x-facesmash-signature-256']), r.raw));
      t.regex(String(r.headers['x-facesmash-signature-256']), new RegExp(`^t=${r.headers['x-facesmash-timestamp']},v1=[0-9a-f]{64}$`));
      t.true(facesmashDocsVerifyWebhook(JSON.stringify(JSON.parse(r.raw)), String(r.headers['x-facesmash-signature']), secret), 'the docs verify JSON.stringify(req.body)');
      t.false(facesmashDocsVerifyWebhook(JSON.stringify(JSON.parse(r.raw)), String(r.headers['x-facesmash-signature']), 'whsec_wrong'));
      t.regex(r.body.id, /^evt_/);
      t.false('descriptor' in r.body.data, 'no descriptor in any payload');
      t.false(/\[(\s*-?[\d.e-]+\s*,){100,}/.test(r.raw), 'no long number array either');
      t.false(r.raw.includes('fse1:'), 'nor any sealed value');
      t.is(r.body.data.userId, user.userId);
    }
    t.is(hook.received[0]!.body.data.email, 'hooked@example.com');
    t.is(new Set(hook.received.map((r) => r.body.id)).size, expected.length, 'each event has its own id');

    const listed = await api.get('/v1/webhooks');
    t.like(listed.body.data.webhooks[0], { id, status: 'active', failureCount: 0 });
    t.false(JSON.stringify(listed.body.data).includes(secret), 'the secret is shown only at creation');
    t.truthy(listed.body.data.webhooks[0].lastDeliveryAt);
    const log = await api.get(`/v1/webhooks/${id}/deliveries`);
    t.is(log.body.data.deliveries.length, expected.length);
    t.true(log.body.data.deliveries.every((d: { status: string }) => d.status === 'delivered'));

    t.deepEqual((await api.delete(`/v1/webhooks/${id}`)).body.data, { deleted: true, id });
    t.is(await running.service.subjectKeys.find(id), 'erased', "the secret's key is destroyed with the webhook");
    t.deepEqual((await api.get('/v1/webhooks')).body.data.webhooks, []);
  } finally {
    await hook.close();
  }
});

test.serial('a receiver that fails or is down gets every event once it is back; five failures mark the webhook failing', async (t) => {
  const hook = await receiver();
  try {
    const { id } = (await api.post('/v1/webhooks', { url: `http://127.0.0.1:${hook.port}/down`, events: ['face.registered', 'face.verified'] })).body.data;
    hook.answer(503);
    const face = randomVector(random);
    const user = (await api.post('/v1/faces/register', { email: 'patient@example.com', descriptor: face })).body.data;
    await api.post('/v1/faces/verify', { userId: user.userId, descriptor: atDistance(face, 0.1, random) });
    await until(async () => (await api.get(`/v1/webhooks/${id}/deliveries`)).body.data.deliveries.some((d: { attempts: number }) => d.attempts >= 2));
    hook.answer(200);
    await until(() => hook.received.length >= 2);
    t.deepEqual(hook.received.map((r) => r.body.event), ['face.registered', 'face.verified'], 'in order, after the retries');
    const log = (await api.get(`/v1/webhooks/${id}/deliveries`)).body.data.deliveries;
    t.true(log.find((d: { event: string }) => d.event === 'face.registered').attempts >= 2);

    // Always failing: after five attempts (1 + 4 retries) the webhook is failing and pauses.
    hook.answer(500);
    await api.post('/v1/faces/verify', { userId: user.userId, descriptor: atDistance(face, 0.1, random) });
    await until(async () => (await api.get('/v1/webhooks')).body.data.webhooks.find((w: { id: string }) => w.id === id)?.status === 'failing', 20_000);
    const failing = (await api.get('/v1/webhooks')).body.data.webhooks.find((w: { id: string }) => w.id === id);
    t.is(failing.failureCount, 5);
    const failed = (await api.get(`/v1/webhooks/${id}/deliveries`)).body.data.deliveries[0];
    t.like(failed, { status: 'failed', attempts: 5, lastStatusCode: 500 });

    // Paused deliveries are kept; once the receiver is fixed, resuming sends them.
    hook.answer(200);
    const resumed = await api.post(`/v1/webhooks/${id}/resume`);
    t.like(resumed.body.data, { id, status: 'active', resumedDeliveries: 1 });
    await until(() => hook.received.length >= 3);
    t.is(hook.received[2]!.body.event, 'face.verified');
    t.is((await api.get('/v1/webhooks')).body.data.webhooks.find((w: { id: string }) => w.id === id).status, 'active');
    await api.delete(`/v1/webhooks/${id}`);
  } finally {
    await hook.close();
  }
});

test.serial('a receiver that never answers holds back no other webhook', async (t) => {
  // Holds every request open until the delivery client gives up (10 s).
  const open = new Set<IncomingMessage>();
  const hanging = createServer((req) => {
    open.add(req);
    req.on('close', () => open.delete(req));
  });
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  const hook = await receiver();
  const ids: string[] = [];
  try {
    ids.push((await api.post('/v1/webhooks', { url: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hang`, events: ['face.registered'] })).body.data.id);
    ids.push((await api.post('/v1/webhooks', { url: `http://127.0.0.1:${hook.port}/healthy` })).body.data.id);
    await api.post('/v1/faces/register', { email: 'hol@example.com', descriptor: randomVector(random) });
    // The healthy receiver's second event can only be sent after its first is delivered: a
    // delivery loop that waited for its whole pass would hold it until the hanging one timed out.
    await until(() => hook.received.length >= 2);
    t.deepEqual(hook.received.map((r) => r.body.event), ['face.registered', 'template.created']);
    t.is(open.size, 1, 'the hanging delivery is still waiting for its answer');
  } finally {
    for (const id of ids) await api.delete(`/v1/webhooks/${id}`);
    hanging.closeAllConnections();
    await new Promise<void>((resolve) => hanging.close(() => resolve()));
    await hook.close();
  }
});

test.serial('webhook URLs to internal addresses are refused unless configured; test keys cannot manage webhooks', async (t) => {
  const strict = await startService();
  try {
    const strictApi = client(strict.baseUrl, strict.auth);
    for (const url of ['https://127.0.0.1/hook', 'https://10.1.2.3/hook', 'https://169.254.169.254/latest', 'https://[::1]/x', 'https://[::ffff:192.168.0.1]/x', 'http://203.0.113.9/plain-http', 'ftp://203.0.113.9/x', 'not a url']) {
      const refused = await strictApi.post('/v1/webhooks', { url });
      t.is(refused.status, 400, url);
      t.is(refused.body.error.details.field, 'url', url);
    }
    t.deepEqual((await strictApi.get('/v1/webhooks')).body.data.webhooks, []);
    const testKey = client(strict.baseUrl, { authorization: `Bearer ${strict.testKey}` });
    t.is((await testKey.get('/v1/webhooks')).status, 403);
    const bad = await strictApi.post('/v1/webhooks', { url: 'https://203.0.113.9/x', events: ['face.exploded'] });
    t.is(bad.status, 400);
    t.is(bad.body.error.details.field, 'events[0]');
  } finally {
    await strict.stop();
  }
});
