import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { sql } from 'kysely';
import pg from 'pg';
import { runCli, type CliIo } from '../src/cli/cli.ts';
import { rebuildProjections } from '../projections/rebuild.ts';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { postgresUrl } from './support/databases.ts';
import { startService, type RunningService } from './support/service.ts';
import { filesUnder, findNeedles } from './support/byteSearch.ts';

const run = promisify(execFile);

function captureIo(): CliIo & { stdout: () => string } {
  let out = '';
  return { out: (text) => (out += text), err: (text) => (out += text), isTTY: false, stdout: () => out };
}

/** The environment a CLI command needs to open the running service's database. */
function cliEnv(running: RunningService): Record<string, string> {
  const { config } = running.service;
  return {
    DATA_DIR: running.dataDir,
    LOG_LEVEL: 'silent',
    ...(config.database.kind === 'postgres' ? { DATABASE_URL: config.database.url, MASTER_KEY: config.masterKey!.toString('base64') } : {}),
  };
}

test.serial('erasure receipts form a hash chain; receipts verify detects a changed or removed receipt', async (t) => {
  const running = await startService();
  const api = () => client(running.baseUrl, running.auth);
  const random = seededRandom(5);
  try {
    const users: string[] = [];
    for (let i = 0; i < 4; i++) users.push((await api().post('/v1/faces/register', { email: `gone${i}@example.com`, descriptor: randomVector(random) })).body.data.userId);
    const receipts = [];
    for (const userId of users.slice(0, 3)) receipts.push((await api().delete(`/v1/users/${userId}`)).body.data.receipt);
    t.deepEqual(receipts.map((r) => r.sequence), [1, 2, 3]);
    t.is(receipts[0].previousDigest, '0'.repeat(64));
    t.is(receipts[1].previousDigest, receipts[0].digest);
    t.is(receipts[2].previousDigest, receipts[1].digest);

    const listed = await api().get('/v1/erasures?perPage=2');
    t.is(listed.status, 200);
    t.deepEqual(listed.body.data.receipts.map((r: { sequence: number }) => r.sequence), [3, 2]);
    t.like(listed.body.data, { totalItems: 3, totalPages: 2, chain: { length: 3, headDigest: receipts[2].digest, verified: true } });
    t.deepEqual(listed.body.data.receipts[0], receipts[2]);
    t.is((await client(running.baseUrl, { authorization: `Bearer ${running.testKey}` }).get('/v1/erasures')).status, 403);

    // The CLI opens the same database (the embedded one only while the server is stopped).
    await running.service.close();
    const ok = captureIo();
    t.is(await runCli(['receipts', 'verify', '--tenant', running.tenantId], cliEnv(running), ok), 0);
    t.regex(ok.stdout(), new RegExp(`^ok {6}${running.tenantId}: 3 receipts, head ${receipts[2].digest}$`, 'm'));

    // Tamper with the second receipt where it is stored: the chain breaks at it.
    const { default: openDb } = { default: (await import('../src/database/database.ts')).openDatabase };
    const config = running.service.config;
    const database = await openDb(config.database.kind === 'postgres' ? { kind: 'postgres', url: config.database.url } : { kind: 'pglite', dir: config.database.dir });
    const stream = `erasures-${running.tenantId}`;
    await sql`update eventstore.events set data = jsonb_set(data, '{deletedRecords,templates}', '7') where stream_name = ${stream} and revision = 1`.execute(database.db);
    await database.close();
    const tampered = captureIo();
    t.is(await runCli(['receipts', 'verify', '--tenant', running.tenantId], cliEnv(running), tampered), 1);
    t.regex(tampered.stdout(), /BROKEN .*receipt 2 was altered/);

    const again = await openDb(config.database.kind === 'postgres' ? { kind: 'postgres', url: config.database.url } : { kind: 'pglite', dir: config.database.dir });
    await sql`update eventstore.events set data = ${JSON.stringify(receipts[1])}::jsonb where stream_name = ${stream} and revision = 1`.execute(again.db);
    await sql`delete from eventstore.events where stream_name = ${stream} and revision = 0`.execute(again.db);
    await again.close();
    const removed = captureIo();
    t.is(await runCli(['receipts', 'verify'], cliEnv(running), removed), 1);
    t.regex(removed.stdout(), /BROKEN .*receipt 1 is missing/);
  } finally {
    await running.stop();
  }
});

