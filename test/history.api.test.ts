import test from 'ava';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService } from './support/service.ts';

const pause = (ms = 25) => new Promise((resolve) => setTimeout(resolve, ms));

test('history and decision replay answer as of a moment, before and after template changes and erasure', async (t) => {
  const adminToken = 'history-admin-token-0123456789';
  const running = await startService({ ADMIN_TOKEN: adminToken });
  const api = client(running.baseUrl, running.auth);
  const admin = client(running.baseUrl, { authorization: `Bearer ${adminToken}` });
  const random = seededRandom(12);
  try {
    const face = randomVector(random);
    const registered = await api.post('/v1/faces/register', { email: 'history@example.com', descriptor: face, qualityScore: 0.9 });
    const { userId, templateId: first } = registered.body.data;
    await api.post('/v1/faces/verify', { userId, descriptor: atDistance(face, 0.1, random) });
    await pause();
    const t1 = new Date().toISOString();
    await pause();

    const later = atDistance(face, 0.6, random);
    const second = (await api.post('/v1/faces/register', { email: 'history@example.com', descriptor: later, qualityScore: 0.7 })).body.data.templateId;
    await api.delete(`/v1/faces/templates/${first}`);
    await admin.call('PATCH', `/admin/tenants/${running.tenantId}`, { settings: { matchThreshold: 0.5 } });
    await api.post('/v1/faces/verify', { userId, descriptor: atDistance(face, 0.1, random) });
    await pause();
    const t2 = new Date().toISOString();

    const history = await api.get(`/v1/users/${userId}/history`);
    t.is(history.status, 200);
    t.is(history.body.data.status, 'active');
    t.deepEqual(history.body.data.events.map((e: { type: string }) => e.type), [
      'UserEnrolled',
      'FaceTemplateAdded',
      'SignInAttempted',
      'FaceTemplateAdded',
      'FaceTemplateRemoved',
      'SignInAttempted',
    ]);
    const [enrolled, added, signIn] = history.body.data.events;
    t.is(enrolled.requestId, registered.body.meta.requestId);
    t.regex(enrolled.actorKeyId, /^key_/);
    t.deepEqual(enrolled.facts, {}, 'no email in the history');
    t.like(added.facts, { templateId: first, quality: 0.9, source: 'descriptor' });
    t.like(signIn.facts, { kind: 'verify', outcome: 'success', threshold: 0.45 });
    t.false(JSON.stringify(history.body.data).includes('history@example.com'));
    t.false(JSON.stringify(history.body.data).includes('fse1:'));

    const atT1 = (await api.get(`/v1/users/${userId}/history?at=${t1}`)).body.data;
    t.is(atT1.events.length, 3);
    t.like(atT1.stateAt, { status: 'active', counters: { loginCount: 1, successfulLogins: 1, failedLogins: 0 }, thresholds: { matchThreshold: 0.45 } });
    t.deepEqual(atT1.stateAt.templates.map((x: { templateId: string }) => x.templateId), [first]);
    const atT2 = (await api.get(`/v1/users/${userId}/history?at=${t2}`)).body.data;
    t.deepEqual(atT2.stateAt.templates.map((x: { templateId: string }) => x.templateId), [second]);
    t.like(atT2.stateAt, { counters: { loginCount: 2, successfulLogins: 1, failedLogins: 1 }, thresholds: { matchThreshold: 0.5 } });
    const beforeAll = (await api.get(`/v1/users/${userId}/history?at=2020-01-01T00:00:00Z`)).body.data;
    t.like(beforeAll.stateAt, { status: 'absent', templates: [] });

    // Would this face have matched then? Yes, by the first template; now it no longer does.
    const query = atDistance(face, 0.1, random);
    const then = await api.post('/v1/faces/identify', { descriptor: query, at: t1 });
    t.is(then.status, 200);
    t.like(then.body.data, { at: t1, totalCompared: 1 });
    t.deepEqual(then.body.data.matches.map((m: { userId: string; templateId: string; email: string }) => [m.userId, m.templateId, m.email]), [[userId, first, 'history@example.com']]);
    const now = await api.post('/v1/faces/identify', { descriptor: query });
    t.deepEqual(now.body.data.matches, []);
    const replayLogs = (await api.get(`/v1/users/${userId}/logs`)).body.data.totalItems;
    t.is(replayLogs, 2, 'a replay records no sign-in');
    t.is((await api.post('/v1/faces/identify', { descriptor: query, at: '2999-01-01T00:00:00Z' })).status, 400);

    // After erasure: the events are still listed, their payloads erased; the past cannot be replayed.
    await api.delete(`/v1/users/${userId}`);
    const erased = (await api.get(`/v1/users/${userId}/history`)).body.data;
    t.is(erased.status, 'erased');
    t.is(erased.events.length, 7);
    t.true(erased.events.slice(0, 6).every((e: { erased?: boolean; facts?: unknown }) => e.erased === true && e.facts === undefined));
    t.like(erased.events[6], { type: 'UserErased', facts: { reason: 'api' } });
    t.deepEqual((await api.post('/v1/faces/identify', { descriptor: query, at: t1 })).body.data.matches, [], 'an erased user cannot be replayed');
    const other = await startService();
    try {
      t.is((await client(other.baseUrl, other.auth).get(`/v1/users/${userId}/history`)).status, 404, 'another tenant sees nothing');
    } finally {
      await other.stop();
    }
  } finally {
    await running.stop();
  }
});
