// npm run bench:api [-- --seconds 15 --connections 16 --users 2000 --warmup 2]
// The service in a child process (what `npm start` runs), driven over HTTP by autocannon from this
// one. In the same run it measures the baselines: a bare Koa route (its own child process) and a
// raw one-row INSERT loop on the same kind of database (DATABASE_URL's server with the same
// number of connections; without it, a PGlite of its own, which has one session). Each scenario
// prints req/s, p50, p99 and its ratios to both.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { createScratchDatabase } from '../src/database/scratchDatabase.ts';
import { flag, fmt } from './support.ts';
import { child, freePort, near, randomVector, seedUsers, startService, stopChild, type ServiceChild } from './serviceChild.ts';

const seconds = Number(flag('seconds', '15'));
const connections = Number(flag('connections', '16'));
const userCount = Number(flag('users', '2000'));
const warmupSeconds = Number(flag('warmup', '2'));

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
  const barePort = await freePort();
  const where = process.env.DATABASE_URL ? 'PostgreSQL (scratch database)' : 'embedded PGlite (temp data dir)';
  console.log(`node ${process.version}, ${os.availableParallelism()} CPUs, ${where}; ${connections} connections, ${seconds} s per scenario (+${warmupSeconds} s warm-up), autocannon in this process, the service in a child`);

  // Baselines first, while nothing else runs.
  console.error('… raw one-row INSERT loop');
  const rawTarget = process.env.DATABASE_URL ? await createScratchDatabase(process.env.DATABASE_URL, 'fs_bench_raw') : undefined;
  const raw = await rawInserts(rawTarget ? { kind: 'postgres', url: rawTarget.url } : { kind: 'pglite' }, rawTarget ? connections : 1, seconds).finally(() => rawTarget?.drop());
  const bare = await child(['--import', 'tsx', 'bench/bareKoa.ts', String(barePort)], {}, `http://127.0.0.1:${barePort}/`);
  let service: ServiceChild | undefined;
  try {
    console.error('… bare Koa');
    await autocannon({ url: `http://127.0.0.1:${barePort}`, connections, duration: warmupSeconds });
    const bareResult = await autocannon({ url: `http://127.0.0.1:${barePort}`, connections, duration: seconds });
    await stopChild(bare);

    service = await startService();
    const { url, json } = service;
    const scratch = service.where === 'postgres';
    const seedStarted = performance.now();
    const users = await seedUsers(service, userCount, connections, `seed-${runId}`);
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
    await service?.stop();
  }
}

await main();
