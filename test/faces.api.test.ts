import test from 'ava';
import { eventsThrough } from './support/events.ts';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService, type RunningService } from './support/service.ts';

const random = seededRandom(42);
let running: RunningService;
let api: ReturnType<typeof client>;

test.before(async () => {
  running = await startService();
  api = client(running.baseUrl, { 'user-agent': 'facesmash-tests/1.0', ...running.auth });
});

test.after.always(async () => {
  await running?.stop();
});

const head = () => running.service.store.headPosition();

test.serial('register creates a user, answers the contract fields and a request id', async (t) => {
  const descriptor = randomVector(random);
  const response = await api.post('/v1/faces/register', { email: 'Ada.Lovelace@Example.com', descriptor, qualityScore: 0.92, lightingConditions: { brightness: 120, contrast: 40 } });
  t.is(response.status, 201);
  t.true(response.body.success);
  const data = response.body.data;
  t.deepEqual(Object.keys(data).sort(), ['createdAt', 'email', 'qualityScore', 'templateId', 'userId']);
  t.regex(data.userId, /^usr_[0-9a-f]{32}$/);
  t.regex(data.templateId, /^tpl_[0-9a-f]{32}$/);
  t.is(data.email, 'Ada.Lovelace@Example.com');
  t.is(data.qualityScore, 0.92);
  t.false(Number.isNaN(Date.parse(data.createdAt)));
  t.is(response.headers.get('x-request-id'), response.body.meta.requestId);

  // The same email (any case) adds a template to the same user.
  const second = await api.post('/v1/faces/register', { email: 'ada.lovelace@example.com', descriptor: atDistance(descriptor, 0.2, random), qualityScore: 0.7 });
  t.is(second.status, 201);
  t.is(second.body.data.userId, data.userId);
  t.not(second.body.data.templateId, data.templateId);

  const templates = await api.get(`/v1/faces/templates/${data.userId}`);
  t.is(templates.status, 200);
  t.is(templates.body.data.totalTemplates, 2);
  t.is(templates.body.data.maxTemplates, 10);
  t.deepEqual(
    templates.body.data.templates.map((tpl: { id: string; qualityScore: number; usageCount: number; lastUsed: unknown }) => [tpl.id, tpl.qualityScore, tpl.usageCount, tpl.lastUsed]),
    [
      [data.templateId, 0.92, 0, null],
      [second.body.data.templateId, 0.7, 0, null],
    ],
  );
});

test.serial('register refuses a face that belongs to another user, and appends nothing', async (t) => {
  const face = randomVector(random);
  const first = await api.post('/v1/faces/register', { email: 'grace@example.com', descriptor: face });
  t.is(first.status, 201);
  const before = await head();
  const duplicate = await api.post('/v1/faces/register', { email: 'impostor@example.com', descriptor: atDistance(face, 0.1, random) });
  t.is(duplicate.status, 409);
  t.is(duplicate.body.error.code, 'DUPLICATE_FACE');
  t.is(duplicate.body.error.details.matchedUserId, first.body.data.userId);
  t.is(await head(), before);
  t.regex(duplicate.body.error.message, new RegExp(`user ${first.body.data.userId} \\(similarity 0\\.9`));
  t.is(duplicate.body.error.details.duplicateThreshold, 0.45, 'by default the match threshold');
  // Just below the duplicate threshold (the match threshold, 0.45) is a different person to the API.
  const near = await api.post('/v1/faces/register', { email: 'sibling@example.com', descriptor: atDistance(face, 0.6, random) });
  t.is(near.status, 201);
});

