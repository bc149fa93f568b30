/**
 * What the HTTP benches share: the service (what `npm start` runs) in a child process on a
 * scratch database or a temporary data dir, an enterprise tenant to drive it with, and seeded
 * synthetic faces.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScratchDatabase } from '../src/database/scratchDatabase.ts';

const D = 128;
const root = fileURLToPath(new URL('..', import.meta.url));

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
export function randomVector(norm = 1): number[] {
  const v = Array.from({ length: D }, gaussian);
  const scale = norm / Math.hypot(...v);
  return v.map((x) => Math.fround(x * scale));
}

/** `base` moved by `distance` in a random direction: the same person, similarity 1 − distance. */
export function near(base: readonly number[], distance: number): number[] {
  const step = randomVector(distance);
  return base.map((x, i) => Math.fround(x + step[i]!));
}

export async function freePort(): Promise<number> {
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

/** Starts a child process in the project's folder and resolves once `readyUrl` answers 2xx. */
export async function child(args: readonly string[], env: Record<string, string | undefined>, readyUrl: string): Promise<ChildProcess> {
  const spawned = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  spawned.once('exit', (code) => {
    if (code !== null && code !== 0) console.error(`${args.join(' ')} exited with ${code}`);
  });
  await until(readyUrl, 120_000);
  return spawned;
}

export async function stopChild(process: ChildProcess): Promise<void> {
  if (process.exitCode !== null) return;
  const exited = new Promise((resolve) => process.once('exit', resolve));
  process.kill('SIGTERM');
  await exited;
}

export interface ServiceChild {
  readonly url: string;
  /** Headers of the bench tenant's live key (enterprise: no rate limit). */
  readonly json: Record<string, string>;
  /** Headers of the admin token. */
  readonly admin: Record<string, string>;
  readonly tenantId: string;
  /** PostgreSQL (a scratch database on DATABASE_URL's server) or the embedded default. */
  readonly where: 'postgres' | 'pglite';
  /** The scratch database's URL, with PostgreSQL. */
  readonly databaseUrl: string | undefined;
  stop(): Promise<void>;
}

/** The service in a child process with an enterprise tenant, on DATABASE_URL's server or the embedded default. */
export async function startService(env: Record<string, string> = {}): Promise<ServiceChild> {
  const serverUrl = process.env.DATABASE_URL;
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-bench-'));
  const scratch = serverUrl ? await createScratchDatabase(serverUrl, 'fs_bench') : undefined;
  const adminToken = randomBytes(24).toString('hex');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const service = await child(
    ['src/cli/bin.mjs', 'serve'],
    {
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      ADMIN_TOKEN: adminToken,
      DATABASE_URL: scratch?.url ?? '',
      MASTER_KEY: scratch ? randomBytes(32).toString('base64') : '',
      ...env,
    },
    `${url}/readyz`,
  );
  const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  const created = (await (await fetch(`${url}/admin/tenants`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'bench', plan: 'enterprise' }) })).json()) as {
    data: { tenant: { id: string }; keys: { live: { key: string } } };
  };
  return {
    url,
    json: { authorization: `Bearer ${created.data.keys.live.key}`, 'content-type': 'application/json' },
    admin,
    tenantId: created.data.tenant.id,
    where: scratch ? 'postgres' : 'pglite',
    databaseUrl: scratch?.url,
    async stop() {
      await stopChild(service);
      await scratch?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Registers `count` users with random faces, `parallel` requests at a time. */
export async function seedUsers(service: ServiceChild, count: number, parallel: number, label: string): Promise<Array<{ userId: string; descriptor: number[] }>> {
  const users: Array<{ userId: string; descriptor: number[] }> = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        const descriptor = randomVector();
        const response = await fetch(`${service.url}/v1/faces/register`, { method: 'POST', headers: service.json, body: JSON.stringify({ email: `${label}-${i}@bench.example.com`, descriptor, qualityScore: 0.9 }) });
        const body = (await response.json()) as { data?: { userId: string } };
        if (response.status === 201 && body.data) users.push({ userId: body.data.userId, descriptor });
      }
    }),
  );
  return users;
}
