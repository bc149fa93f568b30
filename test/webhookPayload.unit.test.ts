import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { RecordedEvent } from '../src/eventStore/eventStore.ts';
import { userStream } from '../src/ids/streams.ts';
import { aad, signInSubject, type UserEvent } from '../src/users/userEvents.ts';
import { dispatchEvents, planDeliveries, type WebhookTarget } from '../src/webhooks/dispatcher.ts';
import { createMemoryDeliveryQueue } from '../src/webhooks/memoryDeliveryQueue.ts';
import { buildWebhookBody, describeDomainEvent, webhookEventId, webhookEventNames, type DecryptField } from '../src/webhooks/payload.ts';

const tenantId = '00000000-0000-4000-8000-00000000000a';
const userId = 'usr_0123456789abcdef0123456789abcdef';
const stream = userStream(userId);
const email = 'ada@example.com';
const ip = '203.0.113.7';

/** A stand-in for the field cipher: "sealed" values name their aad, and erased users open to null. */
function fakeCipher() {
  const erased = new Set<string>();
  const seal = (subject: string, plaintext: string, recordAad: string) => `fse1:${Buffer.from(JSON.stringify([subject, recordAad, plaintext])).toString('base64')}`;
  const decrypt: DecryptField = async (subject, sealed, recordAad) => {
    const [s, a, plaintext] = JSON.parse(Buffer.from(sealed.slice(5), 'base64').toString()) as [string, string, string];
    if (s !== subject || a !== recordAad) throw new Error('integrity');
    // A child subject (a user's sign-in month) is erased with its parent, as in the real key store.
    return erased.has(subject) || erased.has(subject.split('/')[0]!) ? null : plaintext;
  };
  return { seal, decrypt, erase: (subject: string) => erased.add(subject) };
}

const cipher = fakeCipher();
let position = 100n;

function recorded(event: UserEvent, revision: bigint, requestId = 'req_1', mode: 'live' | 'test' = 'live'): RecordedEvent {
  position += 1n;
  return {
    id: randomUUID(),
    type: event.type,
    data: event.data,
    metadata: { occurredAt: `2026-11-26T10:00:${String(Number(revision)).padStart(2, '0')}.000Z`, schemaVersion: 1, tenantId, mode, requestId },
    streamName: stream,
    revision,
    position,
    recordedAt: new Date(),
  };
}

const enrolled = recorded({ type: 'UserEnrolled', data: { userId, email: cipher.seal(userId, email, aad.email(userId)), emailIndex: 'idx' } }, 0n);
const firstTemplate = recorded(
  { type: 'FaceTemplateAdded', data: { userId, templateId: 'tpl_1', descriptor: 'fse1:DESCRIPTOR', quality: 0.91, lighting: null, source: 'descriptor', model: 'face-api' } },
  1n,
);
const laterTemplate = recorded(
  { type: 'FaceTemplateAdded', data: { userId, templateId: 'tpl_2', descriptor: 'fse1:DESCRIPTOR', quality: 0.8, lighting: null, source: 'image', model: 'face-api' } },
  2n,
  'req_2',
);
const signIn = (outcome: 'success' | 'failure', revision: bigint) =>
  recorded(
    {
      type: 'SignInAttempted',
      data: { userId, logId: `log_${revision}`, kind: 'verify', outcome, similarity: 0.72, threshold: 0.45, templateId: 'tpl_1', ip: cipher.seal(signInSubject(userId, "2026-11-26"), ip, aad.ip(`log_${revision}`)), userAgent: 'fse1:UA' },
    },
    revision,
    `req_${revision}`,
  );
const removed = recorded({ type: 'FaceTemplateRemoved', data: { userId, templateId: 'tpl_2', reason: 'evicted' } }, 5n, 'req_5');
const erased = recorded({ type: 'UserErased', data: { userId, emailIndex: 'idx', reason: 'api' } }, 6n, 'req_6');