test.serial('verify matches the user by their best template, adapts the threshold, and logs every attempt', async (t) => {
  const face = randomVector(random);
  const registered = await api.post('/v1/faces/register', { email: 'alan@example.com', descriptor: face, qualityScore: 0.8 });
  const userId = registered.body.data.userId;
  const other = await api.post('/v1/faces/register', { email: 'alan@example.com', descriptor: atDistance(face, 0.35, random), qualityScore: 0.6 });

  const match = await api.post('/v1/faces/verify', { userId, descriptor: atDistance(face, 0.3, random) });
  t.is(match.status, 200);
  t.deepEqual(Object.keys(match.body.data).sort(), ['adaptedThreshold', 'isMatch', 'matchedTemplate', 'similarity', 'user']);
  t.true(match.body.data.isMatch);
  t.is(match.body.data.similarity, 0.7);
  t.is(match.body.data.adaptedThreshold, 0.45);
  t.is(match.body.data.matchedTemplate, registered.body.data.templateId);
  t.deepEqual(match.body.data.user, { id: userId, email: 'alan@example.com' });

  const dim = await api.post('/v1/faces/verify', { userId, descriptor: atDistance(face, 0.58, random), lightingScore: 0.2 });
  t.is(dim.body.data.adaptedThreshold, 0.4);
  t.true(dim.body.data.isMatch, 'similarity 0.42 passes the lowered threshold');
  const strict = await api.post('/v1/faces/verify', { userId, descriptor: atDistance(face, 0.3, random), threshold: 0.8, lightingScore: 0.9 });
  t.is(strict.body.data.adaptedThreshold, 0.8);
  t.false(strict.body.data.isMatch);
  const stranger = await api.post('/v1/faces/verify', { userId, descriptor: randomVector(random) });
  t.false(stranger.body.data.isMatch);
  t.is(stranger.body.data.similarity, 0);

  const user = await api.get(`/v1/users/${userId}`);
  t.is(user.status, 200);
  t.like(user.body.data, { id: userId, email: 'alan@example.com', loginCount: 4, successfulLogins: 2, failedLogins: 2, successRate: 0.5, confidenceThreshold: 0.45, templateCount: 2, avgQualityScore: 0.7 });
  t.false(Number.isNaN(Date.parse(user.body.data.lastLogin)));
  const templates = await api.get(`/v1/faces/templates/${userId}`);
  const used = templates.body.data.templates.find((tpl: { id: string }) => tpl.id === registered.body.data.templateId);
  t.is(used.usageCount, 2);
  t.truthy(used.lastUsed);
  t.is(templates.body.data.templates.find((tpl: { id: string }) => tpl.id === other.body.data.templateId).usageCount, 0);

  const logs = await api.get(`/v1/users/${userId}/logs?perPage=3`);
  t.is(logs.status, 200);
  t.is(logs.body.data.totalItems, 4);
  t.is(logs.body.data.totalPages, 2);
  t.is(logs.body.data.logs.length, 3);
  const newest = logs.body.data.logs[0];
  t.deepEqual(Object.keys(newest).sort(), ['confidence', 'createdAt', 'id', 'ipAddress', 'success', 'userAgent']);
  t.regex(newest.id, /^log_[0-9a-f]{32}$/);
  t.is(newest.success, false);
  t.is(newest.confidence, 0);
  t.is(newest.userAgent, 'facesmash-tests/1.0');
  t.regex(newest.ipAddress, /127\.0\.0\.1/);
  const failures = await api.get(`/v1/users/${userId}/logs?success=false`);
  t.deepEqual(failures.body.data.logs.map((log: { success: boolean }) => log.success), [false, false]);
  const pageTwo = await api.get(`/v1/users/${userId}/logs?perPage=3&page=2`);
  t.is(pageTwo.body.data.logs.length, 1);
  t.is(pageTwo.body.data.logs[0].confidence, 0.7, 'oldest last');
});

test.serial('verify of an unknown or malformed user id', async (t) => {
  const unknown = await api.post('/v1/faces/verify', { userId: `usr_${'0'.repeat(32)}`, descriptor: randomVector(random) });
  t.is(unknown.status, 404);
  t.is(unknown.body.error.code, 'NOT_FOUND');
  const malformed = await api.post('/v1/faces/verify', { userId: 'bob', descriptor: randomVector(random) });
  t.is(malformed.status, 400);
  t.is(malformed.body.error.details.field, 'userId');
});

