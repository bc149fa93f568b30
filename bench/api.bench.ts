// npm run bench:api [-- --seconds 15 --connections 16 --users 2000 --warmup 2]
// The service in a child process (what `npm start` runs), driven over HTTP by autocannon from this
// one. In the same run it measures the baselines: a bare Koa route (its own child process) and a
// raw one-row INSERT loop on the same kind of database (DATABASE_URL's server with the same
// number of connections; without it, a PGlite of its own, which has one session). Each scenario
// prints req/s, p50, p99 and its ratios to both.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { createScratchDatabase } from '../src/database/scratchDatabase.ts';
import { flag, fmt } from './support.ts';

const seconds = Number(flag('seconds', '15'));
const connections = Number(flag('connections', '16'));
const userCount = Number(flag('users', '2000'));
const warmupSeconds = Number(flag('warmup', '2'));
const D = 128;
const root = fileURLToPath(new URL('..', import.meta.url));

// autocannon ships no type declarations: the part of its API used here.
interface Histogram {
  readonly average: number;
  readonly p50: number;
  readonly p99: number;
}
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
}
interface AutocannonResult {
  readonly requests: Histogram;
  readonly latency: Histogram;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly statusCodeStats?: Record<string, { count: number }>;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  url: string;
  connections: number;
  duration: number;
  timeout?: number;
  requests?: readonly AutocannonRequest[];
}) => Promise<AutocannonResult>;

let spare: number | undefined;
function gaussian(): number {
  if (spare !== undefined) {
    const value = spare;
    spare = undefined;
    return value;
  }
  const radius = Math.sqrt(-2 * Math.log(1 - Math.random()));
  const angle = 2 * Math.PI * Math.random();
  spare = radius * Math.sin(angle);
  return radius * Math.cos(angle);
}

/** A random direction of length `norm`: different people sit ~1.4 apart (similarity 0). */
function randomVector(norm = 1): number[] {
  const v = Array.from({ length: D }, gaussian);
  const scale = norm / Math.hypot(...v);
  return v.map((x) => Math.fround(x * scale));
}

/** `base` moved by `distance` in a random direction: the same person, similarity 1 − distance. */
function near(base: readonly number[], distance: number): number[] {
  const step = randomVector(distance);
  return base.map((x, i) => Math.fround(x + step[i]!));
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(url: string, timeoutMs: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() - started > timeoutMs) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts a child process and resolves once `readyUrl` answers 2xx. */
async function child(args: readonly string[], env: Record<string, string | undefined>, readyUrl: string): Promise<ChildProcess> {
  const spawned = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  spawned.once('exit', (code) => {
    if (code !== null && code !== 0) console.error(`${args.join(' ')} exited with ${code}`);
  });
  await until(readyUrl, 120_000);
  return spawned;
}

async function stopChild(process: ChildProcess): Promise<void> {
  if (process.exitCode !== null) return;
  const exited = new Promise((resolve) => process.once('exit', resolve));
  process.kill('SIGTERM');
  await exited;
}

/** The raw INSERT loop: one row per statement (its own transaction), `parallel` at a time, for `seconds`. */
async function rawInserts(target: { kind: 'postgres'; url: string } | { kind: 'pglite' }, parallel: number, durationS: number): Promise<{ perSecond: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  const payload = JSON.stringify({ descriptor: randomVector() });
  const deadline = Date.now() + durationS * 1000;
  if (target.kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: target.url, max: parallel });
    try {
      await pool.query('create table if not exists bench_raw (id bigint generated always as identity primary key, data jsonb not null)');
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          while (Date.now() < deadline) {
            const started = performance.now();
            await pool.query('insert into bench_raw (data) values ($1)', [payload]);
            latencies.push(performance.now() - started);
          }
        }),
      );
      await pool.query('drop table bench_raw');
    } finally {
      await pool.end();
    }
  } else {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-bench-raw-'));
    const pglite = new PGlite(dir);
    try {
      await pglite.exec('create table bench_raw (id bigint generated always as identity primary key, data jsonb not null)');
      while (Date.now() < deadline) {
        const started = performance.now();
        await pglite.query('insert into bench_raw (data) values ($1)', [payload]);
        latencies.push(performance.now() - started);
      }
    } finally {
      await pglite.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / durationS, p50: latencies[Math.floor(latencies.length / 2)] ?? 0, p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0 };
}

