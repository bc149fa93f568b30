import test from 'ava';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService, type RunningService } from './support/service.ts';

const random = seededRandom(7);
let running: RunningService;
let api: ReturnType<typeof client>;
const registered: Array<{ userId: string; email: string; face: number[] }> = [];

test.before(async () => {
  running = await startService();
  api = client(running.baseUrl, running.auth);
  // Seven users, registered in order; the fourth signs in twice, the second once.
  for (let i = 0; i < 7; i++) {
    const face = randomVector(random);
    const email = `user${i}@example.com`;
    const response = await api.post('/v1/faces/register', { email, descriptor: face, qualityScore: 0.5 + i / 20 });
    if (response.status !== 201) throw new Error(`seed failed: ${JSON.stringify(response.body)}`);
    registered.push({ userId: response.body.data.userId, email, face });
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await api.post('/v1/faces/verify', { userId: registered[3]!.userId, descriptor: atDistance(registered[3]!.face, 0.2, random) });
  await new Promise((resolve) => setTimeout(resolve, 5));
  await api.post('/v1/faces/verify', { userId: registered[1]!.userId, descriptor: atDistance(registered[1]!.face, 0.2, random) });
  await api.post('/v1/faces/verify', { userId: registered[3]!.userId, descriptor: randomVector(random) });
});

test.after.always(async () => {
  await running?.stop();
});

const emails = (body: { data: { users: Array<{ email: string }> } }) => body.data.users.map((u) => u.email);

test.serial('users are listed newest first by default, with the contract fields and pagination totals', async (t) => {
  const response = await api.get('/v1/users?perPage=3');
  t.is(response.status, 200);
  t.deepEqual(emails(response.body), ['user6@example.com', 'user5@example.com', 'user4@example.com']);
  t.like(response.body.data, { totalItems: 7, page: 1, perPage: 3, totalPages: 3 });
  const first = response.body.data.users[0];
  t.deepEqual(Object.keys(first).sort(), ['createdAt', 'email', 'id', 'lastLogin', 'loginCount', 'successRate', 'templateCount']);
  t.like(first, { id: registered[6]!.userId, lastLogin: null, loginCount: 0, templateCount: 1, successRate: 0 });
});

test.serial('pagination edges: the last partial page, a page past the end, the largest page', async (t) => {
  const last = await api.get('/v1/users?perPage=3&page=3');
  t.deepEqual(emails(last.body), ['user0@example.com']);
  const past = await api.get('/v1/users?perPage=3&page=9');
  t.is(past.status, 200);
  t.deepEqual(past.body.data.users, []);
  t.like(past.body.data, { totalItems: 7, page: 9, totalPages: 3 });
  const all = await api.get('/v1/users?perPage=100&sort=createdAt');
  t.deepEqual(emails(all.body), registered.map((r) => r.email));
});

test.serial('sorting by last login puts users who never signed in last, both ways', async (t) => {
  const desc = await api.get('/v1/users?sort=-lastLogin&perPage=3');
  t.deepEqual(emails(desc.body).slice(0, 2), ['user1@example.com', 'user3@example.com']);
  t.is(desc.body.data.users[2].lastLogin, null);
  const asc = await api.get('/v1/users?sort=lastLogin&perPage=2');
  t.deepEqual(emails(asc.body), ['user3@example.com', 'user1@example.com']);
  const user3 = (await api.get(`/v1/users/${registered[3]!.userId}`)).body.data;
  t.like(user3, { loginCount: 2, successfulLogins: 1, failedLogins: 1, successRate: 0.5 });
});

test.serial('an exact email filter finds one user whatever the case, and no substring search exists', async (t) => {
  const exact = await api.get('/v1/users?email=USER4@Example.COM');
  t.deepEqual(emails(exact.body), ['user4@example.com']);
  t.is(exact.body.data.totalItems, 1);
  const partial = await api.get('/v1/users?email=user4@example.co');
  t.deepEqual(partial.body.data.users, []);
});

test.serial('bad list queries are refused naming the parameter', async (t) => {
  for (const [query, field] of [
    ['perPage=101', 'perPage'],
    ['perPage=0', 'perPage'],
    ['page=0', 'page'],
    ['page=abc', 'page'],
    ['page=1.5', 'page'],
    ['sort=email', 'sort'],
    ['email=nope', 'email'],
    ['colour=blue', 'colour'],
  ] as const) {
    const response = await api.get(`/v1/users?${query}`);
    t.is(response.status, 400, query);
    t.is(response.body.error.code, 'VALIDATION_ERROR');
    t.is(response.body.error.details.field, field, query);
  }
  const logs = await api.get(`/v1/users/${registered[0]!.userId}/logs?success=maybe`);
  t.is(logs.status, 400);
  t.is(logs.body.error.details.field, 'success');
});

test.serial('one user reads with every contract field; unknown and malformed ids', async (t) => {
  const response = await api.get(`/v1/users/${registered[2]!.userId}`);
  t.is(response.status, 200);
  t.deepEqual(Object.keys(response.body.data).sort(), [
    'avgQualityScore',
    'confidenceThreshold',
    'createdAt',
    'email',
    'failedLogins',
    'id',
    'lastLogin',
    'loginCount',
    'successRate',
    'successfulLogins',
    'templateCount',
  ]);
  t.like(response.body.data, { email: 'user2@example.com', avgQualityScore: 0.6, templateCount: 1, loginCount: 0 });
  t.is((await api.get(`/v1/users/usr_${'e'.repeat(32)}`)).status, 404);
  t.is((await api.get(`/v1/users/usr_${'e'.repeat(32)}/logs`)).status, 404);
  const malformed = await api.get('/v1/users/not-an-id');
  t.is(malformed.status, 400);
  t.is(malformed.body.error.details.field, 'id');
});

test.serial('erasing a user returns a receipt, and the user is gone from every read and from matching', async (t) => {
  const victim = registered[5]!;
  const before = await api.get(`/v1/users/${victim.userId}`);
  t.is(before.status, 200);
  await api.post('/v1/faces/verify', { userId: victim.userId, descriptor: atDistance(victim.face, 0.1, random) });
  const erased = await api.delete(`/v1/users/${victim.userId}`);
  t.is(erased.status, 200);
  const data = erased.body.data;
  t.like(data, { deleted: true, userId: victim.userId, deletedRecords: { profile: 1, templates: 1, signInLogs: 1 } });
  t.like(data.receipt, { userId: victim.userId, deletedRecords: { profile: 1, templates: 1, signInLogs: 1 } });
  t.regex(data.receipt.keyIdDestroyed, /^dk_/);
  t.regex(data.receipt.position, /^\d+$/);
  t.false(Number.isNaN(Date.parse(data.receipt.erasedAt)));

  t.is((await api.get(`/v1/users/${victim.userId}`)).status, 404);
  t.is((await api.get(`/v1/users/${victim.userId}/logs`)).status, 404);
  t.is((await api.get(`/v1/faces/templates/${victim.userId}`)).status, 404);
  t.is((await api.post('/v1/faces/verify', { userId: victim.userId, descriptor: victim.face })).status, 404);
  const identify = await api.post('/v1/faces/identify', { descriptor: victim.face, maxResults: 5 });
  t.deepEqual(identify.body.data.matches, []);
  t.false(emails((await api.get('/v1/users?perPage=100')).body).includes(victim.email));
  const again = await api.delete(`/v1/users/${victim.userId}`);
  t.is(again.status, 404);

  // The email is free again: registering it creates a new user.
  const back = await api.post('/v1/faces/register', { email: victim.email, descriptor: victim.face });
  t.is(back.status, 201);
  t.not(back.body.data.userId, victim.userId);
  const events = await running.service.store.readStream(`user-${victim.userId.slice(4, 12)}-${victim.userId.slice(12, 16)}-${victim.userId.slice(16, 20)}-${victim.userId.slice(20, 24)}-${victim.userId.slice(24)}`);
  t.is(events.at(-1)!.type, 'UserErased');
  t.false(JSON.stringify(events.at(-1)!.data).includes('@'), 'UserErased carries no personal data');
});