/** A tenant's own duplicate threshold (null: the match threshold), as PATCH /admin/tenants/:id sets it. */
async function setDuplicateThreshold(duplicateThreshold: number | null) {
  await running.service.tenants.changeSettings(running.tenantId, { settings: { duplicateThreshold } }, 'test');
  running.service.auth.forget();
}

test.serial('identify returns the best template of each user, best first, only at or over the threshold', async (t) => {
  // This gallery holds different users closer than the match threshold on purpose.
  await setDuplicateThreshold(0.75);
  t.teardown(() => setDuplicateThreshold(null));
  const face = randomVector(random);
  const near = await api.post('/v1/faces/register', { email: 'near@example.com', descriptor: atDistance(face, 0.2, random) });
  await api.post('/v1/faces/register', { email: 'near@example.com', descriptor: atDistance(face, 0.45, random) });
  const mid = await api.post('/v1/faces/register', { email: 'mid@example.com', descriptor: atDistance(face, 0.4, random) });
  const far = await api.post('/v1/faces/register', { email: 'far@example.com', descriptor: atDistance(face, 0.58, random) });
  t.is(far.status, 201);

  const one = await api.post('/v1/faces/identify', { descriptor: face });
  t.is(one.status, 200);
  t.deepEqual(Object.keys(one.body.data).sort(), ['adaptedThreshold', 'estimatedFalseIdentificationRate', 'matches', 'processingTimeMs', 'totalCompared']);
  t.is(one.body.data.adaptedThreshold, 0.45);
  t.is(one.body.data.matches.length, 1);
  t.like(one.body.data.matches[0], { userId: near.body.data.userId, email: 'near@example.com', similarity: 0.8, templateId: near.body.data.templateId });
  t.is(one.body.data.totalCompared, running.service.matcher.size({ tenantId: running.tenantId, mode: 'live' }));
  t.true(one.body.data.processingTimeMs >= 0);

  const many = await api.post('/v1/faces/identify', { descriptor: face, maxResults: 50 });
  t.deepEqual(many.body.data.matches.map((m: { email: string; similarity: number }) => [m.email, m.similarity]), [
    ['near@example.com', 0.8],
    ['mid@example.com', 0.6],
  ], 'far (0.42) is under the 0.45 threshold; near appears once, by its best template');
  const dim = await api.post('/v1/faces/identify', { descriptor: face, maxResults: 5, lightingScore: 0.1 });
  t.deepEqual(dim.body.data.matches.map((m: { email: string }) => m.email), ['near@example.com', 'mid@example.com', 'far@example.com']);
  const strict = await api.post('/v1/faces/identify', { descriptor: face, maxResults: 5, threshold: 0.7 });
  t.deepEqual(strict.body.data.matches.map((m: { email: string }) => m.email), ['near@example.com']);

  const logs = await api.get(`/v1/users/${near.body.data.userId}/logs`);
  t.is(logs.body.data.totalItems, 4, 'each identify with a match is a sign-in of the best user');
});

test.serial("an identify without a candidate is recorded against the tenant and mode, in the day's stream of misses, not a user", async (t) => {
  const before = await head();
  const miss = await api.post('/v1/faces/identify', { descriptor: randomVector(random) });
  t.is(miss.status, 200);
  t.deepEqual(miss.body.data.matches, []);
  const events = await eventsThrough(running.service.store, before, BigInt(miss.headers.get('x-position')!));
  t.deepEqual(events.map((e) => [e.type, e.streamName]), [['IdentifyMissed', `misses-${running.tenantId}-live-${new Date().toISOString().slice(0, 10)}`]]);
  t.is(miss.headers.get('x-position'), events[0]!.position.toString());
  t.false(JSON.stringify(events[0]!.data).includes('127.0.0.1'));
});

