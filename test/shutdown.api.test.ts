import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { atDistance, randomVector, seededRandom } from './support/faces.ts';
import { client } from './support/http.ts';
import { freshPostgres, postgresUrl } from './support/databases.ts';
import { embeddedDatabaseCopy } from './support/pgliteTemplate.ts';
import { startServiceProcess } from './support/serviceProcess.ts';

const random = seededRandom(99);
const shutdownTimeoutMs = 2000;
// SIGTERM to exit: the contract is SHUTDOWN_TIMEOUT_MS + 1 s; the rest is the OS reaping a process.
const exitBound = shutdownTimeoutMs + 1000 + 300;

/** A data dir holding an initialised (empty) embedded database, as `npm start` leaves it. */
async function embeddedDataDir(): Promise<string> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-proc-'));
  await fs.rename(await embeddedDatabaseCopy(), path.join(dataDir, 'pglite'));
  return dataDir;
}

test.serial('the embedded default restarts on a data dir that holds a face, and SIGTERM exits 0 each time', async (t) => {
  const dataDir = await embeddedDataDir();
  try {
    const env = { DATA_DIR: dataDir, SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) };
    const first = await startServiceProcess(env);
    t.truthy(first.firstKeys, 'the first start prints the default keys');
    const auth = { authorization: `Bearer ${first.firstKeys!.live}` };
    const face = randomVector(random);
    const registered = await client(first.baseUrl, auth).post('/v1/faces/register', { email: 'restart@example.com', descriptor: face });
    t.is(registered.status, 201, JSON.stringify(registered.body));
    const firstStop = await first.stop();
    t.is(firstStop.code, 0);

    const second = await startServiceProcess(env);
    t.is(second.firstKeys, undefined, 'keys are printed once');
    const identified = await client(second.baseUrl, auth).post('/v1/faces/identify', { descriptor: atDistance(face, 0.1, random) });
    t.is(identified.status, 200);
    t.is(identified.body.data.matches[0]?.userId, registered.body.data.userId);
    const secondStop = await second.stop();
    t.is(secondStop.code, 0);
    t.true(secondStop.ms < exitBound, `exited after ${secondStop.ms} ms`);
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});

test.serial('a request whose body never finishes cannot hold the process past SHUTDOWN_TIMEOUT_MS + 1 s', async (t) => {
  const dataDir = await embeddedDataDir();
  try {
    const service = await startServiceProcess({ DATA_DIR: dataDir, SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) });
    const { port } = new URL(service.baseUrl);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.on('error', () => {});
    socket.write(`POST /v1/faces/register HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${service.firstKeys!.live}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"email":`);
    // Let the server take the headers and start waiting for the body.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stopped = await service.stop();
    t.true(stopped.ms < exitBound, `exited after ${stopped.ms} ms`);
    t.true(stopped.ms >= shutdownTimeoutMs - 100, 'it waited for the request until the deadline');
    t.is(stopped.code, 1, 'a connection had to be destroyed, so the exit is not clean');
    socket.destroy();
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});

test.serial('SIGTERM answers the request in flight, refuses new requests on kept-alive sockets with 503 and Connection: close, and exits 0', async (t) => {
  const dataDir = await embeddedDataDir();
  // Long enough that the request in flight finishes on a busy machine: this test is about
  // answering it, the deadline is tested above.
  const timeoutMs = 10_000;
  try {
    // The idle kept-alive socket must still be open when the test's request reaches it after the
    // signal: the grace (250 ms by default) is set wider than a busy machine's log round trip.
    const service = await startServiceProcess({ DATA_DIR: dataDir, SHUTDOWN_TIMEOUT_MS: String(timeoutMs), SHUTDOWN_IDLE_GRACE_MS: '5000' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const key = service.firstKeys!.live;
    const call = (method: string, route: string, body?: unknown) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: any }>((resolve, reject) => {
        const request = http.request(`${service.baseUrl}${route}`, { method, agent, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } }, (response) => {
          let text = '';
          response.setEncoding('utf8').on('data', (chunk) => (text += chunk));
          response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: JSON.parse(text) }));
        });
        request.on('error', reject);
        request.end(body === undefined ? undefined : JSON.stringify(body));
      });
    // A slow request in flight on its own connection: image analysis takes hundreds of ms (once
    // the models are loaded; loading them could outlast the shutdown timeout).
    await service.waitForLog(/^face models loaded$/);
    // A kept-alive socket, idle when the signal comes (opened after the models loaded, so the
    // keep-alive timeout cannot close it first).
    t.is((await call('GET', '/healthz')).status, 200);
    const require = createRequire(import.meta.url);
    const photo = await fs.readFile(path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo', 'sample2.jpg'));
    const inFlight = client(service.baseUrl, { authorization: `Bearer ${key}` }).post('/v1/faces/detect', { image: photo.toString('base64') });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopping = service.stop();
    await service.waitForLog(/^shutting down/);
    const refused = await call('GET', '/v1/users');
    t.is(refused.status, 503);
    t.is(refused.body.error.code, 'SERVICE_UNAVAILABLE');
    t.is(refused.headers.connection, 'close');
    const answered = await inFlight;
    t.is(answered.status, 200, 'the request in flight was answered');
    t.true(answered.body.data.detected);
    const stopped = await stopping;
    t.is(stopped.code, 0);
    t.true(stopped.ms < timeoutMs, `exited after ${stopped.ms} ms`);
    agent.destroy();
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});

