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
    env: { DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...(fresh ? { DATABASE_URL: fresh.url, MASTER_KEY: randomBytes(32).toString('base64') } : {}) },
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