test.serial('templates beyond maxTemplates evict the lowest quality; a template can be deleted', async (t) => {
  const face = randomVector(random);
  const qualities = [0.5, 0.9, 0.3, 0.8, 0.7, 0.6, 0.95, 0.85, 0.75, 0.65, 0.55];
  const ids: string[] = [];
  let userId = '';
  for (const [i, q] of qualities.entries()) {
    const response = await api.post('/v1/faces/register', { email: 'many@example.com', descriptor: atDistance(face, 0.05 + i * 0.01, random), qualityScore: q });
    t.is(response.status, 201);
    userId = response.body.data.userId;
    ids.push(response.body.data.templateId);
  }
  const templates = await api.get(`/v1/faces/templates/${userId}`);
  t.is(templates.body.data.totalTemplates, 10);
  t.false(templates.body.data.templates.some((tpl: { id: string }) => tpl.id === ids[2]), 'the 0.3 template was evicted');

  const removed = await api.delete(`/v1/faces/templates/${ids[0]}`);
  t.is(removed.status, 200);
  t.deepEqual(removed.body.data, { deleted: true, templateId: ids[0] });
  t.is((await api.get(`/v1/faces/templates/${userId}`)).body.data.totalTemplates, 9);
  const again = await api.delete(`/v1/faces/templates/${ids[0]}`);
  t.is(again.status, 404);
  t.is(again.body.error.code, 'NOT_FOUND');
  t.is((await api.delete('/v1/faces/templates/tpl_nope')).status, 400);
  t.is((await api.get(`/v1/faces/templates/usr_${'f'.repeat(32)}`)).status, 404);
});

test.serial('Idempotency-Key: a retry returns the first response and appends nothing; another body conflicts', async (t) => {
  const body = { email: 'idem@example.com', descriptor: randomVector(random) };
  const first = await api.post('/v1/faces/register', body, { 'idempotency-key': 'register-idem-1' });
  t.is(first.status, 201);
  const before = await head();
  const retry = await api.post('/v1/faces/register', body, { 'idempotency-key': 'register-idem-1' });
  t.is(retry.status, 201);
  t.deepEqual(retry.body.data, first.body.data);
  t.is(retry.headers.get('idempotent-replayed'), 'true');
  t.not(retry.body.meta.requestId, first.body.meta.requestId);
  t.is(await head(), before, 'no new event');
  const conflict = await api.post('/v1/faces/register', { ...body, qualityScore: 0.1 }, { 'idempotency-key': 'register-idem-1' });
  t.is(conflict.status, 409);
  t.is(conflict.body.error.code, 'IDEMPOTENCY_CONFLICT');
  const bad = await api.post('/v1/faces/register', body, { 'idempotency-key': 'x'.repeat(300) });
  t.is(bad.status, 400);
  t.is(bad.body.error.details.field, 'Idempotency-Key');
  // A failed request stores nothing: the same key can be used once the input is right.
  const invalid = await api.post('/v1/faces/identify', { descriptor: [1] }, { 'idempotency-key': 'identify-1' });
  t.is(invalid.status, 400);
  const valid = await api.post('/v1/faces/identify', { descriptor: body.descriptor }, { 'idempotency-key': 'identify-1' });
  t.is(valid.status, 200);
  t.is(valid.body.data.matches[0].email, 'idem@example.com');
});

