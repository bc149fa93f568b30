import test from 'ava';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { postgresUrl } from './support/databases.ts';
import { startService } from './support/service.ts';

const random = seededRandom(61);

test.serial('on one instance a write is seen at once: verify and identify right after register, and the reads of the user', async (t) => {
  const running = await startService();
  try {
    const api = client(running.baseUrl, running.auth);
    for (let i = 0; i < 5; i++) {
      const face = randomVector(random);
      const registered = await api.post('/v1/faces/register', { email: `rw${i}@example.com`, descriptor: face });
      t.is(registered.status, 201);
      t.regex(registered.headers.get('x-position') ?? '', /^\d+$/);
      const userId = registered.body.data.userId as string;
      // No position sent: the same instance knows its own writes.
      t.true((await api.post('/v1/faces/verify', { userId, descriptor: atDistance(face, 0.1, random) })).body.data.isMatch);
      t.is((await api.post('/v1/faces/identify', { descriptor: atDistance(face, 0.1, random) })).body.data.matches[0]?.userId, userId);
      t.is((await api.get(`/v1/users/${userId}`)).status, 200);
      t.is((await api.get(`/v1/faces/templates/${userId}`)).body.data.totalTemplates, 1);
      t.is((await api.get(`/v1/users/${userId}/logs`)).body.data.totalItems, 2, 'both sign-ins are in the logs');
    }
  } finally {
    await running.stop();
  }
});

test.serial('X-Read-After must be a position the store has reached', async (t) => {
  const running = await startService();
  try {
    const api = client(running.baseUrl, running.auth);
    const bad = await api.get('/v1/users', { 'x-read-after': 'yesterday' });
    t.is(bad.status, 400);
    t.is(bad.body.error.details.field, 'X-Read-After');
    const ahead = await api.get('/v1/users', { 'x-read-after': '999999999' });
    t.is(ahead.status, 400);
    t.regex(ahead.body.error.message, /beyond the event store's head/);
    const registered = await api.post('/v1/faces/register', { email: 'pos@example.com', descriptor: randomVector(random) });
    const read = await api.get('/v1/users?email=pos@example.com', { 'x-read-after': registered.headers.get('x-position')! });
    t.is(read.body.data.totalItems, 1);
  } finally {
    await running.stop();
  }
});

(postgresUrl ? test.serial : test.skip)('PostgreSQL, two instances: a read sent with the X-Position of a write made on the other instance sees it', async (t) => {
  const first = await startService({}, { store: 'postgres' });
  const second = await first.sibling();
  try {
    const writer = client(first.baseUrl, first.auth);
    const reader = client(second.baseUrl, second.auth);
    for (let i = 0; i < 5; i++) {
      const registered = await writer.post('/v1/faces/register', { email: `cross${i}@example.com`, descriptor: randomVector(random) });
      const position = registered.headers.get('x-position')!;
      const user = await reader.get(`/v1/users/${registered.body.data.userId}`, { 'x-read-after': position });
      t.is(user.status, 200, JSON.stringify(user.body));
      t.is(user.body.data.email, `cross${i}@example.com`);
    }
  } finally {
    await second.stop();
    await first.stop();
  }
});
