import test from 'ava';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { postgresUrl } from './support/databases.ts';
import { startService } from './support/service.ts';

/** Runs `work` over `items` with at most `limit` at once; resolves with the results in order. */
async function pooled<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!, index);
      }
    }),
  );
  return results;
}

const users = 300;
const withSecondTemplate = 40;
const erased = 5;

for (const store of ['pglite', 'postgres'] as const) {
  const maybe = store === 'postgres' && !postgresUrl ? test.skip : test.serial;

  maybe(`${store}: after a restart on the same data, ${users} users with templates, sign-ins and erasures are all there and identify`, async (t) => {
    const random = seededRandom(store === 'pglite' ? 7 : 8);
    let running = await startService({}, { store });
    try {
      let api = client(running.baseUrl, { 'user-agent': 'restart-test/1.0', ...running.auth });
      const faces = Array.from({ length: users }, () => randomVector(random));
      const registered = await pooled(faces, 8, async (descriptor, i) => {
        const response = await api.post('/v1/faces/register', { email: `person${i}@example.com`, descriptor, qualityScore: 0.8 });
        t.is(response.status, 201, JSON.stringify(response.body));
        return response.body.data.userId as string;
      });
      await pooled(registered.slice(0, withSecondTemplate), 8, async (_userId, i) => {
        const response = await api.post('/v1/faces/register', { email: `person${i}@example.com`, descriptor: atDistance(faces[i]!, 0.15, random), qualityScore: 0.7 });
        t.is(response.status, 201);
      });
      // Sign-ins: a verify that matches and one that fails for some users, an identify for others.
      await pooled(registered.slice(0, 30), 8, async (userId, i) => {
        t.true((await api.post('/v1/faces/verify', { userId, descriptor: atDistance(faces[i]!, 0.1, random) })).body.data.isMatch);
        t.false((await api.post('/v1/faces/verify', { userId, descriptor: randomVector(random) })).body.data.isMatch);
      });
      await pooled(registered.slice(30, 60), 8, async (userId, i) => {
        const response = await api.post('/v1/faces/identify', { descriptor: atDistance(faces[30 + i]!, 0.1, random) });
        t.is(response.body.data.matches[0]?.userId, userId);
      });
      const erasedIds = registered.slice(users - erased);
      for (const userId of erasedIds) t.is((await api.delete(`/v1/users/${userId}`)).status, 200);

      running = await running.restart();
      api = client(running.baseUrl, { 'user-agent': 'restart-test/1.0', ...running.auth });

      // Ready once the face models have loaded (in the background) and the followers caught up.
      let ready = await api.get('/readyz');
      while (ready.status === 503 && ready.body.error.details.checks.every((check: { name: string; ok: boolean }) => check.ok || check.name === 'models')) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        ready = await api.get('/readyz');
      }
      t.is(ready.status, 200, JSON.stringify(ready.body));
      // The shutdown wrote the gallery image (after the erasures, which destroyed any earlier one): the restart restored it.
      t.like(ready.body.data.checks.find((check: { name: string }) => check.name === 'matcher'), { loadedFrom: 'image' });
      const list = await api.get('/v1/users?perPage=100');
      t.is(list.body.data.totalItems, users - erased);
      t.is(running.service.matcher.size(), users - erased + withSecondTemplate);
      // Every remaining user identifies as themselves; no erased user identifies at all.
      await pooled(faces, 8, async (descriptor, i) => {
        const response = await api.post('/v1/faces/identify', { descriptor: atDistance(descriptor, 0.05, random) });
        t.is(response.status, 200);
        if (i >= users - erased) t.deepEqual(response.body.data.matches, [], `erased user ${i} must not identify`);
        else t.is(response.body.data.matches[0]?.userId, registered[i], `user ${i}`);
      });
      for (const [i, userId] of registered.slice(0, 30).entries()) {
        const user = await api.get(`/v1/users/${userId}`);
        // Two verifies before the restart, plus the identify of every user after it.
        t.is(user.body.data.loginCount, 3, `user ${i}`);
        t.is(user.body.data.successfulLogins, 2);
        t.is(user.body.data.templateCount, 2);
        const logs = await api.get(`/v1/users/${userId}/logs`);
        t.is(logs.body.data.totalItems, 3);
        t.is(logs.body.data.logs.find((log: { success: boolean }) => !log.success)?.userAgent, 'restart-test/1.0');
      }
      for (const userId of erasedIds) t.is((await api.get(`/v1/users/${userId}`)).status, 404);
      const receipts = await api.get('/v1/erasures');
      t.is(receipts.body.data.chain.length, erased);
      t.true(receipts.body.data.chain.verified);
      // And the service still takes writes after the restart.
      const late = await api.post('/v1/faces/register', { email: 'late@example.com', descriptor: randomVector(random) });
      t.is(late.status, 201);
    } finally {
      await running.stop();
    }
  });
}