const badInputs: Array<[string, string, unknown, number, string, RegExp?]> = [
  ['a descriptor of the wrong length', '/v1/faces/register', { email: 'x@example.com', descriptor: [0.1, 0.2] }, 400, 'descriptor', /exactly 128/],
  ['a descriptor with a string', '/v1/faces/identify', { descriptor: [...Array(127).fill(0.1), 'NaN'] }, 400, 'descriptor[127]'],
  ['a descriptor with null', '/v1/faces/identify', { descriptor: [null, ...Array(127).fill(0.1)] }, 400, 'descriptor[0]'],
  ['a descriptor that is a string', '/v1/faces/identify', { descriptor: 'abc' }, 400, 'descriptor'],
  ['a huge descriptor array', '/v1/faces/identify', { descriptor: Array(100_000).fill(0.5) }, 400, 'descriptor'],
  ['a missing email', '/v1/faces/register', { descriptor: Array(128).fill(0.1) }, 400, 'email'],
  ['a malformed email', '/v1/faces/register', { email: 'not-an-email', descriptor: Array(128).fill(0.1) }, 400, 'email'],
  ['neither descriptor nor image', '/v1/faces/identify', {}, 400, 'descriptor', /descriptor or image is required/],
  ['both descriptor and image', '/v1/faces/identify', { descriptor: Array(128).fill(0.1), image: 'abc' }, 400, 'image'],
  ['an unknown field', '/v1/faces/identify', { descriptor: Array(128).fill(0.1), extra: true }, 400, 'extra', /unknown field "extra"/],
  ['maxResults over 50', '/v1/faces/identify', { descriptor: Array(128).fill(0.1), maxResults: 51 }, 400, 'maxResults'],
  ['a fractional maxResults', '/v1/faces/identify', { descriptor: Array(128).fill(0.1), maxResults: 1.5 }, 400, 'maxResults'],
  ['a threshold under 0.35', '/v1/faces/verify', { userId: `usr_${'a'.repeat(32)}`, descriptor: Array(128).fill(0.1), threshold: 0.1 }, 400, 'threshold'],
  ['a lightingScore over 1', '/v1/faces/identify', { descriptor: Array(128).fill(0.1), lightingScore: 2 }, 400, 'lightingScore'],
  ['a qualityScore under 0', '/v1/faces/register', { email: 'q@example.com', descriptor: Array(128).fill(0.1), qualityScore: -0.1 }, 400, 'qualityScore'],
  ['a body that is an array', '/v1/faces/identify', [1, 2, 3], 400, 'body'],
  ['an image that is not valid base64', '/v1/faces/identify', { image: 'data:image/png;base64,@@@@' }, 400, 'image'],
];

for (const [what, path, body, status, field, message] of badInputs) {
  test.serial(`${path.split('/').at(-1)} refuses ${what} with the envelope and appends nothing`, async (t) => {
    const before = await head();
    const response = await api.post(path, body);
    t.is(response.status, status);
    t.false(response.body.success);
    t.is(response.body.error.code, 'VALIDATION_ERROR');
    t.is(response.body.error.details.field, field);
    t.true(response.body.error.message.startsWith(`${field}: `));
    if (message) t.regex(response.body.error.message, message);
    t.is(response.headers.get('x-request-id'), response.body.meta.requestId);
    t.is(await head(), before);
  });
}

test.serial('numbers JSON cannot carry, malformed JSON, wrong media types, empty and oversized bodies', async (t) => {
  const before = await head();
  const infinity = await api.post('/v1/faces/identify', `{"descriptor":[1e999${',0.1'.repeat(127)}]}`);
  t.is(infinity.status, 400);
  t.is(infinity.body.error.details.field, 'descriptor[0]');
  const nan = await api.post('/v1/faces/identify', `{"descriptor":[NaN${',0.1'.repeat(127)}]}`);
  t.is(nan.status, 400);
  t.is(nan.body.error.details.field, 'body');
  t.regex(nan.body.error.message, /not valid JSON/);
  const truncated = await api.post('/v1/faces/register', '{"email": "a@b.c", "descr');
  t.is(truncated.status, 400);
  const text = await api.post('/v1/faces/identify', 'descriptor=1', { 'content-type': 'text/plain' });
  t.is(text.status, 415);
  t.is(text.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
  const empty = await api.post('/v1/faces/identify', '', { 'content-type': 'application/json' });
  t.is(empty.status, 400);
  const descriptorTooBig = await api.post('/v1/faces/identify', { descriptor: Array(128).fill(0.1), pad: 'x'.repeat(1_100_000) });
  t.is(descriptorTooBig.status, 413);
  t.is(descriptorTooBig.body.error.code, 'PAYLOAD_TOO_LARGE');
  const hugeImage = await api.post('/v1/faces/identify', { image: 'A'.repeat(9 * 1024 * 1024) });
  t.is(hugeImage.status, 413);
  t.is(await head(), before);
  t.is((await api.get('/healthz')).status, 200, 'the process is fine');
});
