import fs from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import test from 'ava';
import pg from 'pg';
import { userStream, tenantStream } from '../src/ids/streams.ts';
import { fixture } from './fixtures/legacyStore/fixture.ts';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { postgresUrl } from './support/databases.ts';
import { startService } from './support/service.ts';

// A store written by the code before sign-ins and identify misses got streams of their own
// (test/fixtures/legacyStore/generate.ts): 12 users with three sign-ins each in their user
// streams, 15 misses in the tenant stream, the last user erased.
const expected = JSON.parse(await fs.readFile(new URL('./fixtures/legacyStore/expected.json', import.meta.url), 'utf8')) as {
  tenantId: string;
  liveKey: string;
  users: Array<{ userId: string; email: string }>;
  erased: string;
};

/** The dump as statements any client can run: psql's meta-commands (\restrict) left out. */
async function dumpSql(): Promise<string> {
  const text = await fs.readFile(new URL('./fixtures/legacyStore/store.sql', import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((line) => !line.startsWith('\\'))
    .join('\n');
}

async function load(database: { kind: 'postgres'; url: string } | { kind: 'pglite'; dir: string }): Promise<void> {
  const statements = await dumpSql();
  if (database.kind === 'pglite') {
    const pglite = new PGlite(database.dir);
    await pglite.exec(statements);
    await pglite.close();
    return;
  }
  const connection = new pg.Client({ connectionString: database.url });
  await connection.connect();
  try {
    await connection.query(statements);
  } finally {
    await connection.end();
  }
}

for (const store of ['pglite', 'postgres'] as const) {
  (store === 'postgres' && !postgresUrl ? test.skip : test.serial)(`${store}: a store written by the previous version keeps working and is migrated to snapshots and closed erasures`, async (t) => {
    const running = await startService({ MASTER_KEY: fixture.masterKey }, { store, prepare: load });
    try {
      const report = await running.service.migrations;
      // 12 user streams and the tenant's held legacy events; the erased user's is closed instead.
      t.like(report, { ran: true, legacyStreams: 13, snapshotted: 12, closed: 1 });
      const api = client(running.baseUrl, { authorization: `Bearer ${expected.liveKey}`, 'user-agent': 'after-migration/1' });
      const live = expected.users.filter((user) => user.userId !== expected.erased);
      const list = await api.get('/v1/users?perPage=100');
      t.is(list.status, 200, JSON.stringify(list.body));
      t.is(list.body.data.totalItems, live.length);
      // Counters and logs written by the old version are there.
      const first = await api.get(`/v1/users/${live[1]!.userId}`);
      t.like(first.body.data, { email: live[1]!.email, loginCount: 3, successfulLogins: 2, failedLogins: 1 });
      // Each legacy user stream now ends with a snapshot; the tenant stream too.
      for (const user of live) {
        const [last] = await running.service.store.readStream(userStream(user.userId), { direction: 'backwards', maxCount: 1 });
        t.is(last?.type, 'UserSnapshotted', user.email);
      }
      const [tenantLast] = await running.service.store.readStream(tenantStream(expected.tenantId), { direction: 'backwards', maxCount: 1 });
      t.is(tenantLast?.type, 'TenantSnapshotted');

      // Commands on migrated streams: a template on a legacy user, a new user, a sign-in, a removal.
      const random = seededRandom(5);
      const added = await api.post('/v1/faces/register', { email: live[0]!.email, descriptor: randomVector(random) });
      t.is(added.status, 201, JSON.stringify(added.body));
      t.is(added.body.data.userId, live[0]!.userId);
      const templates = await api.get(`/v1/faces/templates/${live[0]!.userId}`);
      t.is(templates.body.data.totalTemplates, 3, 'two from before, one now');
      const removed = await api.delete(`/v1/faces/templates/${added.body.data.templateId}`);
      t.is(removed.status, 200);
      const face = randomVector(random);
      const fresh = await api.post('/v1/faces/register', { email: 'after@example.com', descriptor: face });
      t.is(fresh.status, 201);
      const verified = await api.post('/v1/faces/verify', { userId: fresh.body.data.userId, descriptor: atDistance(face, 0.1, random) });
      t.true(verified.body.data.isMatch);
      const verifiedLegacy = await api.post('/v1/faces/verify', { userId: live[1]!.userId, descriptor: randomVector(random) });
      t.false(verifiedLegacy.body.data.isMatch);

      // History merges the old sign-ins (in the user stream) and the new one (in its monthly stream).
      const history = await api.get(`/v1/users/${live[1]!.userId}/history`);
      const signIns = history.body.data.events.filter((event: { type: string }) => event.type === 'SignInAttempted');
      t.is(signIns.length, 4);
      t.true(signIns.slice(0, 3).every((event: { stream: string }) => event.stream.startsWith('user-')));
      t.regex(signIns[3].stream, /^signins-usr_/);
      t.false(history.body.data.events.some((event: { type: string }) => event.type === 'UserSnapshotted'), 'snapshots are not history');

      const logs = await api.get(`/v1/users/${live[1]!.userId}/logs`);
      t.is(logs.body.data.totalItems, 4);
      // A tenant command on the migrated tenant stream.
      const issued = await running.service.tenants.issueKey(expected.tenantId, { mode: 'test' }, 'legacy-test');
      t.regex(issued.key, /^fs_test_/);

      // Erasing a legacy user counts the sign-ins of both kinds of stream.
      const erased = await api.delete(`/v1/users/${live[1]!.userId}`);
      t.is(erased.status, 200);
      t.deepEqual(erased.body.data.deletedRecords, { profile: 1, templates: 1, signInLogs: 4 });
      const receipts = await api.get('/v1/erasures');
      t.is(receipts.body.data.chain.length, 2);
      t.true(receipts.body.data.chain.verified);
      // The user erased by the old version is closed now: the store takes nothing more of them.
      const refused = await t.throwsAsync(running.service.store.appendToStream(userStream(expected.erased), [{ id: crypto.randomUUID(), type: 'Late', data: {}, metadata: { occurredAt: new Date().toISOString(), schemaVersion: 1 } }]));
      t.is((refused as unknown as { code: string }).code, 'STREAM_CLOSED');

      // A second start does not run the migration again.
      const again = await running.restart();
      t.like(await again.service.migrations, { ran: false });
      await again.stop();
    } catch (error) {
      await running.stop();
      throw error;
    }
  });
}
