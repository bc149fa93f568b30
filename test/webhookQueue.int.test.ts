import { randomBytes, randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { sql } from 'kysely';
import { createFieldCipher, isErased } from '../src/crypto/fieldCipher.ts';
import { createSqlSubjectKeyStore } from '../src/crypto/subjectKeys.ts';
import type { RecordedEvent } from '../src/eventStore/eventStore.ts';
import { aad, signInSubject } from '../src/users/userEvents.ts';
import type { DeliveryQueue, NewDelivery } from '../src/webhooks/deliveryQueue.ts';
import { planDeliveries } from '../src/webhooks/dispatcher.ts';
import { createMemoryDeliveryQueue } from '../src/webhooks/memoryDeliveryQueue.ts';
import { buildWebhookBody, webhookEventId, webhookEventNames, type PayloadSource } from '../src/webhooks/payload.ts';
import { createSqlDeliveryQueue } from '../src/webhooks/sqlDeliveryQueue.ts';
import { openTestDatabase, type TestDatabase } from './support/databases.ts';
import { userStream } from '../src/ids/streams.ts';

let testDb: TestDatabase | undefined;

test.before(async () => {
  testDb = await openTestDatabase();
});

test.after.always(async () => {
  await testDb?.dispose();
});

type Adapter = 'memory' | 'sql';

async function openQueue(adapter: Adapter): Promise<DeliveryQueue> {
  if (adapter === 'memory') return createMemoryDeliveryQueue();
  const db = testDb!.database.db;
  const queue = await createSqlDeliveryQueue(db);
  await sql`truncate webhooks.deliveries, webhooks.webhook_state, webhooks.dispatch_checkpoint`.execute(db);
  return queue;
}

const t0 = new Date('2026-11-26T10:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);

function source(userId: string, position: bigint): PayloadSource {
  return {
    eventId: randomUUID(),
    streamName: `user-${userId}`,
    revision: position,
    position,
    occurredAt: t0.toISOString(),
    tenantId: 'ten_1',
    mode: 'live',
    userId,
    event: { type: 'SignInAttempted', data: { userId, logId: `log_${position}`, kind: 'verify', outcome: 'success', similarity: 0.7, threshold: 0.45, templateId: null, ip: 'fse1:c2VhbGVk' } },
    sealedEmail: 'fse1:ZW1haWw=',
  };
}

function delivery(webhookId: string, userId: string, position: bigint, ordinal = 0, createdAt = t0): NewDelivery {
  const s = source(userId, position);
  return { id: webhookEventId(webhookId, `${s.streamName}/${position}`, ordinal === 0 ? 'face.verified' : 'template.created'), webhookId, tenantId: 'ten_1', userId, event: ordinal === 0 ? 'face.verified' : 'template.created', source: s, position, ordinal, createdAt };
}

const claim = async (queue: DeliveryQueue, now: Date, limit = 10) => (await queue.claimDue(now, { limit, leaseMs: 60_000 })).map((d) => d.id);
const failed = (when: Date, next: Date | 'failing', statusCode = 500) => ({ ok: false as const, at: when, statusCode, error: `HTTP ${statusCode}`, durationMs: 12, next });
const succeeded = (when: Date) => ({ ok: true as const, at: when, statusCode: 200, durationMs: 8 });

const contract = test.macro({
  async exec(t: ExecutionContext, adapter: Adapter, body: (t: ExecutionContext, queue: DeliveryQueue) => Promise<void>) {
    await body(t, await openQueue(adapter));
  },
  title: (name = '', adapter: Adapter) => `${adapter}: ${name}`,
});

const cases: Array<[string, (t: ExecutionContext, queue: DeliveryQueue) => Promise<void>]> = [
  [
    'the dispatcher keeps its own webhook directory with its checkpoint: registered, changed and removed webhooks',
    async (t, queue) => {
      t.deepEqual(await queue.targets(), []);
      const a = { id: 'wh_a', tenantId: 'ten_1', mode: 'live' as const, events: ['face.verified' as const] };
      const b = { id: 'wh_b', tenantId: 'ten_2', mode: 'test' as const, events: ['template.created' as const, 'user.deleted' as const] };
      await queue.enqueue([], 3n, { registered: [a, b], removed: [] });
      const byId = (targets: readonly { id: string }[]) => [...targets].sort((x, y) => (x.id < y.id ? -1 : 1));
      t.deepEqual(byId(await queue.targets()), [a, b]);
      await queue.enqueue([], 5n, { registered: [{ ...a, events: ['face.failed'] }], removed: ['wh_b'] });
      t.deepEqual(await queue.targets(), [{ ...a, events: ['face.failed'] }]);
      t.is(await queue.checkpoint(), 5n);
    },
  ],
  [
    'enqueue stores each delivery once, round-trips it, and moves the checkpoint forward only',
    async (t, queue) => {
      t.is(await queue.checkpoint(), 0n);
      const a = delivery('wh_1', 'usr_a', 7n);
      const b = delivery('wh_1', 'usr_a', 7n, 1);
      t.deepEqual(await queue.enqueue([a, b], 7n), { inserted: 2 });
      t.deepEqual(await queue.enqueue([a], 5n), { inserted: 0 });
      t.is(await queue.checkpoint(), 7n);
      t.deepEqual(await queue.enqueue([], 9n), { inserted: 0 });
      t.is(await queue.checkpoint(), 9n);
      const stored = await queue.find(a.id);
      t.deepEqual(stored, { ...a, status: 'pending', attempts: 0, nextAttemptAt: t0, lastAttemptAt: null, lastStatusCode: null, lastError: null, deliveredAt: null });
      t.is(typeof stored?.source.position, 'bigint');
      t.is(await queue.find('evt_missing'), undefined);
    },
  ],
  [
    'claimDue takes due deliveries in event order, one per webhook and user, and leases them',
    async (t, queue) => {
      const a1 = delivery('wh_1', 'usr_a', 1n);
      const a2 = delivery('wh_1', 'usr_a', 2n);
      const b1 = delivery('wh_1', 'usr_b', 3n);
      const a1other = delivery('wh_2', 'usr_a', 1n);
      const late = delivery('wh_1', 'usr_c', 4n, 0, at(5000));
      await queue.enqueue([a2, b1, late, a1, a1other], 4n);
      t.deepEqual(await claim(queue, t0), [a1.id, a1other.id, b1.id], 'a2 waits behind a1; usr_c is not due');
      t.deepEqual(await claim(queue, t0), [], 'leased deliveries are not claimed again, and a2 still waits');
      await queue.recordAttempt(a1.id, succeeded(t0));
      t.deepEqual(await claim(queue, t0), [a2.id]);
      t.deepEqual(await claim(queue, at(61_000)), [a1other.id, a2.id, b1.id, late.id], 'expired leases are claimable again (at-least-once)');
      const limited = await queue.claimDue(at(200_000), { limit: 1, leaseMs: 1 });
      t.is(limited.length, 1);
    },
  ],
  [
    'a registration goes out before its template, by ordinal',
    async (t, queue) => {
      const registered = delivery('wh_1', 'usr_a', 5n, 0);
      const created = delivery('wh_1', 'usr_a', 5n, 1);
      await queue.enqueue([created, registered], 5n);
      t.deepEqual(await claim(queue, t0), [registered.id]);
      await queue.recordAttempt(registered.id, succeeded(t0));
      t.deepEqual(await claim(queue, t0), [created.id]);
    },
  ],
  [
    'a failed attempt is retried when due, counts attempts, and blocks the user’s later deliveries meanwhile',
    async (t, queue) => {
      const a1 = delivery('wh_1', 'usr_a', 1n);
      const a2 = delivery('wh_1', 'usr_a', 2n);
      await queue.enqueue([a1, a2], 2n);
      await claim(queue, t0);
      await queue.recordAttempt(a1.id, failed(at(100), at(60_100), 502));
      const stored = await queue.find(a1.id);
      t.like(stored, { status: 'pending', attempts: 1, lastStatusCode: 502, lastError: 'HTTP 502' });
      t.deepEqual(stored?.nextAttemptAt, at(60_100));
      t.deepEqual(stored?.lastAttemptAt, at(100));
      t.deepEqual(await claim(queue, at(60_000)), []);
      t.like((await queue.webhookStates(['wh_1'])).get('wh_1'), { status: 'active', failureCount: 1, lastStatusCode: 502, lastDeliveryAt: null });
      t.deepEqual(await claim(queue, at(60_100)), [a1.id]);
      await queue.recordAttempt(a1.id, succeeded(at(60_200)));
      t.like(await queue.find(a1.id), { status: 'delivered', attempts: 2, lastStatusCode: 200, lastError: null });
      t.deepEqual((await queue.find(a1.id))?.deliveredAt, at(60_200));
      const state = (await queue.webhookStates(['wh_1', 'wh_unknown'])).get('wh_1');
      t.like(state, { status: 'active', failureCount: 0 });
      t.deepEqual(state?.lastDeliveryAt, at(60_200));
      t.like((await queue.webhookStates(['wh_unknown'])).get('wh_unknown'), { status: 'active', failureCount: 0, lastDeliveryAt: null });
      await queue.recordAttempt(a1.id, failed(at(70_000), 'failing'));
      t.like(await queue.find(a1.id), { status: 'delivered', attempts: 2 }, 'a delivered delivery ignores late outcomes');
    },
  ],
  [
    'when attempts run out the delivery fails and the webhook is failing and paused until resumed',
    async (t, queue) => {
      const a1 = delivery('wh_1', 'usr_a', 1n);
      const a2 = delivery('wh_1', 'usr_a', 2n);
      const b1 = delivery('wh_1', 'usr_b', 3n);
      const other = delivery('wh_2', 'usr_a', 1n);
      await queue.enqueue([a1, a2, b1, other], 3n);
      await claim(queue, t0, 1);
      await queue.recordAttempt(a1.id, failed(t0, 'failing'));
      t.like(await queue.find(a1.id), { status: 'failed', attempts: 1 });
      t.like((await queue.webhookStates(['wh_1'])).get('wh_1'), { status: 'failing', failureCount: 1 });
      t.deepEqual(await claim(queue, at(1)), [other.id], 'nothing of wh_1 goes out, other webhooks do');
      t.is(await queue.resume('wh_1', at(10)), 1);
      t.like(await queue.find(a1.id), { status: 'pending', attempts: 0 });
      t.like((await queue.webhookStates(['wh_1'])).get('wh_1'), { status: 'active', failureCount: 0 });
      t.deepEqual(await claim(queue, at(10)), [a1.id, b1.id], 'in order again: a1 before a2');
    },
  ],
  [
    'concurrent claimers never take the same delivery',
    async (t, queue) => {
      const planned = Array.from({ length: 20 }, (_, i) => delivery('wh_1', `usr_${i}`, BigInt(i + 1)));
      await queue.enqueue(planned, 20n);
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => queue.claimDue(t0, { limit: 8, leaseMs: 60_000 })));
      const ids = [...a!, ...b!, ...c!].map((d) => d.id);
      t.is(new Set(ids).size, ids.length);
      t.is(ids.length, 20);
    },
  ],
  [
    'removing a webhook forgets its deliveries; delivered ones can be pruned',
    async (t, queue) => {
      const a1 = delivery('wh_1', 'usr_a', 1n);
      const b1 = delivery('wh_1', 'usr_b', 2n);
      const kept = delivery('wh_2', 'usr_a', 1n);
      await queue.enqueue([a1, b1, kept], 2n);
      await claim(queue, t0);
      await queue.recordAttempt(kept.id, succeeded(at(10)));
      t.is(await queue.removeWebhook('wh_1'), 2);
      t.is(await queue.find(a1.id), undefined);
      t.is(await queue.pruneDelivered(at(10)), 0);
      t.is(await queue.pruneDelivered(at(11)), 1);
      t.is(await queue.find(kept.id), undefined);
      t.deepEqual(await claim(queue, at(120_000)), []);
    },
  ],
];