test.serial('after an erasure and a rebuild of every projection, no byte anywhere holds the erased user; the others identify as before', async (t) => {
  const running = await startService();
  const api = client(running.baseUrl, running.auth);
  const random = seededRandom(8);
  try {
    // A dense gallery on purpose (different users closer than the match threshold): its own duplicate threshold.
    await running.service.tenants.changeSettings(running.tenantId, { settings: { duplicateThreshold: 0.75 } }, 'test');
    running.service.auth.forget();
    const base = randomVector(random);
    const people = Array.from({ length: 4 }, (_, i) => ({ email: `kept${i}.${Date.now()}@example.com`, descriptor: atDistance(base, 0.3 + i * 0.05, random), userId: '' }));
    const victim = { email: `erased.${Date.now()}@example.com`, descriptor: atDistance(base, 0.25, random), userId: '' };
    for (const person of [...people, victim]) {
      person.userId = (await api.post('/v1/faces/register', { email: person.email, descriptor: person.descriptor })).body.data.userId;
      await api.post('/v1/faces/verify', { userId: person.userId, descriptor: atDistance(person.descriptor, 0.05, random) });
    }
    const before = (await api.post('/v1/faces/identify', { descriptor: base, maxResults: 10, threshold: 0.35 })).body.data.matches;
    t.true(before.some((m: { userId: string }) => m.userId === victim.userId));
    t.is((await api.delete(`/v1/users/${victim.userId}`)).status, 200);

    const { service } = running;
    await rebuildProjections(service.database.db, service.store, service.projections);
    for (const table of ['users', 'templates', 'sign_in_logs']) {
      const rows = await sql<{ n: string }>`select count(*)::text as n from ${sql.id('rm_users', table)} where user_id = ${victim.userId}`.execute(service.database.db);
      t.is(rows.rows[0]!.n, '0', `no ${table} row of the erased user after the rebuild`);
    }
    const after = (await api.post('/v1/faces/identify', { descriptor: base, maxResults: 10, threshold: 0.35 })).body.data.matches;
    t.deepEqual(after, before.filter((m: { userId: string }) => m.userId !== victim.userId), 'the others identify exactly as before');
    for (const person of people) t.is((await api.get(`/v1/users/${person.userId}`)).body.data.email, person.email, 'and still decrypt');

    const f32 = Buffer.from(new Float32Array(victim.descriptor).buffer);
    const needles = [
      { what: 'email', bytes: Buffer.from(victim.email) },
      { what: 'descriptor bytes', bytes: f32.subarray(0, 24) },
      { what: 'descriptor bytes (later)', bytes: f32.subarray(300, 324) },
      { what: 'descriptor as text', bytes: Buffer.from(`${victim.descriptor[0]},${victim.descriptor[1]}`) },
    ];
    if (postgresUrl) {
      const url = service.config.database.kind === 'postgres' ? service.config.database.url : '';
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const dataDirectory = (await admin.query<{ d: string }>('select current_setting(\'data_directory\') as d')).rows[0]!.d;
      const oid = (await admin.query<{ oid: string }>('select oid::text from pg_database where datname = current_database()')).rows[0]!.oid;
      await admin.query('checkpoint');
      await admin.end();
      const dump = path.join(running.dataDir, 'dump.sql');
      await run('pg_dump', ['--no-owner', '--file', dump, url]);
      t.deepEqual(await findNeedles([dump], needles), [], 'full dump');
      t.deepEqual(await findNeedles(filesUnder(path.join(dataDirectory, 'base', oid)), needles), [], 'heap files');
      t.deepEqual(await findNeedles(filesUnder(path.join(dataDirectory, 'pg_wal')), needles), [], 'WAL');
    } else {
      await service.close();
      t.deepEqual(await findNeedles(filesUnder(running.dataDir), needles), [], 'every file of the data dir');
    }
  } finally {
    await running.stop();
  }
});

test.serial('audit replay and audit export print the history an auditor needs, without personal data', async (t) => {
  const running = await startService();
  const api = client(running.baseUrl, running.auth);
  const random = seededRandom(21);
  try {
    const face = randomVector(random);
    const { userId } = (await api.post('/v1/faces/register', { email: 'audited@example.com', descriptor: face })).body.data;
    await api.post('/v1/faces/verify', { userId, descriptor: atDistance(face, 0.1, random) });
    await running.service.close();

    const replay = captureIo();
    t.is(await runCli(['audit', 'replay', '--user', userId, '--at', new Date().toISOString()], cliEnv(running), replay), 0);
    const history = JSON.parse(replay.stdout());
    t.deepEqual(history.events.map((e: { type: string }) => e.type), ['UserEnrolled', 'FaceTemplateAdded', 'SignInAttempted']);
    t.like(history.stateAt, { status: 'active', counters: { loginCount: 1 } });

    const out = path.join(running.dataDir, 'export.jsonl');
    const exported = captureIo();
    t.is(await runCli(['audit', 'export', '--tenant', running.tenantId, '--out', out], cliEnv(running), exported), 0);
    const lines = (await fs.readFile(out, 'utf8')).trim().split('\n').map((line) => JSON.parse(line));
    const types = lines.map((line) => line.type);
    t.true(['TenantCreated', 'ApiKeyIssued', 'UserEnrolled', 'FaceTemplateAdded', 'SignInAttempted'].every((type) => types.includes(type)));
    const raw = await fs.readFile(out, 'utf8');
    t.false(raw.includes('audited@example.com'));
    t.false(raw.includes('fse1:'), 'sealed fields are left out, not opened');
    t.regex(exported.stdout(), /exported \d+ events of tenant/);
    const again = captureIo();
    t.is(await runCli(['audit', 'export', '--tenant', running.tenantId, '--out', out], cliEnv(running), again), 2, 'an existing file is never overwritten');
    t.is(await runCli(['audit', 'replay', '--user', 'nope'], cliEnv(running), captureIo()), 2);
  } finally {
    await running.stop();
  }
});
