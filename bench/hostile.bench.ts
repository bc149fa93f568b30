// npm run bench:hostile [-- --runs 5]
// What a small hostile request costs: for each payload, the time to answer it, the size of the
// answer, and how long GET /healthz waits meanwhile (the event loop the payload holds), next to
// the same figures for a 1 MB body that is merely refused (one unknown string field, the cost of
// receiving and parsing a megabyte) and to /healthz on an idle service, all measured in this run.
// The service runs in this process on port 0, on the embedded database (EMBEDDED_DB_DIR=memory://
// by default) or a scratch database on DATABASE_URL's server.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { composeService } from '../src/composition/root.ts';
import { loadConfig } from '../src/config/config.ts';
import { createScratchDatabase } from '../src/database/scratchDatabase.ts';
import { createLogger } from '../src/logging/logger.ts';
import { flag, fmt, median } from './support.ts';

const runs = Number(flag('runs', '5'));

interface Payload {
  readonly name: string;
  readonly path: string;
  readonly body: string;
}

const payloads: readonly Payload[] = [
  { name: '1 MB string in an unknown field (baseline)', path: '/v1/webhooks', body: JSON.stringify({ url: 'http://127.0.0.1:9/x', pad: 'a'.repeat(1_040_000) }) },
  { name: 'webhook, 349,000 empty event names', path: '/v1/webhooks', body: JSON.stringify({ url: 'http://127.0.0.1:9/x', events: new Array(349_000).fill('') }) },
  { name: 'identify, descriptor of 500,000 strings', path: '/v1/faces/identify', body: JSON.stringify({ descriptor: new Array(500_000).fill('') }).slice(0, 1_040_000) + '""]}' },
  { name: 'identify, 128 strings (128 issues)', path: '/v1/faces/identify', body: JSON.stringify({ descriptor: new Array(128).fill('x') }) },
  { name: 'arrays nested 500,000 deep', path: '/v1/faces/identify', body: `${'['.repeat(500_000)}${']'.repeat(500_000)}` },
  { name: '60,000 unknown fields', path: '/v1/faces/identify', body: JSON.stringify(Object.fromEntries(Array.from({ length: 60_000 }, (_, i) => [`f${i}`, 0]))) },
];

async function main(): Promise<void> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-bench-hostile-'));
  const serverUrl = process.env.DATABASE_URL;
  const scratch = serverUrl ? await createScratchDatabase(serverUrl, 'fs_bench_hostile') : undefined;
  const config = loadConfig({
    EMBEDDED_DB_DIR: process.env.EMBEDDED_DB_DIR ?? 'memory://',
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    ...(scratch ? { DATABASE_URL: scratch.url, MASTER_KEY: randomBytes(32).toString('base64') } : {}),
  });
  const service = await composeService(config, createLogger(process.env.LOG_LEVEL ?? 'error'), { startProjections: true });
  const server = service.app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const { keys } = await service.tenants.createTenant({ name: 'bench', plan: 'enterprise' }, 'bench');
  const headers = { authorization: `Bearer ${keys.live.key}`, 'content-type': 'application/json' };

  /** The slowest /healthz answer while `work` runs (polled one at a time). */
  async function healthzDuring(work: Promise<unknown>): Promise<number> {
    let done = false;
    void work.finally(() => (done = true));
    let slowest = 0;
    do {
      const started = performance.now();
      await (await fetch(`${url}/healthz`)).arrayBuffer();
      slowest = Math.max(slowest, performance.now() - started);
    } while (!done);
    return slowest;
  }

  try {
    console.log(`node ${process.version}, ${os.availableParallelism()} CPUs, ${config.database.kind}, ${runs} runs per payload (medians)`);
    const idle: number[] = [];
    for (let i = 0; i < runs; i++) idle.push(await healthzDuring(new Promise((resolve) => setTimeout(resolve, 200))));
    console.log(`GET /healthz on an idle service: slowest of 200 ms of polling ${fmt(median(idle))} ms`);
    console.log('| payload | request | status | answer | answer time | slowest /healthz meanwhile |');
    console.log('|---|---|---|---|---|---|');
    let baseline = 0;
    for (const payload of payloads) {
      const times: number[] = [];
      const stalls: number[] = [];
      let status = 0;
      let bytes = 0;
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const request = fetch(`${url}${payload.path}`, { method: 'POST', headers, body: payload.body }).then(async (response) => {
          status = response.status;
          bytes = (await response.arrayBuffer()).byteLength;
          times.push(performance.now() - started);
        });
        stalls.push(await healthzDuring(request));
        await request;
      }
      const time = median(times);
      if (baseline === 0) baseline = time;
      console.log(`| ${payload.name} | ${fmt(Buffer.byteLength(payload.body) / 1024)} KB | ${status} | ${fmt(bytes / 1024)} KB | ${fmt(time)} ms (${fmt(time / baseline)}× baseline) | ${fmt(median(stalls))} ms |`);
    }
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await service.close();
    await scratch?.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

await main();
