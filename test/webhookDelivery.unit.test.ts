import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import type { Resolver } from '../src/webhooks/addressPolicy.ts';
import { deliver, userAgent } from '../src/webhooks/deliveryClient.ts';
import type { NewDelivery } from '../src/webhooks/deliveryQueue.ts';
import { deliverDue } from '../src/webhooks/deliveryWorker.ts';
import { createMemoryDeliveryQueue } from '../src/webhooks/memoryDeliveryQueue.ts';
import { webhookEventId, type PayloadSource } from '../src/webhooks/payload.ts';
import { signBody, verifySignature, verifyTimestampedSignature } from '../src/webhooks/signature.ts';

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

type Answer = (request: Received, response: http.ServerResponse) => void;

/** A receiver on 127.0.0.1, port 0: it records what arrives and answers as `answer` says. */
async function receiver(answer: Answer) {
  const received: Received[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = { method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(entry);
      answer(entry, response);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    received,
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

const body = { id: 'evt_00000000000000000000000000000001', event: 'face.verified' as const, createdAt: '2026-11-26T10:00:00.000Z', data: { userId: 'usr_1', similarity: 0.8 } };

test('a delivery POSTs the JSON body with signature headers the receiver can verify', async (t) => {
  const hook = await receiver((_request, response) => response.writeHead(204).end());
  try {
    const now = new Date();
    const result = await deliver({ url: `${hook.url}/hooks/facesmash`, secret: 'whsec_abc', body, allowPrivate: true, now: () => now });
    t.true(result.ok);
    t.is(result.status, 204);
    t.true(result.durationMs >= 0);
    const [request] = hook.received;
    t.is(request?.method, 'POST');
    t.is(request?.url, '/hooks/facesmash');
    t.is(request?.headers['content-type'], 'application/json');
    t.is(request?.headers['user-agent'], userAgent);
    t.is(request?.body, JSON.stringify(body));
    const timestamp = request?.headers['x-facesmash-timestamp'] as string;
    t.is(timestamp, String(Math.floor(now.getTime() / 1000)));
    t.true(verifySignature('whsec_abc', timestamp, request!.body, (request?.headers['x-facesmash-signature-256'] as string).split('v1=')[1]!));
    t.false(verifySignature('whsec_other', timestamp, request!.body, (request?.headers['x-facesmash-signature-256'] as string).split('v1=')[1]!));
    t.is(request?.headers['x-facesmash-signature'], signBody('whsec_abc', request!.body), 'the plain signature is the HMAC of the raw body');
  } finally {
    await hook.close();
  }
});

test('a receiver that never answers is a timeout failure, not a hang', async (t) => {
  const hook = await receiver(() => {});
  try {
    const result = await deliver({ url: hook.url, secret: 's', body, allowPrivate: true, timeoutMs: 200 });
    t.false(result.ok);
    t.is(result.status, undefined);
    t.regex(result.error ?? '', /no answer within 200 ms/);
    t.true(result.durationMs >= 150 && result.durationMs < 2000, `${result.durationMs} ms`);
  } finally {
    await hook.close();
  }
});

test('a non-2xx answer is a failure with its status, and a large answer body is not read to the end', async (t) => {
  const hook = await receiver((request, response) => {
    if (request.url === '/big') {
      response.writeHead(200, { 'Content-Type': 'text/plain' });
      response.write(Buffer.alloc(64 * 1024, 'x'));
      // Never ends: the client must not wait for the rest.
      return;
    }
    response.writeHead(503, { 'Content-Type': 'text/plain' }).end('down for maintenance');
  });
  try {
    const failed = await deliver({ url: `${hook.url}/down`, secret: 's', body, allowPrivate: true });
    t.deepEqual({ ok: failed.ok, status: failed.status, error: failed.error }, { ok: false, status: 503, error: 'HTTP 503' });
    const big = await deliver({ url: `${hook.url}/big`, secret: 's', body, allowPrivate: true, timeoutMs: 2000 });
    t.true(big.ok);
    t.true(big.durationMs < 1500);
  } finally {
    await hook.close();
  }
});

test('a redirect is not followed and counts as a failure', async (t) => {
  const hook = await receiver((request, response) => {
    if (request.url === '/start') response.writeHead(307, { Location: '/elsewhere' }).end();
    else response.writeHead(200).end();
  });
  try {
    const result = await deliver({ url: `${hook.url}/start`, secret: 's', body, allowPrivate: true });
    t.false(result.ok);
    t.is(result.status, 307);
    t.regex(result.error ?? '', /redirect/);
    t.deepEqual(hook.received.map((r) => r.url), ['/start']);
  } finally {
    await hook.close();
  }
});

test('without private access a host resolving to a private address is refused before any connection', async (t) => {
  const lookups: string[] = [];
  const resolve: Resolver = async (host) => {
    lookups.push(host);
    return ['10.0.0.1'];
  };
  const result = await deliver({ url: 'https://hooks.example.com/x', secret: 's', body, allowPrivate: false, resolve, timeoutMs: 1000 });
  t.false(result.ok);
  t.is(result.status, undefined);
  t.regex(result.error ?? '', /^url: resolves to a loopback, private/);
  t.deepEqual(lookups, ['hooks.example.com']);

  const plain = await deliver({ url: 'http://127.0.0.1:9/x', secret: 's', body, allowPrivate: false });
  t.regex(plain.error ?? '', /must use https/);
  const literal = await deliver({ url: 'https://[::ffff:127.0.0.1]:9/x', secret: 's', body, allowPrivate: false });
  t.regex(literal.error ?? '', /loopback, private/);
});

test('a host that rebinds to loopback between the check and the connection is refused at connect time', async (t) => {
  // The first answer (a public address) only passes the URL check; the connection asks again and
  // gets 127.0.0.1, which the connect-time lookup refuses: no traffic leaves the machine.
  const hook = await receiver((_request, response) => response.writeHead(200).end());
  try {
    const answers = [['93.184.215.14'], ['127.0.0.1']];
    const resolve: Resolver = async () => answers.shift() ?? ['127.0.0.1'];
    const result = await deliver({ url: `https://rebind.example.com:${hook.port}/x`, secret: 's', body, allowPrivate: false, resolve, timeoutMs: 2000 });
    t.false(result.ok);
    t.regex(result.error ?? '', /internal address/);
    t.is(hook.received.length, 0);
  } finally {
    await hook.close();
  }
});

test('with private access an injected resolver is used to connect (the host name stays in the URL)', async (t) => {
  const hook = await receiver((request, response) => response.writeHead(200).end(request.headers.host));
  try {
    const result = await deliver({ url: `http://receiver.test:${hook.port}/x`, secret: 's', body, allowPrivate: true, resolve: async () => ['127.0.0.1'] });
    t.true(result.ok);
    t.is(hook.received[0]?.headers.host, `receiver.test:${hook.port}`);
  } finally {
    await hook.close();
  }
});

test('the delivery worker retries with the same evt_ id, pauses the webhook when attempts run out, and keeps per-user order', async (t) => {
  let failUntil = 2;
  const hook = await receiver((_request, response) => {
    if (failUntil > 0) {
      failUntil--;
      response.writeHead(500).end();
    } else response.writeHead(200).end();
  });
  try {
    const queue = createMemoryDeliveryQueue();
    let clock = new Date('2026-11-26T10:00:00.000Z');
    const source = (eventId: string, position: bigint): PayloadSource => ({
      eventId,
      streamName: 'user-1',
      revision: position,
      position,
      occurredAt: '2026-11-26T09:59:00.000Z',
      tenantId: 'ten',
      mode: 'live',
      userId: 'usr_1',
      event: { type: 'FaceTemplateRemoved', data: { userId: 'usr_1', templateId: `tpl_${position}`, reason: 'api' } },
      sealedEmail: null,
    });
    const delivery = (eventId: string, position: bigint): NewDelivery => ({
      id: webhookEventId('wh_1', eventId, 'template.deleted'),
      webhookId: 'wh_1',
      tenantId: 'ten',
      userId: 'usr_1',
      event: 'template.deleted',
      source: source(eventId, position),
      position,
      ordinal: 0,
      createdAt: clock,
    });
    await queue.enqueue([delivery('e1', 1n), delivery('e2', 2n)], 2n);
    const deps = {
      queue,
      findWebhook: async (id: string) => (id === 'wh_1' ? { url: `${hook.url}/in`, secret: 'whsec_1' } : undefined),
      decrypt: async () => null,
      allowPrivate: true,
      schedule: { delaysMs: [10, 20, 30] },
      now: () => clock,
    };
    const advance = (ms: number) => (clock = new Date(clock.getTime() + ms));

    t.deepEqual(await deliverDue(deps), { attempted: 1, delivered: 0, failed: 1 });
    t.deepEqual(await deliverDue(deps), { attempted: 0, delivered: 0, failed: 0 }, 'not due yet, and e2 waits behind e1');
    advance(10);
    t.deepEqual(await deliverDue(deps), { attempted: 1, delivered: 0, failed: 1 });
    advance(20);
    t.deepEqual(await deliverDue(deps), { attempted: 1, delivered: 1, failed: 0 });
    t.deepEqual(await deliverDue(deps), { attempted: 1, delivered: 1, failed: 0 }, 'then e2');
    const ids = hook.received.map((r) => (JSON.parse(r.body) as { id: string }).id);
    t.deepEqual(ids, [delivery('e1', 1n).id, delivery('e1', 1n).id, delivery('e1', 1n).id, delivery('e2', 2n).id]);
    for (const r of hook.received) t.true(verifyTimestampedSignature('whsec_1', r.headers['x-facesmash-signature-256'] as string, r.body, { now: Math.floor(clock.getTime() / 1000) }));

    failUntil = 100;
    await queue.enqueue([delivery('e3', 3n)], 3n);
    for (const wait of [0, 10, 20, 30]) {
      advance(wait);
      t.is((await deliverDue(deps)).failed, 1);
    }
    t.is((await queue.find(delivery('e3', 3n).id))?.status, 'failed');
    const state = (await queue.webhookStates(['wh_1'])).get('wh_1');
    t.is(state?.status, 'failing');
    t.is(state?.failureCount, 4);
    advance(60_000);
    t.deepEqual(await deliverDue(deps), { attempted: 0, delivered: 0, failed: 0 }, 'a failing webhook is paused');
  } finally {
    await hook.close();
  }
});