test('domain events map to the contract webhook events', (t) => {
  t.deepEqual(describeDomainEvent(firstTemplate, enrolled)?.names, ['face.registered', 'template.created'], 'the template of an enrolment is a registration');
  t.deepEqual(describeDomainEvent(firstTemplate)?.names, ['template.created'], 'without the enrolment it cannot be told apart');
  t.deepEqual(describeDomainEvent(laterTemplate, enrolled)?.names, ['template.created'], 'a later template, another request');
  t.deepEqual(describeDomainEvent(signIn('success', 3n), enrolled)?.names, ['face.verified']);
  t.deepEqual(describeDomainEvent(signIn('failure', 4n), enrolled)?.names, ['face.failed']);
  t.deepEqual(describeDomainEvent(removed)?.names, ['template.deleted']);
  t.deepEqual(describeDomainEvent(erased)?.names, ['user.deleted']);
  t.is(describeDomainEvent(enrolled), undefined);
  t.is(describeDomainEvent({ ...erased, type: 'ApiKeyIssued', data: {} }), undefined);
});

test('bodies carry ids, email, similarity, quality and ip as they apply, and never a descriptor or user agent', async (t) => {
  const body = async (event: RecordedEvent, name: (typeof webhookEventNames)[number]) => {
    const described = describeDomainEvent(event, enrolled)!;
    t.false(JSON.stringify(described.source, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)).includes('DESCRIPTOR'), 'the source holds no descriptor');
    return buildWebhookBody({ webhookId: 'wh_a', name, source: described.source, decrypt: cipher.decrypt });
  };
  const registered = await body(firstTemplate, 'face.registered');
  t.deepEqual(registered, {
    id: webhookEventId('wh_a', firstTemplate.id, 'face.registered'),
    event: 'face.registered',
    createdAt: firstTemplate.metadata.occurredAt,
    data: { userId, email, templateId: 'tpl_1', qualityScore: 0.91 },
  });
  t.deepEqual((await body(firstTemplate, 'template.created')).data, { userId, templateId: 'tpl_1', qualityScore: 0.91, source: 'descriptor' });
  const verified = await body(signIn('success', 3n), 'face.verified');
  t.deepEqual(verified.data, { userId, email, logId: 'log_3', kind: 'verify', similarity: 0.72, threshold: 0.45, templateId: 'tpl_1', ipAddress: ip });
  t.deepEqual((await body(removed, 'template.deleted')).data, { userId, templateId: 'tpl_2', reason: 'evicted' });
  t.deepEqual((await body(erased, 'user.deleted')).data, { userId, reason: 'api' });
  for (const b of [registered, verified]) {
    t.false(JSON.stringify(b).includes('DESCRIPTOR'));
    t.false(JSON.stringify(b).includes('fse1:'));
  }
});

test('a body built after erasure carries no email and no ip', async (t) => {
  const local = fakeCipher();
  const source = describeDomainEvent(signIn('failure', 4n), { ...enrolled, data: { ...(enrolled.data as object), email: local.seal(userId, email, aad.email(userId)) } })!.source;
  const withIp = { ...source, event: { ...source.event, data: { ...source.event.data, ip: local.seal(signInSubject(userId, source.occurredAt), ip, aad.ip('log_4')) } } } as typeof source;
  t.is((await buildWebhookBody({ webhookId: 'wh_a', name: 'face.failed', source: withIp, decrypt: local.decrypt })).data.email, email);
  local.erase(userId);
  const after = await buildWebhookBody({ webhookId: 'wh_a', name: 'face.failed', source: withIp, decrypt: local.decrypt });
  t.is(after.data.email, null);
  t.is(after.data.ipAddress, null);
});

test('event ids are deterministic per webhook and domain event, and differ across webhooks and names', (t) => {
  const id = webhookEventId('wh_a', firstTemplate.id, 'template.created');
  t.regex(id, /^evt_[0-9a-f]{32}$/);
  t.is(webhookEventId('wh_a', firstTemplate.id, 'template.created'), id);
  t.not(webhookEventId('wh_b', firstTemplate.id, 'template.created'), id);
  t.not(webhookEventId('wh_a', firstTemplate.id, 'face.registered'), id);
  t.not(webhookEventId('wh_a', laterTemplate.id, 'template.created'), id);
});

const hook = (id: string, events: WebhookTarget['events'], extra: Partial<WebhookTarget> = {}): WebhookTarget => ({
  id,
  tenantId,
  mode: 'live',
  events,
  ...extra,
});

