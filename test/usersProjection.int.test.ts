import { randomUUID } from 'node:crypto';
import test from 'ava';
import { sql, type Kysely } from 'kysely';
import { createPostgresEventStore } from '../src/eventStore/postgres/postgresEventStore.ts';
import type { EventStore } from '../src/eventStore/eventStore.ts';
import { userStream } from '../src/ids/streams.ts';
import type { UserEvent } from '../src/users/userEvents.ts';
import { createProjectionRunner } from '../projections/runner.ts';
import { rebuildProjection } from '../projections/rebuild.ts';
import { usersProjection } from '../projections/users/usersProjection.ts';
import { seededRandom } from './support/faces.ts';
import { openTestDatabase } from './support/databases.ts';
import { quietLogger } from './support/quietLogger.ts';

const hex = (random: () => number) => Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');

/** A random but valid history: enrolments, templates, removals, sign-ins, erasures (and events that race an erasure). */
async function writeHistory(store: EventStore, seed: number): Promise<void> {
  const random = seededRandom(seed);
  const users: Array<{ id: string; templates: string[]; erased: boolean }> = [];
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const append = (userId: string, events: UserEvent[]) => {
    clock += 1000 + Math.floor(random() * 60_000);
    return store.appendToStream(
      userStream(userId),
      events.map((event) => ({ id: randomUUID(), type: event.type, data: event.data, metadata: { occurredAt: new Date(clock).toISOString(), schemaVersion: 1, tenantId: seed % 2 ? 't1' : 't2', mode: 'live' } })),
    );
  };
  for (let step = 0; step < 400; step++) {
    const roll = random();
    const live = users.filter((u) => !u.erased);
    if (roll < 0.15 || live.length === 0) {
      const id = `usr_${hex(random)}`;
      const templateId = `tpl_${hex(random)}`;
      users.push({ id, templates: [templateId], erased: false });
      await append(id, [
        { type: 'UserEnrolled', data: { userId: id, email: `fse1:${hex(random)}`, emailIndex: hex(random) } },
        { type: 'FaceTemplateAdded', data: { userId: id, templateId, descriptor: `fse1:${hex(random)}`, quality: Math.round(random() * 100) / 100, lighting: null, source: 'descriptor', model: 'm' } },
      ]);
      continue;
    }
    const user = live[Math.floor(random() * live.length)]!;
    if (roll < 0.35) {
      const templateId = `tpl_${hex(random)}`;
      user.templates.push(templateId);
      await append(user.id, [{ type: 'FaceTemplateAdded', data: { userId: user.id, templateId, descriptor: `fse1:${hex(random)}`, quality: random(), lighting: { brightness: 100, contrast: 30 }, source: 'descriptor', model: 'm' } }]);
    } else if (roll < 0.45 && user.templates.length > 0) {
      const templateId = user.templates.splice(Math.floor(random() * user.templates.length), 1)[0]!;
      await append(user.id, [{ type: 'FaceTemplateRemoved', data: { userId: user.id, templateId, reason: 'api' } }]);
    } else if (roll < 0.9) {
      const success = random() < 0.6;
      const templateId = user.templates.length > 0 ? user.templates[Math.floor(random() * user.templates.length)]! : null;
      await append(user.id, [
        { type: 'SignInAttempted', data: { userId: user.id, logId: `log_${hex(random)}`, kind: random() < 0.5 ? 'verify' : 'identify', outcome: success ? 'success' : 'failure', similarity: random(), threshold: 0.45, templateId, ip: `fse1:${hex(random)}`, userAgent: null } },
      ]);
    } else {
      user.erased = true;
      await append(user.id, [{ type: 'UserErased', data: { userId: user.id, emailIndex: 'x', reason: 'api' } }]);
      // A sign-in and a template that raced the erasure arrive after it.
      if (random() < 0.5) {
        await append(user.id, [
          { type: 'SignInAttempted', data: { userId: user.id, logId: `log_${hex(random)}`, kind: 'verify', outcome: 'success', similarity: 0.9, threshold: 0.45, templateId: null, ip: null, userAgent: null } },
          { type: 'FaceTemplateAdded', data: { userId: user.id, templateId: `tpl_${hex(random)}`, descriptor: 'fse1:x', quality: 0.5, lighting: null, source: 'descriptor', model: 'm' } },
        ]);
      }
    }
  }
}

async function snapshot(db: Kysely<any>) {
  const users = await sql`select * from rm_users.users order by user_id`.execute(db);
  const templates = await sql`select * from rm_users.templates order by template_id`.execute(db);
  const logs = await sql`select * from rm_users.sign_in_logs order by log_id`.execute(db);
  return { users: users.rows, templates: templates.rows, logs: logs.rows };
}

test('the users read model is the same whether events are applied one by one or in large batches', async (t) => {
  const testDb = await openTestDatabase();
  const store = await createPostgresEventStore(testDb.database);
  try {
    await writeHistory(store, 11);
    const oneByOne = createProjectionRunner({ db: testDb.database.db, store, projections: [usersProjection], logger: quietLogger(), batchSize: 1 });
    await oneByOne.catchUp();
    const incremental = await snapshot(testDb.database.db);
    await rebuildProjection(testDb.database.db, store, usersProjection, { batchSize: 5000 });
    const rebuilt = await snapshot(testDb.database.db);
    t.deepEqual(rebuilt, incremental);

    // And both agree with the history itself.
    const all = await store.readAll({ maxCount: 100_000 });
    const erased = new Set(all.filter((e) => e.type === 'UserErased').map((e) => (e.data as { userId: string }).userId));
    t.true(erased.size > 3, 'the history erases users');
    for (const row of rebuilt.users as Array<{ user_id: string; template_count: number; login_count: number; successful_logins: number; failed_logins: number }>) {
      t.false(erased.has(row.user_id));
      t.is(row.template_count, (rebuilt.templates as Array<{ user_id: string }>).filter((tpl) => tpl.user_id === row.user_id).length);
      t.is(row.login_count, row.successful_logins + row.failed_logins);
      t.is(row.login_count, (rebuilt.logs as Array<{ user_id: string }>).filter((log) => log.user_id === row.user_id).length);
    }
    for (const row of [...(rebuilt.templates as Array<{ user_id: string }>), ...(rebuilt.logs as Array<{ user_id: string }>)]) t.false(erased.has(row.user_id), 'no orphan rows of erased users');
  } finally {
    await store.close();
    await testDb.dispose();
  }
});
