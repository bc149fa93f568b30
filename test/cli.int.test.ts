import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { runCli, type CliIo } from '../src/cli/cli.ts';
import { allProjections } from '../projections/all.ts';
import { openDatabase } from '../src/database/database.ts';
import { createPostgresEventStore } from '../src/eventStore/postgres/postgresEventStore.ts';
import { freshPostgres, postgresUrl } from './support/databases.ts';
import { embeddedDatabaseCopy } from './support/pgliteTemplate.ts';

const projectionNames = allProjections().map((projection) => projection.name);
const bin = path.join(import.meta.dirname, '..', 'src', 'cli', 'bin.mjs');

function captureIo(isTTY = false): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (text) => (out += text), err: (text) => (err += text), isTTY, stdout: () => out, stderr: () => err };
}

/** An environment with some events in it: PostgreSQL when DATABASE_URL is set, else a data dir. */
async function environmentWithEvents(count: number): Promise<{ env: Record<string, string>; dispose(): Promise<void> }> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-cli-'));
  const fresh = postgresUrl ? await freshPostgres() : undefined;
  if (!fresh) await fs.rename(await embeddedDatabaseCopy(), path.join(dataDir, 'pglite'));
  const database = await openDatabase(fresh ? { kind: 'postgres', url: fresh.url } : { kind: 'pglite', dir: path.join(dataDir, 'pglite') });
  const store = await createPostgresEventStore(database);
  for (let i = 0; i < count; i += 50) {
    await store.appendToStream(`cli-${i}`, Array.from({ length: Math.min(50, count - i) }, () => ({ id: randomUUID(), type: 'Noted', data: {}, metadata: { occurredAt: '2026-11-01T00:00:00Z', schemaVersion: 1, tenantId: 't1', mode: 'live' } })));
  }
  await store.close();
  await database.close();
  return {
    // A master key given, on the embedded database too: no command warns that it generated one.
    env: { DATA_DIR: dataDir, LOG_LEVEL: 'warn', MASTER_KEY: randomBytes(32).toString('base64'), ...(fresh ? { DATABASE_URL: fresh.url } : {}) },
    async dispose() {
      await fresh?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

test.serial('status shows each projection behind, rebuild replays with plain progress lines, then status shows no lag', async (t) => {
  const { env, dispose } = await environmentWithEvents(300);
  try {
    const before = captureIo();
    t.is(await runCli(['projections', 'status'], env, before), 0);
    t.regex(before.stdout(), /^projection\s+version\s+checkpoint\s+head\s+lag\s+updated$/m);
    for (const name of projectionNames) t.regex(before.stdout(), new RegExp(`^${name}\\s+\\d+\\s+0\\s+300\\s+300\\s`, 'm'));

    const rebuild = captureIo(false);
    t.is(await runCli(['rebuild', '--batch-size', '40'], env, rebuild), 0);
    for (const name of projectionNames) t.regex(rebuild.stdout(), new RegExp(`^rebuilt ${name}: 300 events up to position 300 in [\\d.]+ s$`, 'm'));
    t.regex(rebuild.stderr(), new RegExp(`^rebuild ${projectionNames.join(', ')} \\[#+\\] 100\\.0% 300/~300 events [\\d,]+ ev/s ETA 00:00$`, 'm'));
    t.notRegex(rebuild.stderr(), /\r|\x1b/, 'no terminal control characters when not on a terminal');

    const after = captureIo();
    t.is(await runCli(['projections', 'status', '--json'], env, after), 0);
    const statuses = JSON.parse(after.stdout()) as Array<{ name: string; checkpoint: string; lag: string }>;
    t.deepEqual(statuses.map((s) => [s.name, s.checkpoint, s.lag]), projectionNames.map((name) => [name, '300', '0']));
  } finally {
    await dispose();
  }
});

test.serial('on a terminal the rebuild redraws one progress bar', async (t) => {
  const { env, dispose } = await environmentWithEvents(100);
  try {
    const io = captureIo(true);
    t.is(await runCli(['projections', 'rebuild', '--projection', 'usage'], env, io), 0);
    t.regex(io.stderr(), /\rrebuild usage \[#+\] 100\.0% 100\/~100 events .*\x1b\[K\n$/);
  } finally {
    await dispose();
  }
});

test('bad arguments and bad configuration exit non-zero with a message', async (t) => {
  const unknown = captureIo();
  t.is(await runCli(['frobnicate'], { DATA_DIR: os.tmpdir() }, unknown), 2);
  t.regex(unknown.stderr(), /unknown command: frobnicate/);
  // An option the command does not take, or an argument too many, is said rather than ignored.
  const foreign = captureIo();
  t.is(await runCli(['tenants', 'update', randomUUID(), '--name', 'x', '--mode', 'live'], { DATA_DIR: os.tmpdir() }, foreign), 2);
  t.is(foreign.stderr(), 'tenants update does not take --name, --mode (it takes --plan, --setting, --tenant, --json)\n');
  const extra = captureIo();
  t.is(await runCli(['keys', 'revoke', `key_${'0'.repeat(32)}`, 'and-this', '--json'], { DATA_DIR: os.tmpdir() }, extra), 2);
  t.deepEqual(JSON.parse(extra.stdout()).error, { code: 'VALIDATION_ERROR', message: 'keys revoke: unexpected argument "and-this" (it takes one KEY_ID)' });
  const statusExtra = captureIo();
  t.is(await runCli(['projections', 'status', 'now'], { DATA_DIR: os.tmpdir() }, statusExtra), 2);
  t.is(statusExtra.stderr(), 'status: unexpected argument "now"\n');
  const badProjection = captureIo();
  const { env, dispose } = await environmentWithEvents(1);
  try {
    t.is(await runCli(['rebuild', '--projection', 'nope'], env, badProjection), 2);
    t.true(badProjection.stderr().includes(`unknown projection: nope (known: ${projectionNames.join(', ')})`));
    const badBatch = captureIo();
    t.is(await runCli(['rebuild', '--batch-size', '0'], env, badBatch), 2);
    t.regex(badBatch.stderr(), /--batch-size must be a whole number/);
  } finally {
    await dispose();
  }
  const badConfig = captureIo();
  t.is(await runCli(['status'], { PORT: 'x' }, badConfig), 78);
  t.regex(badConfig.stderr(), /PORT: /);
  const help = captureIo();
  t.is(await runCli(['help'], {}, help), 0);
  t.regex(help.stdout(), /projections rebuild/);
});

test.serial('the server starts on the embedded default, answers, and stops cleanly on SIGTERM', async (t) => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-serve-'));
  await fs.rename(await embeddedDatabaseCopy(), path.join(dataDir, 'pglite'));
  const env: Record<string, string | undefined> = { ...process.env, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' };
  delete env.DATABASE_URL;
  const proc = spawn(process.execPath, [bin, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  proc.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  try {
    const address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" line in time:\n${log}`)), 60_000);
      const poll = setInterval(() => {
        // The port answers at once; the service is composed behind it ("started").
        const match = /"address":"([^"]+)"[^\n]*"msg":"listening"/.exec(log);
        if (match && log.includes('"msg":"started"')) {
          clearInterval(poll);
          clearTimeout(timer);
          resolve(match[1]!);
        }
      }, 50);
    });
    const port = address.split(':').at(-1);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    t.is(health.status, 200);
    t.regex(log, /generated a new master key/);
    t.true((await fs.stat(path.join(dataDir, 'master.key'))).isFile());
    t.true((await fs.stat(path.join(dataDir, 'facesmash.lock'))).isFile(), 'the data dir is locked while the server runs');

    // A second process on the same data dir is refused instead of corrupting it.
    const second = captureIo();
    t.is(await runCli(['status'], { DATA_DIR: dataDir }, second), 1);
    t.regex(second.stderr(), /^cannot start: the embedded database in .* is in use by process \d+/);

    proc.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
    t.is(code, 0);
    t.regex(log, /"msg":"stopped"/);
    await t.throwsAsync(fs.stat(path.join(dataDir, 'facesmash.lock')), undefined, 'the lock is released');

    // The default tenant is one to develop with: its live key is not rate limited.
    t.regex(log, /tenant {4}[0-9a-f-]{36} \(enterprise plan/);
    const list = captureIo();
    t.is(await runCli(['tenants', 'list', '--json'], { DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, list), 0, list.stderr());
    t.like(JSON.parse(list.stdout()), [{ name: 'default', plan: 'enterprise' }]);
  } finally {
    proc.kill('SIGKILL');
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});

test.serial('on a new database, tenants list creates the read models and says how to get a first tenant and key', async (t) => {
  const { env, dispose } = await environmentWithEvents(0);
  try {
    const io = captureIo();
    t.is(await runCli(['tenants', 'list'], env, io), 0, io.stderr());
    t.regex(io.stdout(), /No tenants yet\. Create one .*facesmash tenants create --name NAME/);
    t.is(io.stderr(), '');
    const json = captureIo();
    t.is(await runCli(['tenants', 'list', '--json'], env, json), 0);
    t.deepEqual(JSON.parse(json.stdout()), []);
  } finally {
    await dispose();
  }
});

test.serial('rebuild --json prints one JSON document; revoking a revoked key says so and exits 1', async (t) => {
  const { env, dispose } = await environmentWithEvents(20);
  try {
    const rebuild = captureIo();
    t.is(await runCli(['rebuild', '--json'], env, rebuild), 0);
    const results = JSON.parse(rebuild.stdout()) as Array<{ projection: string; events: number; position: string }>;
    t.deepEqual(
      results.map((r) => [r.projection, r.events, r.position]),
      projectionNames.map((name) => [name, 20, '20']),
    );

    const created = captureIo();
    t.is(await runCli(['tenants', 'create', '--name', 'revoker', '--json'], env, created), 0);
    const tenantId = JSON.parse(created.stdout()).tenant.id as string;
    const issued = captureIo();
    t.is(await runCli(['keys', 'issue', '--tenant', tenantId, '--mode', 'test', '--json'], env, issued), 0);
    const keyId = JSON.parse(issued.stdout()).id as string;
    const first = captureIo();
    t.is(await runCli(['keys', 'revoke', keyId], env, first), 0);
    t.is(first.stdout(), `revoked ${keyId}\n`);
    const second = captureIo();
    t.is(await runCli(['keys', 'revoke', keyId], env, second), 1);
    t.is(second.stdout(), '');
    t.regex(second.stderr(), new RegExp(`^${keyId} was already revoked at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z; nothing changed\\n$`));
  } finally {
    await dispose();
  }
});

/** Runs a command with --json: its exit code and the one JSON document it printed. */
async function runJson(argv: readonly string[], env: Record<string, string | undefined>): Promise<{ code: number; json: any; stderr: string }> {
  const io = captureIo();
  const code = await runCli([...argv, '--json'], env, io);
  let json: unknown;
  try {
    json = JSON.parse(io.stdout());
  } catch {
    throw new Error(`${argv.join(' ')} --json printed no single JSON document: ${JSON.stringify(io.stdout())} (stderr ${io.stderr()})`);
  }
  return { code, json, stderr: io.stderr() };
}

test.serial('on a new database every command says what it needs first', async (t) => {
  const { env, dispose } = await environmentWithEvents(0);
  try {
    const tenantId = randomUUID();
    const keyId = `key_${'0'.repeat(32)}`;
    const needsTenant = [
      ['keys', 'issue', '--tenant', tenantId, '--mode', 'live'],
      ['keys', 'issue'],
      ['keys', 'list', '--tenant', tenantId],
      ['keys', 'origins', keyId, '--allowed-origin', 'https://app.example.com'],
      ['keys', 'revoke', keyId],
      ['tenants', 'update', tenantId, '--plan', 'pro'],
      ['tenants', 'update'],
      ['receipts', 'verify', '--tenant', tenantId],
    ];
    for (const argv of needsTenant) {
      const io = captureIo();
      t.is(await runCli(argv, env, io), 2, argv.join(' '));
      t.is(io.stdout(), '', argv.join(' '));
      t.is(io.stderr(), 'no tenants yet: create one with facesmash tenants create --name NAME [--plan free|pro|enterprise] (it prints the first live and test keys)\n', argv.join(' '));
      const json = await runJson(argv, env);
      t.is(json.code, 2);
      t.is(json.json.error.code, 'NOT_FOUND');
      t.regex(json.json.error.message, /^no tenants yet: create one with facesmash tenants create --name NAME/);
    }

    const receipts = captureIo();
    t.is(await runCli(['receipts', 'verify'], env, receipts), 0);
    t.regex(receipts.stdout(), /^No tenants yet, so no receipts to verify\. Create one with facesmash tenants create --name NAME/);
    const retention = captureIo();
    t.is(await runCli(['retention', 'run'], env, retention), 0);
    t.regex(retention.stdout(), /^retention: 0 tenants, .*\(no tenants yet: create one with facesmash tenants create --name NAME/);
    const exported = captureIo();
    t.is(await runCli(['audit', 'export', '--tenant', tenantId], env, exported), 0);
    t.is(exported.stdout(), '');
    t.is(exported.stderr(), `no events of tenant ${tenantId}: facesmash tenants list shows the tenants\n`);
    const replay = captureIo();
    const userId = `usr_${'0'.repeat(32)}`;
    t.is(await runCli(['audit', 'replay', '--user', userId], env, replay), 2);
    t.is(replay.stderr(), `no user ${userId} in the event store (GET /v1/users lists a tenant's users)\n`);
    const badUser = captureIo();
    t.is(await runCli(['audit', 'replay', '--user', 'ada'], env, badUser), 2);
    t.is(badUser.stderr(), '--user: must be a user id (usr_ and 32 hex characters)\n');
    const missing = captureIo();
    t.is(await runCli(['audit', 'replay'], env, missing), 2);
    t.is(missing.stderr(), 'audit replay needs --user USER_ID\n');
    const status = captureIo();
    t.is(await runCli(['status'], env, status), 0, status.stderr());
    for (const name of projectionNames) t.regex(status.stdout(), new RegExp(`^${name}\\s+\\d+\\s+0\\s+0\\s+0\\s`, 'm'));

    // Nothing above wrote an event.
    const after = await runJson(['status'], env);
    t.true((after.json as Array<{ head: string }>).every((s) => s.head === '0'));
  } finally {
    await dispose();
  }
});

test.serial('tenants update changes the plan and settings, validated by the admin API schema; bad input names the option and changes nothing', async (t) => {
  const { env, dispose } = await environmentWithEvents(0);
  try {
    const created = await runJson(['tenants', 'create', '--name', 'acme', '--setting', 'maxTemplates=5'], env);
    t.is(created.code, 0, created.stderr);
    const tenantId = created.json.tenant.id as string;
    t.is(created.json.tenant.plan, 'free');
    t.is(created.json.tenant.settings.maxTemplates, 5);

    const text = captureIo();
    t.is(await runCli(['tenants', 'update', tenantId, '--plan', 'pro', '--setting', 'matchThreshold=0.5', '--setting', 'inactiveUserErasureMonths=12'], env, text), 0, text.stderr());
    t.regex(text.stdout(), new RegExp(`^tenant ${tenantId} \\(acme\\) is on the pro plan$`, 'm'));
    t.regex(text.stdout(), /^ {2}matchThreshold = 0\.5$/m);
    t.regex(text.stdout(), /^ {2}inactiveUserErasureMonths = 12$/m);

    const updated = await runJson(['tenants', 'update', tenantId, '--setting', 'inactiveUserErasureMonths=null', '--setting', 'logRetentionDays=30'], env);
    t.is(updated.code, 0, updated.stderr);
    t.like(updated.json, { id: tenantId, plan: 'pro', settings: { matchThreshold: 0.5, maxTemplates: 5, inactiveUserErasureMonths: null, logRetentionDays: 30 } });
    const byOption = await runJson(['tenants', 'update', '--tenant', tenantId, '--plan', 'enterprise'], env);
    t.is(byOption.code, 0, byOption.stderr);
    t.is(byOption.json.plan, 'enterprise');

    const listed = await runJson(['tenants', 'list'], env);
    const before = listed.json;
    t.like(before, [{ id: tenantId, plan: 'enterprise', settings: { matchThreshold: 0.5, logRetentionDays: 30 } }]);
    const head = (await runJson(['status'], env)).json[0].head as string;

    const other = randomUUID();
    const bad: Array<[string[], RegExp]> = [
      [['--setting', 'matchThreshold=2'], /^--setting matchThreshold: .*0\.95/],
      [['--setting', 'matchThreshold=0.1'], /^--setting matchThreshold: .*0\.35/],
      [['--setting', 'maxTemplates=2.5'], /^--setting maxTemplates: .*expected int/],
      [['--setting', 'matchThreshold=abc'], /^--setting matchThreshold: .*expected number/],
      [['--setting', 'matchThreshold=null'], /^--setting matchThreshold: .*expected number/],
      [['--setting', 'matchThreshold='], /^--setting matchThreshold: .*expected number/],
      [['--setting', 'frobnicate=1'], /^--setting frobnicate: unknown setting \(known: matchThreshold, duplicateThreshold, targetFalseIdentificationRate, maxTemplates, minQuality, logRetentionDays, inactiveUserErasureMonths\)\n$/],
      [['--setting', 'matchThreshold'], /^--setting matchThreshold: must be NAME=VALUE/],
      [['--setting', '=1'], /^--setting =1: must be NAME=VALUE/],
      [['--setting', 'maxTemplates=3', '--setting', 'maxTemplates=4'], /^--setting maxTemplates: given twice\n$/],
      [['--setting', '__proto__=1'], /^--setting __proto__: unknown setting/],
      [['--plan', 'gold'], /^--plan: must be free, pro or enterprise\n$/],
      [['--plan', 'free', '--setting', 'minQuality=-1'], /^--setting minQuality: /],
      [[], /^tenants update needs --plan free\|pro\|enterprise and\/or --setting NAME=VALUE/],
    ];
    for (const [index, [options, message]] of bad.entries()) {
      const io = captureIo();
      t.is(await runCli(['tenants', 'update', tenantId, ...options], env, io), 2, options.join(' '));
      t.regex(io.stderr(), message, options.join(' '));
      t.is(io.stdout(), '');
      // Each command takes a second or two (it composes the service): --json for a few of them.
      if (index % 4 !== 0) continue;
      const json = await runJson(['tenants', 'update', tenantId, ...options], env);
      t.is(json.json.error.code, 'VALIDATION_ERROR', options.join(' '));
      t.is(`${json.json.error.message}\n`, io.stderr(), 'the JSON error carries the same message');
    }
    const notATenant = captureIo();
    t.is(await runCli(['tenants', 'update', 'acme', '--plan', 'pro'], env, notATenant), 2);
    t.is(notATenant.stderr(), 'TENANT_ID: must be a tenant id (a uuid, as facesmash tenants list shows it)\n');
    const unknown = captureIo();
    t.is(await runCli(['tenants', 'update', other, '--plan', 'pro'], env, unknown), 2);
    t.is(unknown.stderr(), `no tenant ${other}: facesmash tenants list shows the tenants\n`);

    t.deepEqual((await runJson(['tenants', 'list'], env)).json, before, 'no refused update changed the tenant');
    t.is((await runJson(['status'], env)).json[0].head, head, 'no refused update appended an event');
  } finally {
    await dispose();
  }
});

test.serial('keys issue takes --allowed-origin more than once; a bad origin names itself and issues nothing', async (t) => {
  const { env, dispose } = await environmentWithEvents(0);
  try {
    const tenantId = (await runJson(['tenants', 'create', '--name', 'browser app'], env)).json.tenant.id as string;
    const text = captureIo();
    t.is(await runCli(['keys', 'issue', '--tenant', tenantId, '--mode', 'test', '--allowed-origin', 'https://app.example.com', '--allowed-origin', 'http://localhost:5173'], env, text), 0, text.stderr());
    t.regex(text.stdout(), /^key key_[0-9a-f]{32} \(test, .*, origins https:\/\/app\.example\.com http:\/\/localhost:5173\)\nfs_test_\S+\nThe key is shown this once; store it now\.\n$/);
    const issued = await runJson(['keys', 'issue', '--tenant', tenantId, '--mode', 'live', '--name', 'web', '--scope', 'faces:verify', '--allowed-origin', 'https://app.example.com'], env);
    t.is(issued.code, 0, issued.stderr);
    t.like(issued.json, { mode: 'live', name: 'web', scopes: ['faces:verify'], allowedOrigins: ['https://app.example.com'] });
    t.regex(issued.json.key, /^fs_live_/);

    const listed = await runJson(['keys', 'list', '--tenant', tenantId], env);
    const web = (listed.json as Array<{ id: string; allowedOrigins: string[]; key?: string }>).find((key) => key.id === issued.json.id);
    t.deepEqual(web?.allowedOrigins, ['https://app.example.com']);
    t.false('key' in (web ?? {}), 'a listed key carries no secret');
    const count = (listed.json as unknown[]).length;

    const bad: Array<[string[], string]> = [
      [['--allowed-origin', 'https://app.example.com', '--allowed-origin', 'https://app.example.com/login'], '--allowed-origin "https://app.example.com/login": must be an exact origin such as https://app.example.com (scheme, host and port only, lower-case)\n'],
      [['--allowed-origin', 'https://*.example.com'], '--allowed-origin "https://*.example.com": must be an exact origin such as https://app.example.com (scheme, host and port only, lower-case)\n'],
      [['--allowed-origin', 'https://a.example', '--allowed-origin', 'https://a.example'], '--allowed-origin: must not list an origin twice\n'],
    ];
    for (const [options, message] of bad) {
      const io = captureIo();
      t.is(await runCli(['keys', 'issue', '--tenant', tenantId, '--mode', 'test', ...options], env, io), 2, options.join(' '));
      t.is(io.stderr(), message);
    }
    const noMode = captureIo();
    t.is(await runCli(['keys', 'issue', '--tenant', tenantId], env, noMode), 2);
    t.is(noMode.stderr(), 'keys issue needs --mode live|test\n');
    const badMode = captureIo();
    t.is(await runCli(['keys', 'issue', '--tenant', tenantId, '--mode', 'prod'], env, badMode), 2);
    t.is(badMode.stderr(), '--mode: must be live or test\n');
    const badScope = captureIo();
    t.is(await runCli(['keys', 'issue', '--tenant', tenantId, '--mode', 'test', '--scope', 'users:delete'], env, badScope), 2);
    const noTenant = captureIo();
    t.is(await runCli(['keys', 'issue', '--mode', 'test'], env, noTenant), 2);
    t.is(noTenant.stderr(), 'keys issue needs --tenant ID (facesmash tenants list shows the tenants)\n');
    t.is(((await runJson(['keys', 'list', '--tenant', tenantId], env)).json as unknown[]).length, count, 'no refused command issued a key');
  } finally {
    await dispose();
  }
});

test.serial('--json: every command prints exactly one JSON document, failures included', async (t) => {
  const { env, dispose } = await environmentWithEvents(0);
  try {
    const created = await runJson(['tenants', 'create', '--name', 'json'], env);
    const tenantId = created.json.tenant.id as string;
    const keyId = created.json.keys.test.id as string;
    const runs: Array<[string[], number]> = [
      [['status'], 0],
      [['projections', 'status'], 0],
      [['rebuild', '--projection', 'usage'], 0],
      [['tenants', 'list'], 0],
      [['tenants', 'update', tenantId, '--plan', 'pro'], 0],
      [['keys', 'issue', '--tenant', tenantId, '--mode', 'test'], 0],
      [['keys', 'list', '--tenant', tenantId], 0],
      [['keys', 'origins', keyId, '--allowed-origin', 'https://app.example.com'], 0],
      [['keys', 'revoke', keyId], 0],
      [['keys', 'revoke', keyId], 1],
      [['receipts', 'verify'], 0],
      [['retention', 'run'], 0],
      [['keys', 'list', '--tenant', 'nope'], 2],
      [['keys', 'revoke', `key_${'f'.repeat(32)}`], 2],
      [['rebuild', '--batch-size', '0'], 2],
      [['frobnicate'], 2],
      [['tenants', 'list', '--bogus'], 2],
    ];
    for (const [argv, code] of runs) {
      const run = await runJson(argv, env);
      t.is(run.code, code, `${argv.join(' ')}: ${run.stderr}`);
      if (code === 2) t.is(typeof run.json.error.message, 'string');
    }
    t.deepEqual((await runJson(['keys', 'revoke', `key_${'f'.repeat(32)}`], env)).json.error, { code: 'NOT_FOUND', message: `no key key_${'f'.repeat(32)}: facesmash keys list --tenant ID shows a tenant's keys`, details: { keyId: `key_${'f'.repeat(32)}` } });
    const config = await runJson(['status'], { PORT: 'x' });
    t.is(config.code, 78);
    t.is(config.json.error.code, 'CONFIG_ERROR');
    t.regex(config.json.error.message, /PORT: /);
    const noMaster = await runJson(['tenants', 'list'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    t.is(noMaster.code, 78);
    t.regex(noMaster.json.error.message, /MASTER_KEY/);
  } finally {
    await dispose();
  }
});
