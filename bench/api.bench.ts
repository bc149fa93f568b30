// npm run bench:api [-- --seconds 20 --connections 16 --users 2000 --warmup 1]
// The whole service over HTTP with autocannon: a bare Koa app and GET /healthz as baselines, then
// verify, identify and register, each for --seconds with --connections keep-alive connections.
// The service runs in this process on port 0: the embedded database in a temporary data dir
// (EMBEDDED_DB_DIR=memory:// keeps it in memory), or a scratch database on DATABASE_URL's server.
// Hazard: autocannon shares this process's event loop with the service (and the embedded database
// runs on it too), so absolute figures are low; the ratio to the bare Koa run is the useful part.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import Koa from 'koa';
import { composeService } from '../src/composition/root.ts';
import { loadConfig } from '../src/config/config.ts';
import { createScratchDatabase } from '../src/database/scratchDatabase.ts';
import { createLogger } from '../src/logging/logger.ts';
import { flag, fmt } from './support.ts';

const seconds = Number(flag('seconds', '20'));
const connections = Number(flag('connections', '16'));
const userCount = Number(flag('users', '2000'));
const warmupSeconds = Number(flag('warmup', '1'));
const D = 128;

// autocannon ships no type declarations: the part of its API used here.
interface Histogram {
  readonly average: number;
  readonly p50: number;
  readonly p99: number;
  readonly total: number;
}
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  setupRequest?: (request: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest;
}
interface AutocannonOptions {
  readonly url: string;
  readonly connections: number;
  readonly duration: number;
  readonly timeout?: number;
  readonly requests?: readonly AutocannonRequest[];
}
interface AutocannonResult {
  readonly requests: Histogram;
  readonly latency: Histogram;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly statusCodeStats?: Record<string, { count: number }>;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (options: AutocannonOptions) => Promise<AutocannonResult>;

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

async function listen(app: Koa): Promise<{ server: Server; url: string }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const address = server.address();
  return { server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

interface Seeded {
  readonly userId: string;
  readonly descriptor: number[];
}

async function seed(url: string, count: number, runId: string): Promise<Seeded[]> {
  const users: Seeded[] = [];
  const failures = new Map<number, number>();
  let next = 0;
  async function worker(): Promise<void> {
    while (next < count) {
      const i = next++;
      const descriptor = randomVector();
      const response = await fetch(`${url}/v1/faces/register`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ email: `seed-${runId}-${i}@bench.example.com`, descriptor, qualityScore: 0.9 }),
      });
      const body = (await response.json()) as { data?: { userId: string } };
      if (response.status === 201 && body.data) users.push({ userId: body.data.userId, descriptor });
      else failures.set(response.status, (failures.get(response.status) ?? 0) + 1);
    }
  }
  await Promise.all(Array.from({ length: connections }, worker));
  if (failures.size > 0) console.error(`seeding: ${[...failures].map(([status, n]) => `${n}× ${status}`).join(', ')}`);
  return users;
}

/** Request headers; the bench tenant's key is added once the tenant exists. */
const json: Record<string, string> = { 'content-type': 'application/json' };

interface Scenario {
  readonly name: string;
  readonly url: string;
  readonly requests: readonly AutocannonRequest[];
}

async function run(scenario: Scenario, duration: number): Promise<AutocannonResult> {
  return autocannon({ url: scenario.url, connections, duration, timeout: 30, requests: scenario.requests });
}