for (const adapter of ['memory', 'sql'] as const) {
  for (const [name, body] of cases) test.serial(name, contract, adapter, body);
}

test.serial('sql: the queue holds no plaintext email, ip or descriptor, and erasure empties later bodies', async (t) => {
  const db = testDb!.database.db;
  const keys = await createSqlSubjectKeyStore(db, randomBytes(32));
  const cipher = createFieldCipher(keys);
  const queue = await openQueue('sql');
  const userId = `usr_${randomUUID().replaceAll('-', '')}`;
  const email = `grace.${randomUUID().slice(0, 8)}@example.com`;
  const ip = '198.51.100.23';
  const descriptorMarker = 'descriptor-bytes-marker';
  const meta = { occurredAt: t0.toISOString(), schemaVersion: 1, tenantId: 'ten_1', mode: 'live' as const, requestId: 'req_1' };
  const stream = userStream(userId);
  const enrolment: RecordedEvent = {
    id: randomUUID(), type: 'UserEnrolled', streamName: stream, revision: 0n, position: 10n, recordedAt: t0, metadata: meta,
    data: { userId, email: await cipher.encryptText(userId, email, aad.email(userId)), emailIndex: 'idx' },
  };
  const added: RecordedEvent = {
    id: randomUUID(), type: 'FaceTemplateAdded', streamName: stream, revision: 1n, position: 11n, recordedAt: t0, metadata: meta,
    data: { userId, templateId: 'tpl_1', descriptor: await cipher.encryptText(userId, descriptorMarker, aad.descriptor('tpl_1')), quality: 0.9, lighting: null, source: 'descriptor', model: 'm' },
  };
  const signIn: RecordedEvent = {
    id: randomUUID(), type: 'SignInAttempted', streamName: stream, revision: 2n, position: 12n, recordedAt: t0, metadata: { ...meta, requestId: 'req_2' },
    data: { userId, logId: 'log_1', kind: 'verify', outcome: 'success', similarity: 0.8, threshold: 0.45, templateId: 'tpl_1', ip: await cipher.encryptText(signInSubject(userId, meta.occurredAt), ip, aad.ip('log_1')), userAgent: await cipher.encryptText(signInSubject(userId, meta.occurredAt), 'Mozilla/5.0 marker', aad.userAgent('log_1')) },
  };
  const webhooks = [{ id: 'wh_1', tenantId: 'ten_1', mode: 'live' as const, url: 'https://hooks.example.com/', events: webhookEventNames, status: 'active' as const }];
  const planned = [...planDeliveries(webhooks, added, { enrolment, now: t0 }), ...planDeliveries(webhooks, signIn, { enrolment, now: t0 })];
  t.deepEqual(planned.map((d) => d.event), ['face.registered', 'template.created', 'face.verified']);
  await queue.enqueue(planned, 12n);

  const dump = (await sql<{ row: string }>`select d::text as row from webhooks.deliveries d`.execute(db)).rows.map((r) => r.row).join('\n');
  t.true(dump.includes(userId));
  for (const secret of [email, ip, descriptorMarker, 'Mozilla']) t.false(dump.includes(secret), `${secret} is not in the queue`);

  const decrypt = async (subject: string, sealed: string, recordAad: string) => {
    const opened = await cipher.decryptText(subject, sealed, recordAad);
    return isErased(opened) ? null : opened;
  };
  const verified = (await queue.find(planned[2]!.id))!;
  const before = await buildWebhookBody({ webhookId: 'wh_1', name: verified.event, source: verified.source, decrypt });
  t.like(before.data, { email, ipAddress: ip, similarity: 0.8 });
  t.is(before.id, planned[2]!.id);
  await keys.destroy(userId);
  const after = await buildWebhookBody({ webhookId: 'wh_1', name: verified.event, source: verified.source, decrypt });
  t.like(after.data, { email: null, ipAddress: null, similarity: 0.8 });
  t.is(after.id, before.id);
});
