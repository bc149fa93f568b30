// npm run bench:identify [-- --sizes 100000,1000000 --queries 200 --check 20 --clients 8]
// 1:N identify over seeded galleries of synthetic identities: latency p50/p99 with 1 and 2 worker
// threads, throughput under concurrent clients, memory, gallery load time, and agreement of the
// top-1 with a float32 brute force. Latencies are medians over --queries; the machine is noisy.
import { runInNewContext } from 'node:vm';
import v8 from 'node:v8';
import { createMatcher, type GalleryKey, type IdentifyOptions, type Matcher } from '../src/matching/matcher.ts';
import { seededRandom } from '../test/support/faces.ts';
import { flag, fmt, median, percentile, rate, timed } from './support.ts';

const sizes = flag('sizes', '100000,1000000').split(',').map(Number);
const queryCount = Number(flag('queries', '200'));
const checkCount = Number(flag('check', '20'));
const clients = Number(flag('clients', '8'));
const D = 128;
const key: GalleryKey = { tenantId: 'bench', mode: 'live' };
const options: IdentifyOptions = { maxResults: 5, minSimilarity: 0 };

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let spare: number | undefined;
function gaussian(random: () => number): number {
  if (spare !== undefined) {
    const value = spare;
    spare = undefined;
    return value;
  }
  const radius = Math.sqrt(-2 * Math.log(1 - random()));
  const angle = 2 * Math.PI * random();
  spare = radius * Math.sin(angle);
  return radius * Math.cos(angle);
}

function uuid(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

interface Dataset {
  readonly rows: Float32Array;
  readonly templateIds: string[];
  readonly userIds: string[];
  readonly queries: Float32Array[];
}

// A person is a unit center sharing a common direction with everyone (so different people sit
// ~0.8–1.2 apart, like face-api descriptors) and 1–10 templates with noise of norm ~0.2–0.3
// (same-person distances ~0.3–0.45). Queries are fresh samples of random people.
function dataset(size: number, queries: number): Dataset {
  const random = seededRandom(size);
  const base = unit(Array.from({ length: D }, () => gaussian(random)));
  const rows = new Float32Array(size * D);
  const templateIds: string[] = [];
  const userIds: string[] = [];
  const people: Array<{ center: number[]; noise: number; userId: string }> = [];
  for (let row = 0; row < size; ) {
    const own = unit(Array.from({ length: D }, () => gaussian(random)));
    const center = unit(base.map((b, j) => b + own[j]!));
    const person = { center, noise: (0.2 + 0.1 * random()) / Math.sqrt(D), userId: uuid(random) };
    people.push(person);
    const templates = Math.min(size - row, 1 + Math.floor(random() * 10));
    for (let t = 0; t < templates; t++, row++) {
      sample(person.center, person.noise, random, rows, row * D);
      templateIds.push(uuid(random));
      userIds.push(person.userId);
    }
  }
  const list = Array.from({ length: queries }, () => {
    const person = people[Math.floor(random() * people.length)]!;
    const query = new Float32Array(D);
    sample(person.center, person.noise, random, query, 0);
    return query;
  });
  return { rows, templateIds, userIds, queries: list };
}

function unit(v: number[]): number[] {
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

function sample(center: number[], noise: number, random: () => number, out: Float32Array, offset: number): void {
  for (let j = 0; j < D; j++) out[offset + j] = center[j]! + noise * gaussian(random);
}

/** The float32 reference: one row at a time, each step rounded to f32. */
function bruteForceTop1(data: Dataset, query: Float32Array): { userId: string; templateId: string } {
  const f = Math.fround;
  let best = Number.POSITIVE_INFINITY;
  let bestRow = -1;
  const { rows } = data;
  for (let row = 0, o = 0; o < rows.length; row++, o += D) {
    let sum = 0;
    for (let j = 0; j < D; j++) {
      const e = f(rows[o + j]! - query[j]!);
      sum = f(sum + f(e * e));
    }
    if (sum < best) {
      best = sum;
      bestRow = row;
    }
  }
  return { userId: data.userIds[bestRow]!, templateId: data.templateIds[bestRow]! };
}

async function load(matcher: Matcher, data: Dataset): Promise<number> {
  const { ms } = await timed(async () => {
    for (let i = 0; i < data.templateIds.length; i++) {
      matcher.add(key, { templateId: data.templateIds[i]!, userId: data.userIds[i]!, descriptor: data.rows.subarray(i * D, (i + 1) * D) });
    }
  });
  return ms;
}

// Worker threads start lazily in the background; keep their own memory out of the RSS delta.
async function startThreads(matcher: Matcher, threads: number): Promise<void> {
  const warm: GalleryKey = { tenantId: 'warm-up', mode: 'test' };
  matcher.add(warm, { templateId: 'warm-up', userId: 'warm-up', descriptor: new Float32Array(D) });
  await Promise.all(Array.from({ length: 4 * threads }, () => matcher.identify(warm, new Float32Array(D), options)));
}

async function latencies(matcher: Matcher, queries: Float32Array[]): Promise<number[]> {
  for (const query of queries.slice(0, 10)) await matcher.identify(key, query, options);
  const out: number[] = [];
  for (const query of queries) out.push((await timed(() => matcher.identify(key, query, options))).ms);
  return out;
}

async function throughput(matcher: Matcher, queries: Float32Array[]): Promise<number> {
  let next = 0;
  const { ms } = await timed(() =>
    Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < queries.length) await matcher.identify(key, queries[next++]!, options);
      }),
    ),
  );
  return rate(queries.length, ms);
}