async function main(): Promise<void> {
  const runId = randomBytes(4).toString('hex');
  const serverUrl = process.env.DATABASE_URL;
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-bench-api-'));
  const scratch = serverUrl ? await createScratchDatabase(serverUrl, 'fs_bench_api') : undefined;
  const adminToken = randomBytes(24).toString('hex');
  const port = await freePort();
  const barePort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const where = scratch ? 'PostgreSQL (scratch database)' : 'embedded PGlite (temp data dir)';
  console.log(`node ${process.version}, ${os.availableParallelism()} CPUs, ${where}; ${connections} connections, ${seconds} s per scenario (+${warmupSeconds} s warm-up), autocannon in this process, the service in a child`);

  // Baselines first, while nothing else runs.
  console.error('… raw one-row INSERT loop');
  const raw = await rawInserts(scratch ? { kind: 'postgres', url: scratch.url } : { kind: 'pglite' }, scratch ? connections : 1, seconds);
  const bare = await child(['--import', 'tsx', 'bench/bareKoa.ts', String(barePort)], {}, `http://127.0.0.1:${barePort}/`);
  let service: ChildProcess | undefined;
  try {
    console.error('… bare Koa');
    await autocannon({ url: `http://127.0.0.1:${barePort}`, connections, duration: warmupSeconds });
    const bareResult = await autocannon({ url: `http://127.0.0.1:${barePort}`, connections, duration: seconds });
    await stopChild(bare);

    service = await child(
      ['src/cli/bin.mjs', 'serve'],
      {
        DATA_DIR: dataDir,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
        ADMIN_TOKEN: adminToken,
        DATABASE_URL: scratch?.url ?? '',
        MASTER_KEY: scratch ? randomBytes(32).toString('base64') : '',
      },
      `${url}/readyz`,
    );
    const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    // An enterprise tenant: the bench measures the API, not the plan's rate limits.
    const created = (await (await fetch(`${url}/admin/tenants`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'bench', plan: 'enterprise' }) })).json()) as { data: { keys: { live: { key: string } } } };
    const json = { authorization: `Bearer ${created.data.keys.live.key}`, 'content-type': 'application/json' };

    const seedStarted = performance.now();
    const users: Array<{ userId: string; descriptor: number[] }> = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (next < userCount) {
          const i = next++;
          const descriptor = randomVector();
          const response = await fetch(`${url}/v1/faces/register`, { method: 'POST', headers: json, body: JSON.stringify({ email: `seed-${runId}-${i}@bench.example.com`, descriptor, qualityScore: 0.9 }) });
          const body = (await response.json()) as { data?: { userId: string } };
          if (response.status === 201 && body.data) users.push({ userId: body.data.userId, descriptor });
        }
      }),
    );
    console.log(`seeded ${users.length} users over HTTP in ${fmt((performance.now() - seedStarted) / 1000)} s`);
    if (users.length === 0) throw new Error('seeding failed');

    const pick = () => users[Math.floor(Math.random() * users.length)]!;
    let fresh = 0;
    const post = (route: string, body: () => unknown): AutocannonRequest[] => [{ method: 'POST', path: route, headers: json, setupRequest: (request) => ({ ...request, body: JSON.stringify(body()) }) }];
    const scenarios: Array<{ name: string; requests: AutocannonRequest[]; target?: { rps?: number; rawRatio?: number; p99?: number } }> = [
      { name: 'GET /healthz', requests: [{ method: 'GET', path: '/healthz' }] },
      {
        name: 'verify (match)',
        requests: post('/v1/faces/verify', () => {
          const user = pick();
          return { userId: user.userId, descriptor: near(user.descriptor, 0.25) };
        }),
        target: scratch ? { rawRatio: 0.15, p99: 25 } : { rps: 1000 },
      },
      { name: 'identify (match)', requests: post('/v1/faces/identify', () => ({ descriptor: near(pick().descriptor, 0.25) })), target: scratch ? { rawRatio: 0.15, p99: 25 } : { rps: 1000 } },
      { name: 'identify (no match)', requests: post('/v1/faces/identify', () => ({ descriptor: randomVector() })) },
      { name: 'register (new users)', requests: post('/v1/faces/register', () => ({ email: `fresh-${runId}-${fresh++}@bench.example.com`, descriptor: randomVector() })), ...(scratch ? { target: { rps: 1000 } } : {}) },
    ];
    const rows: Array<{ name: string; result: AutocannonResult; target?: { rps?: number; rawRatio?: number; p99?: number } }> = [];
    for (const scenario of scenarios) {
      console.error(`… ${scenario.name}`);
      if (warmupSeconds > 0) await autocannon({ url, connections, duration: warmupSeconds, requests: scenario.requests });
      rows.push({ name: scenario.name, result: await autocannon({ url, connections, duration: seconds, timeout: 30, requests: scenario.requests }), ...(scenario.target ? { target: scenario.target } : {}) });
    }

    const header = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'vs bare Koa', 'vs raw INSERT', 'target'];
    const table = [
      ['bare Koa route (baseline)', fmt(bareResult.requests.average), fmt(bareResult.latency.p50), fmt(bareResult.latency.p99), '0', String(bareResult.errors), '1.000x', '', ''],
      [`raw INSERT loop (${scratch ? `${connections} connections` : 'one session'})`, fmt(raw.perSecond), raw.p50.toFixed(2), raw.p99.toFixed(2), '0', '0', '', '1.000x', ''],
      ...rows.map(({ name, result, target }) => {
        const rps = result.requests.average;
        const verdict = target
          ? [
              target.rps !== undefined ? `${rps >= target.rps ? 'met' : 'MISSED'} >= ${target.rps} req/s` : '',
              target.rawRatio !== undefined ? `${rps / raw.perSecond >= target.rawRatio ? 'met' : 'MISSED'} >= ${target.rawRatio}x raw` : '',
              target.p99 !== undefined ? `${result.latency.p99 <= target.p99 ? 'met' : 'MISSED'} p99 <= ${target.p99} ms` : '',
            ]
              .filter(Boolean)
              .join(', ')
          : '';
        return [name, fmt(rps), fmt(result.latency.p50), fmt(result.latency.p99), String(result.non2xx), String(result.errors + result.timeouts), `${(rps / bareResult.requests.average).toFixed(3)}x`, `${(rps / raw.perSecond).toFixed(3)}x`, verdict];
      }),
    ];
    const widths = header.map((title, i) => Math.max(title.length, ...table.map((row) => row[i]!.length)));
    const line = (cells: string[]) => cells.map((cell, i) => (i === 0 || i === cells.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
    console.log('');
    console.log(line(header));
    for (const row of table) console.log(line(row));
    for (const { name, result } of rows) {
      if (result.non2xx === 0) continue;
      const codes = Object.entries(result.statusCodeStats ?? {}).filter(([status]) => !status.startsWith('2'));
      console.log(`${name}: non-2xx ${codes.map(([status, stats]) => `${stats.count}× ${status}`).join(', ')}`);
    }
  } finally {
    await stopChild(bare);
    if (service) await stopChild(service);
    await scratch?.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

await main();
