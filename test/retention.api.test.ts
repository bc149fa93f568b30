import test from 'ava';
import { isErased } from '../src/crypto/fieldCipher.ts';
import { signInStream } from '../src/ids/streams.ts';
import { aad, signInSubject, type SignInAttempted } from '../src/users/userEvents.ts';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService } from './support/service.ts';

test('retention prunes old sign-in logs, shreds their IPs month by month, and erases inactive users with receipts', async (t) => {
  let now = Date.parse('2026-01-10T12:00:00Z');
  const adminToken = 'retention-admin-token-012345678';
  const running = await startService({ ADMIN_TOKEN: adminToken }, { clock: () => new Date(now) });
  const api = client(running.baseUrl, { ...running.auth, 'user-agent': 'retention-test' });
  const random = seededRandom(3);
  try {
    const patched = await client(running.baseUrl, { authorization: `Bearer ${adminToken}` }).call('PATCH', `/admin/tenants/${running.tenantId}`, {
      settings: { logRetentionDays: 30, inactiveUserErasureMonths: 2 },
    });
    t.is(patched.status, 200);
    const faceA = randomVector(random);
    const a = (await api.post('/v1/faces/register', { email: 'active@example.com', descriptor: faceA })).body.data.userId;
    const b = (await api.post('/v1/faces/register', { email: 'idle@example.com', descriptor: randomVector(random) })).body.data.userId;
    await api.post('/v1/faces/verify', { userId: a, descriptor: atDistance(faceA, 0.1, random) });

    now = Date.parse('2026-02-20T12:00:00Z');
    await api.post('/v1/faces/verify', { userId: a, descriptor: atDistance(faceA, 0.1, random) });
    const first = await running.service.applyRetention();
    t.like(first, { logsPruned: 1, monthKeysDestroyed: 0, usersErased: 0 });
    const logs = (await api.get(`/v1/users/${a}/logs`)).body.data;
    t.is(logs.totalItems, 1, 'the January log is gone from the read model');
    t.is(logs.logs[0].createdAt, '2026-02-20T12:00:00.000Z');
    t.is(logs.logs[0].ipAddress !== null, true);
    t.like((await api.get(`/v1/users/${a}`)).body.data, { loginCount: 2 }, 'counters keep the facts');

    // The sealed January IP is still in the event store until January's key goes.
    // Sign-ins are in the user's monthly streams.
    const monthly = [...(await running.service.store.readStream(signInStream(a, '2026-01-01'))), ...(await running.service.store.readStream(signInStream(a, '2026-02-01')))];
    const signIns = monthly.filter((e) => e.type === 'SignInAttempted') as unknown as Array<{ data: SignInAttempted['data']; metadata: { occurredAt: string } }>;
    const january = signIns[0]!;
    const openJanuaryIp = () => running.service.cipher.decryptText(signInSubject(a, january.metadata.occurredAt), january.data.ip!, aad.ip(january.data.logId));
    t.false(isErased(await openJanuaryIp()));

    now = Date.parse('2026-03-15T12:00:00Z');
    const second = await running.service.applyRetention();
    t.true(second.monthKeysDestroyed >= 1);
    t.is(second.usersErased, 1, 'the user idle since January is erased');
    t.true(isErased(await openJanuaryIp()), 'January IPs are unreadable everywhere, events included');
    const february = signIns[1]!;
    t.false(isErased(await running.service.cipher.decryptText(signInSubject(a, february.metadata.occurredAt), february.data.ip!, aad.ip(february.data.logId))));

    t.is((await api.get(`/v1/users/${b}`)).status, 404);
    t.is((await api.get(`/v1/users/${a}`)).status, 200, 'a user who signed in within the window stays');
    const receipts = (await api.get('/v1/erasures')).body.data;
    t.is(receipts.receipts[0].userId, b);
    t.true(receipts.chain.verified);
    const history = (await api.get(`/v1/users/${b}/history`)).body.data;
    t.like(history.events.at(-1), { type: 'UserErased', actorKeyId: 'retention', facts: { reason: 'retention' } });
    const tenantEvents = await running.service.store.readStream(`tenant-${running.tenantId}`);
    t.true(tenantEvents.some((e) => e.type === 'SignInLogsPruned'), 'pruning shows in the tenant history');

    const quiet = await running.service.applyRetention();
    t.like(quiet, { logsPruned: 0, usersErased: 0 }, 'a second run finds nothing more to do');
  } finally {
    await running.stop();
  }
});
