import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { freePort } from './support/ports.ts';

const bin = fileURLToPath(new URL('../src/cli/bin.mjs', import.meta.url));

test.serial('the first start listens at once, before it opens the database: /healthz answers while /readyz is 503 naming the phase, until the service is ready', async (t) => {
  // A new data dir: the embedded database is initialised during the start, which takes seconds.
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-start-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const spawned = Date.now();
  const child = spawn(process.execPath, [bin, 'serve'], { env: { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  try {
    let health: Response | undefined;
    while (!health) {
      health = await fetch(`${base}/healthz`).catch(() => undefined);
      if (!health) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const firstAnswerMs = Date.now() - spawned;
    t.is(health.status, 200);
    // While starting, no connection is kept alive (a loop held by the database's start would
    // otherwise close a socket the client just reused: ECONNRESET).
    t.is(health.headers.get('connection'), 'close');
    const ready = await fetch(`${base}/readyz`);
    t.is(ready.status, 503, 'not ready yet');
    const body = (await ready.json()) as { error: { code: string; details: { checks: Array<{ name: string; ok: boolean; phase?: string }> } } };
    t.is(body.error.code, 'SERVICE_UNAVAILABLE');
    t.false(body.error.details.checks.every((check) => check.ok));
    // How soon is the machine's business (a busy box took 2.8 s); that it listens first is the service's.
    t.log(`/healthz answered ${firstAnswerMs} ms after the spawn`);
    const early = await fetch(`${base}/v1/users`);
    t.is(early.status, 503, 'routes answer 503 while starting');
    t.is(early.headers.get('retry-after'), '1');
    // Then the service becomes ready: the models loaded, the read models and the matcher caught up.
    for (;;) {
      const again = await fetch(`${base}/readyz`);
      if (again.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const lines = log.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { msg: string; previous?: string });
    const phases = lines.filter((line) => line.msg === 'start-up phase').map((line) => line.previous!);
    t.true(phases.includes('opening the database') && phases.includes('loading the matcher'), phases.join(', '));
    const listening = lines.findIndex((line) => line.msg === 'listening');
    const opened = lines.findIndex((line) => line.msg === 'start-up phase' && line.previous === 'opening the database');
    t.true(listening >= 0 && listening < opened, 'it listened before the database was open');
    t.regex(log, /"msg":"started"/);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});