test('planDeliveries creates one delivery per subscribed webhook of the event tenant and mode', (t) => {
  const now = new Date('2026-11-26T11:00:00.000Z');
  const webhooks = [
    hook('wh_all', webhookEventNames),
    hook('wh_templates', ['template.created']),
    hook('wh_failing', ['face.registered']),
    hook('wh_other_tenant', webhookEventNames, { tenantId: '00000000-0000-4000-8000-00000000000b' }),
    hook('wh_test_mode', webhookEventNames, { mode: 'test' }),
  ];
  const planned = planDeliveries(webhooks, firstTemplate, { enrolment: enrolled, now });
  t.deepEqual(
    planned.map((d) => [d.webhookId, d.event, d.ordinal]),
    [
      ['wh_all', 'face.registered', 0],
      ['wh_all', 'template.created', 1],
      ['wh_templates', 'template.created', 1],
      ['wh_failing', 'face.registered', 0],
    ],
  );
  for (const d of planned) {
    t.is(d.id, webhookEventId(d.webhookId, firstTemplate.id, d.event));
    t.is(d.userId, userId);
    t.is(d.position, firstTemplate.position);
    t.deepEqual(d.createdAt, now);
  }
  t.deepEqual(planDeliveries(webhooks, enrolled, { now }), []);
});

test('dispatchEvents plans a batch, finds the enrolment in the batch or asks for it, and moves the checkpoint', async (t) => {
  const queue = createMemoryDeliveryQueue();
  const asked: string[] = [];
  const deps = {
    queue,
    directory: new Map([['wh_all', hook('wh_all', webhookEventNames)]]),
    enrolmentOf: async (name: string) => {
      asked.push(name);
      return enrolled;
    },
    now: () => new Date('2026-11-26T11:00:00.000Z'),
  };
  const batch = [enrolled, firstTemplate, signIn('success', 3n)];
  t.deepEqual(await dispatchEvents(batch, deps), { inserted: 3, persisted: true });
  t.deepEqual(asked, [], 'the enrolment was in the batch');
  t.is(await queue.checkpoint(), batch[2]!.position);
  t.deepEqual(await dispatchEvents([enrolled, firstTemplate], deps), { inserted: 0, persisted: true }, 'a replay stores nothing twice');
  t.is(await queue.checkpoint(), batch[2]!.position, 'and never moves the checkpoint back');
  t.deepEqual(await dispatchEvents([signIn('failure', 4n)], deps), { inserted: 1, persisted: true });
  t.deepEqual(asked, [stream]);
  const claimed = await queue.claimDue(new Date('2026-11-26T11:00:00.000Z'), { limit: 10, leaseMs: 1000 });
  t.deepEqual(claimed.map((d) => d.event), ['face.registered'], 'one user: one delivery at a time, in order');
});

test('dispatchEvents plans each event against the webhooks as they were right before it, and stores the changes with the checkpoint', async (t) => {
  const queue = createMemoryDeliveryQueue();
  const directory = new Map<string, WebhookTarget>();
  const deps = { queue, directory, enrolmentOf: async () => enrolled, now: () => new Date('2026-11-26T11:00:00.000Z') };
  const at = (position: bigint, type: string, data: Record<string, unknown>) =>
    ({ ...firstTemplate, id: `00000000-0000-4000-8000-0000000000${String(position).padStart(2, '0')}`, type, data, position, streamName: `tenant-${tenantId}` }) as typeof firstTemplate;
  const failedAt = (position: bigint) => ({ ...signIn('failure', position), position });
  const registration = at(10n, 'WebhookRegistered', { webhookId: 'wh_new', tenantId, mode: 'live', url: 'https://hooks.example.com/new', events: ['face.failed'], secret: 'fse1:x' });
  const removal = at(12n, 'WebhookRemoved', { webhookId: 'wh_new', tenantId });
  // Before the registration, between it and the removal, after the removal.
  const result = await dispatchEvents([failedAt(9n), registration, failedAt(11n), removal, failedAt(13n)], deps);
  t.deepEqual(result, { inserted: 1, persisted: true });
  const claimed = await queue.claimDue(new Date('2026-11-26T11:00:00.000Z'), { limit: 10, leaseMs: 1000 });
  t.deepEqual(claimed.map((d) => [d.webhookId, d.position]), [['wh_new', 11n]]);
  t.deepEqual(await queue.targets(), [], 'registered, then removed: nothing stays');
  await dispatchEvents([registration], deps);
  t.deepEqual((await queue.targets()).map((target) => target.id), ['wh_new']);
  t.deepEqual([...directory.keys()], ['wh_new']);
  t.deepEqual(await dispatchEvents([failedAt(20n)], { ...deps, directory: new Map() }, { persistIdleCheckpoint: false }), { inserted: 0, persisted: false }, 'nothing to plan: nothing stored');
});
