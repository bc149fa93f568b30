// npm run bench:growth [-- --history 10000 --samples 40]
// Does a command cost more once the history is long? The service in a child process (on
// DATABASE_URL's server, or the embedded default); for one user and one tenant it measures, over
// HTTP, the latency of adding a template (register of a known email), of removing one, and of a
// tenant command (issuing a key), first with no history, then after --history sign-ins of that
// user and --history identify misses of that tenant. Prints the medians and the ratio after/before
// (the bound: <= 1.2).
import os from 'node:os';
import { flag, fmt, median } from './support.ts';
import { near, randomVector, startService, type ServiceChild } from './serviceChild.ts';

const history = Number(flag('history', '10000'));
const samples = Number(flag('samples', '40'));
const parallel = Number(flag('connections', '16'));

interface Timings {
  readonly addTemplate: number;
  readonly removeTemplate: number;
  readonly tenantCommand: number;
}

async function call(service: ServiceChild, method: string, route: string, body: unknown, headers = service.json): Promise<{ status: number; data: any }> {
  const response = await fetch(`${service.url}${route}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const parsed = (await response.json()) as { data?: unknown };
  return { status: response.status, data: parsed.data };
}

/** One sample of each command, interleaved so that machine noise hits all three alike; medians. */
async function measure(service: ServiceChild, email: string, face: number[]): Promise<Timings> {
  const add: number[] = [];
  const remove: number[] = [];
  const tenant: number[] = [];
  for (let i = 0; i < samples; i++) {
    let started = performance.now();
    const added = await call(service, 'POST', '/v1/faces/register', { email, descriptor: near(face, 0.05), qualityScore: 0.99 });
    add.push(performance.now() - started);
    if (added.status !== 201) throw new Error(`register answered ${added.status}`);
    started = performance.now();
    const removed = await call(service, 'DELETE', `/v1/faces/templates/${added.data.templateId}`, undefined);
    remove.push(performance.now() - started);
    if (removed.status !== 200) throw new Error(`template removal answered ${removed.status}`);
    started = performance.now();
    const issued = await call(service, 'POST', `/admin/tenants/${service.tenantId}/keys`, { mode: 'test', name: `growth ${i}` }, service.admin);
    tenant.push(performance.now() - started);
    if (issued.status !== 201) throw new Error(`key issue answered ${issued.status}`);
  }
  return { addTemplate: median(add), removeTemplate: median(remove), tenantCommand: median(tenant) };
}

/** `count` requests, `parallel` at a time. */
async function flood(count: number, request: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        next += 1;
        await request();
      }
    }),
  );
  return performance.now() - started;
}

const service = await startService();
try {
  console.log(`node ${process.version}, ${os.availableParallelism()} CPUs, ${service.where === 'postgres' ? 'PostgreSQL (scratch database)' : 'embedded PGlite'}; ${samples} samples per command, medians`);
  const face = randomVector();
  const email = 'growth@bench.example.com';
  const user = await call(service, 'POST', '/v1/faces/register', { email, descriptor: face, qualityScore: 0.5 });
  const before = await measure(service, email, face);
  const signInMs = await flood(history, () => call(service, 'POST', '/v1/faces/verify', { userId: user.data.userId, descriptor: near(face, 0.2) }));
  const missMs = await flood(history, () => call(service, 'POST', '/v1/faces/identify', { descriptor: randomVector() }));
  console.log(`recorded ${fmt(history)} sign-ins of the user in ${fmt(signInMs / 1000)} s and ${fmt(history)} identify misses of the tenant in ${fmt(missMs / 1000)} s`);
  const after = await measure(service, email, face);
  const rows: Array<[string, number, number]> = [
    ['add a template (register, known email)', before.addTemplate, after.addTemplate],
    ['remove a template', before.removeTemplate, after.removeTemplate],
    ['tenant command (issue a key)', before.tenantCommand, after.tenantCommand],
  ];
  const header = ['command', 'no history ms', `after ${fmt(history)} ms`, 'ratio', 'bound 1.2'];
  const table = rows.map(([name, a, b]) => [name, a.toFixed(2), b.toFixed(2), (b / a).toFixed(2), b / a <= 1.2 ? 'met' : 'MISSED']);
  const widths = header.map((title, i) => Math.max(title.length, ...table.map((row) => row[i]!.length)));
  console.log('');
  console.log(header.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
  for (const row of table) console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
} finally {
  await service.stop();
}