async function agreement(matcher: Matcher, data: Dataset, references: ReadonlyArray<{ userId: string; templateId: string }>): Promise<string> {
  let same = 0;
  for (const [i, reference] of references.entries()) {
    const { matches } = await matcher.identify(key, data.queries[i]!, { maxResults: 1, minSimilarity: 0 });
    if (matches[0]?.userId === reference.userId && matches[0]?.templateId === reference.templateId) same++;
  }
  return `${same}/${references.length}${same === references.length ? '' : '  MISMATCH'}`;
}

// Shard memories of a closed matcher are freed by the collector, their backing stores on a
// background sweeper thread: collect twice with a pause so the reading is not mid-release.
async function settledRss(): Promise<number> {
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return process.memoryUsage().rss;
}

const mib = (bytes: number) => `${fmt(bytes / 2 ** 20)} MiB`;
console.log(`identify bench: ${queryCount} queries per run, maxResults ${options.maxResults}, minSimilarity ${options.minSimilarity}, ${clients} clients for throughput`);
console.log('scan "quantized" (default): int8 codes pick candidates, exact f32 distances decide; "float": the f32 baseline');
for (const size of sizes) {
  const generated = await timed(async () => dataset(size, queryCount));
  const data = generated.value;
  console.log(`\n${fmt(size)} templates, ${fmt(new Set(data.userIds).size)} users (generated in ${fmt(generated.ms)} ms)`);
  const references = data.queries.slice(0, checkCount).map((query) => bruteForceTop1(data, query));
  for (const scan of ['quantized', 'float'] as const) {
    const p50: Record<number, number> = {};
    for (const threads of [1, 2]) {
      const matcher = createMatcher({ threads, scan, inlineRows: 0 });
      await startThreads(matcher, threads);
      const rssBefore = await settledRss();
      const loadMs = await load(matcher, data);
      const rssDelta = (await settledRss()) - rssBefore;
      const ms = await latencies(matcher, data.queries);
      p50[threads] = median(ms);
      console.log(`  ${scan.padEnd(9)} ${threads} thread${threads > 1 ? 's' : ' '}: identify p50 ${fmt(median(ms))} ms  p99 ${fmt(percentile(ms, 99))} ms`);
      if (threads === 2) {
        console.log(`    speed-up of 2 threads over 1 (p50): ${(p50[1]! / p50[2]!).toFixed(2)}x`);
        console.log(`    throughput, ${clients} concurrent clients, 2 threads: ${fmt(await throughput(matcher, data.queries))} queries/s`);
        console.log(`    top-1 agreement with float32 brute force: ${await agreement(matcher, data, references)}`);
        if (scan === 'quantized') {
          const scale = 1e6 / size;
          console.log(`    load: ${fmt(loadMs)} ms (${fmt(rate(size, loadMs))} templates/s)`);
          console.log(`    memory per 1M templates: descriptor storage ${mib(matcher.memoryBytes() * scale)}, RSS delta ${mib(rssDelta * scale)}`);
        }
      }
      await matcher.close();
    }
  }
}