async function main(): Promise<void> {
  const runId = randomBytes(4).toString('hex');
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-bench-api-'));
  const serverUrl = process.env.DATABASE_URL;
  const scratch = serverUrl ? await createScratchDatabase(serverUrl, 'fs_bench_api') : undefined;
  const passThrough = Object.fromEntries(['EMBEDDED_DB_DIR', 'KURRENTDB_URL', 'MATCHER_THREADS', 'PROJECTION_BATCH_SIZE'].map((name) => [name, process.env[name]]));
  const config = loadConfig({
    ...passThrough,
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    ...(scratch ? { DATABASE_URL: scratch.url, MASTER_KEY: randomBytes(32).toString('base64') } : {}),
  });
  const logger = createLogger(process.env.LOG_LEVEL ?? 'error');
  const service = await composeService(config, logger, { startProjections: true });
  const { server, url } = await listen(service.app);
  // An enterprise tenant: the bench measures the API, not the plan's rate limits.
  const { tenant, keys } = await service.tenants.createTenant({ name: 'bench', plan: 'enterprise' }, 'bench');
  json.authorization = `Bearer ${keys.live.key}`;

  const bare = new Koa();
  bare.use((ctx) => {
    ctx.body = { success: true, data: { status: 'ok' } };
  });
  const bareServer = await listen(bare);

  try {
    const where = config.database.kind === 'postgres' ? 'PostgreSQL (scratch database)' : `embedded PGlite (${config.database.dir === 'memory://' ? 'in memory' : 'temp dir'})`;
    console.log(`node ${process.version}, ${os.availableParallelism()} CPUs, ${where}, event store ${config.eventStore.kind}, ${config.matcherThreads} matcher threads`);
    console.log(`${connections} connections, ${seconds} s per scenario (+${warmupSeconds} s warm-up each), autocannon in the same process`);

    const seedStarted = performance.now();
    const users = await seed(url, userCount, runId);
    const seedMs = performance.now() - seedStarted;
    console.log(`seeded ${users.length} users over HTTP in ${fmt(seedMs / 1000)} s (${fmt((users.length * 1000) / seedMs)} registers/s)`);
    if (users.length === 0) throw new Error('seeding failed: no user was registered');

    let fresh = 0;
    const pick = () => users[Math.floor(Math.random() * users.length)]!;
    const scenarios: Scenario[] = [
      { name: 'bare Koa (baseline)', url: bareServer.url, requests: [{ method: 'GET', path: '/' }] },
      { name: 'GET /healthz', url, requests: [{ method: 'GET', path: '/healthz' }] },
      {
        name: 'POST /v1/faces/verify',
        url,
        requests: [
          {
            method: 'POST',
            path: '/v1/faces/verify',
            headers: json,
            setupRequest: (request) => {
              const user = pick();
              return { ...request, body: JSON.stringify({ userId: user.userId, descriptor: near(user.descriptor, 0.25) }) };
            },
          },
        ],
      },
      {
        name: 'POST /v1/faces/identify',
        url,
        requests: [{ method: 'POST', path: '/v1/faces/identify', headers: json, setupRequest: (request) => ({ ...request, body: JSON.stringify({ descriptor: randomVector() }) }) }],
      },
      {
        name: 'POST /v1/faces/register',
        url,
        requests: [
          {
            method: 'POST',
            path: '/v1/faces/register',
            headers: json,
            setupRequest: (request) => ({ ...request, body: JSON.stringify({ email: `fresh-${runId}-${fresh++}@bench.example.com`, descriptor: randomVector() }) }),
          },
        ],
      },
    ];

    const rows: Array<{ name: string; result: AutocannonResult }> = [];
    for (const scenario of scenarios) {
      console.error(`… ${scenario.name}`);
      if (warmupSeconds > 0) await run(scenario, warmupSeconds);
      rows.push({ name: scenario.name, result: await run(scenario, seconds) });
    }

    const baseline = rows[0]!.result.requests.average;
    const header = ['scenario', 'req/s', 'mean ms', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'vs bare Koa'];
    const table = rows.map(({ name, result }) => [
      name,
      fmt(result.requests.average),
      result.latency.average.toFixed(2),
      fmt(result.latency.p50),
      fmt(result.latency.p99),
      String(result.non2xx),
      String(result.errors + result.timeouts),
      `${((result.requests.average / baseline) * 100).toFixed(1)} %`,
    ]);
    const widths = header.map((title, i) => Math.max(title.length, ...table.map((row) => row[i]!.length)));
    const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
    console.log('');
    console.log(line(header));
    for (const row of table) console.log(line(row));
    for (const { name, result } of rows) {
      if (result.non2xx === 0) continue;
      const codes = Object.entries(result.statusCodeStats ?? {}).filter(([status]) => !status.startsWith('2'));
      console.log(`${name}: non-2xx ${codes.map(([status, stats]) => `${stats.count}× ${status}`).join(', ')}`);
    }
    console.log(`gallery: ${users.length} templates seeded, ${service.matcher.size({ tenantId: tenant.id, mode: 'live' })} at the end`);
  } finally {
    await closeServer(bareServer.server);
    await closeServer(server);
    await service.close();
    await scratch?.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

await main();