const onPostgres = postgresUrl ? test.serial : test.skip;

onPostgres('PostgreSQL, keep-alive load: after SIGTERM only requests in flight are served, none is reset, and the exit is 0 within the bound', async (t) => {
  const database = await freshPostgres();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-proc-'));
  try {
    const adminToken = randomBytes(24).toString('hex');
    const service = await startServiceProcess({
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      MASTER_KEY: randomBytes(32).toString('base64'),
      ADMIN_TOKEN: adminToken,
      SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
    });
    const admin = client(service.baseUrl, { authorization: `Bearer ${adminToken}` });
    const created = await admin.post('/admin/tenants', { name: 'load', plan: 'enterprise' });
    t.is(created.status, 201);
    const key = created.body.data.keys.live.key as string;
    const face = randomVector(random);
    const user = await client(service.baseUrl, { authorization: `Bearer ${key}` }).post('/v1/faces/register', { email: 'load@example.com', descriptor: face });
    t.is(user.status, 201);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const body = JSON.stringify({ userId: user.body.data.userId, descriptor: atDistance(face, 0.1, random) });
    let signalled = 0;
    const outcomes: Array<{ status: number | string; sentBeforeSignal: boolean; code?: string }> = [];
    const once = () =>
      new Promise<void>((resolve) => {
        const sentBeforeSignal = signalled === 0;
        const request = http.request(`${service.baseUrl}/v1/faces/verify`, { method: 'POST', agent, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } }, (response) => {
          let text = '';
          response.setEncoding('utf8').on('data', (chunk) => (text += chunk));
          response.on('end', () => {
            outcomes.push({ status: response.statusCode!, sentBeforeSignal, code: JSON.parse(text).error?.code });
            resolve();
          });
        });
        request.on('error', (error: NodeJS.ErrnoException) => {
          outcomes.push({ status: error.code ?? 'error', sentBeforeSignal });
          resolve();
        });
        request.end(body);
      });
    const loops = Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 2000; i++) {
        await once();
        if (outcomes.at(-1)!.status === 'ECONNREFUSED') return;
      }
    });
    // The signal comes once the load runs (a count, not a time: a busy machine is slow to start it).
    while (outcomes.filter((o) => o.status === 200).length < 40) await new Promise((resolve) => setTimeout(resolve, 20));
    signalled = Date.now();
    const stopped = await service.stop();
    await Promise.all(loops);
    agent.destroy();
    t.is(stopped.code, 0);
    t.true(stopped.ms < exitBound, `exited after ${stopped.ms} ms`);
    const before = outcomes.filter((o) => o.sentBeforeSignal);
    // A request sent just before the signal may reach a server already draining: 503, never a reset.
    for (const outcome of before) t.true(outcome.status === 200 || outcome.status === 503, JSON.stringify(outcome));
    t.true(before.filter((o) => o.status === 200).length >= 40, 'the load ran');
    const after = outcomes.filter((o) => !o.sentBeforeSignal);
    for (const outcome of after) t.true(outcome.status === 503 || outcome.status === 'ECONNREFUSED' || outcome.status === 200, JSON.stringify(outcome));
    // Only requests already in flight at the signal may still be served; nothing after it.
    t.true(after.filter((o) => o.status === 200).length <= 8);
  } finally {
    await database.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});
