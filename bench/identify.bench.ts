// npm run bench:identify [-- --sizes 1000000,10000000 --queries 200 --check 1000 --threshold 0.45 --modes service,exhaustive --scans quantized,quantized-simd128,float]
// 1:N identify over seeded galleries of synthetic identities, with the machine's memory read
// bandwidth measured in the same run: latency p50/p99 with 1 and 2 worker threads and the ratio
// of p50 to the int8-code floor (reading 128 bytes per template once at that bandwidth),
// queries/s with 1, 8 and 32 concurrent clients (at least 16 calls each; calls arriving during a scan are batched), load
// time, memory, and top-1 and top-5 agreement with a float32 brute force over --check queries
// (answered by 8 concurrent clients, so through batches). Two kinds of call, on the same matcher:
// `service`, what POST /v1/faces/identify asks (the users within --threshold, the tenants'
// default match threshold, and the nearest user for a miss), and `exhaustive`, the 5 nearest
// users whatever their similarity (minSimilarity 0, the worst case for the scan's bounds).
// Latencies are over --queries; the machine is shared and noisy, so compare figures of one run.
import { runInNewContext } from 'node:vm';
import v8 from 'node:v8';
import wabt from 'wabt';
import { kernelSource, loadKernel, relaxedSimd, type ScanKind, type ScanQuery } from '../workers/matcherKernel.ts';
import { createMatcher, prepareQuery, type GalleryEntry, type GalleryKey, type IdentifyOptions, type Matcher } from '../src/matching/matcher.ts';
import { similarityOf, squaredBoundOf } from '../src/matching/distance.ts';
import { createGallery } from '../src/matching/gallery.ts';
import { wasm, WASM_PAGE, type WasmMemory } from '../src/matching/wasm.ts';
import { seededRandom } from '../test/support/faces.ts';
import { readBandwidth } from './bandwidth.ts';
import { flag, fmt, median, percentile, rate, timed } from './support.ts';

const sizes = flag('sizes', '1000000').split(',').map(Number);
const queryCount = Number(flag('queries', '200'));
const checkCount = Number(flag('check', '1000'));
const threshold = Number(flag('threshold', '0.45'));
type Mode = 'service' | 'stranger' | 'exhaustive';
/** Stranger queries checked against the brute force (their misses all look alike). */
const STRANGER_CHECKS = 300;
const modes = flag('modes', 'service,stranger,exhaustive').split(',') as Mode[];
const scans = flag('scans', 'quantized').split(',') as ScanKind[];
const D = 128;
const key: GalleryKey = { tenantId: 'bench', mode: 'live' };
const optionsOf: Record<Mode, IdentifyOptions> = {
  service: { maxResults: 5, minSimilarity: threshold, nearest: true },
  stranger: { maxResults: 5, minSimilarity: threshold, nearest: true },
  exhaustive: { maxResults: 5, minSimilarity: 0 },
};
const describe: Record<Mode, string> = {
  service: `service (an enrolled face; threshold ${threshold}, nearest for a miss)`,
  stranger: 'stranger (the same call with a face never enrolled: a miss)',
  exhaustive: 'exhaustive (an enrolled face, the 5 nearest users whatever their similarity)',
};

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

/** Rows per chunk of the dataset: each chunk is one WASM memory (256 MiB), which the brute force scans. */
const CHUNK_ROWS = 524288;

interface Dataset {
  /** Row i is at float (i % CHUNK_ROWS) · D of chunk ⌊i / CHUNK_ROWS⌋. */
  readonly chunks: Array<{ memory: WasmMemory; rows: Float32Array; count: number }>;
  readonly templateIds: string[];
  readonly userIds: string[];
  readonly queries: Float32Array[];
  /** Faces of people who are not in the gallery: identify's misses. */
  readonly strangers: Float32Array[];
}

// A person is a unit center sharing a common direction with everyone (so different people sit
// ~0.8–1.2 apart, like face-api descriptors) and 1–10 templates with noise of norm ~0.2–0.3
// (same-person distances ~0.3–0.45). Queries are fresh samples of random people; strangers are
// samples of people made the same way who were never enrolled.
function dataset(size: number, queries: number, strangerCount: number): Dataset {
  const random = seededRandom(size);
  const base = unit(Array.from({ length: D }, () => gaussian(random)));
  const chunks = Array.from({ length: Math.ceil(size / CHUNK_ROWS) }, (_, c) => {
    const count = Math.min(CHUNK_ROWS, size - c * CHUNK_ROWS);
    // The query at 0, the rows at 1024, then room for the brute force's distances.
    const pages = Math.ceil((1024 + count * D * 4 + count * 4) / WASM_PAGE);
    const memory = new wasm.Memory({ initial: pages, maximum: pages, shared: true });
    return { memory, rows: new Float32Array(memory.buffer, 1024, count * D), count };
  });
  const templateIds: string[] = [];
  const userIds: string[] = [];
  // A uniform sample of the people (reservoir sampling) to draw the queries from: keeping all of
  // them would hold 128 numbers per person, ~2 GB of heap at 10M templates.
  const people: Array<{ center: number[]; noise: number; userId: string }> = [];
  let seen = 0;
  for (let row = 0; row < size; ) {
    const own = unit(Array.from({ length: D }, () => gaussian(random)));
    const center = unit(base.map((b, j) => b + own[j]!));
    const person = { center, noise: (0.2 + 0.1 * random()) / Math.sqrt(D), userId: uuid(random) };
    const slot = seen < queries ? seen : Math.floor(random() * (seen + 1));
    if (slot < queries) people[slot] = person;
    seen++;
    const templates = Math.min(size - row, 1 + Math.floor(random() * 10));
    for (let t = 0; t < templates; t++, row++) {
      sample(person.center, person.noise, random, chunks[Math.floor(row / CHUNK_ROWS)]!.rows, (row % CHUNK_ROWS) * D);
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
  const strangers = Array.from({ length: strangerCount }, () => {
    const own = unit(Array.from({ length: D }, () => gaussian(random)));
    const query = new Float32Array(D);
    sample(unit(base.map((b, j) => b + own[j]!)), (0.2 + 0.1 * random()) / Math.sqrt(D), random, query, 0);
    return query;
  });
  return { chunks, templateIds, userIds, queries: list, strangers };
}

function unit(v: number[]): number[] {
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

function sample(center: number[], noise: number, random: () => number, out: Float32Array, offset: number): void {
  for (let j = 0; j < D; j++) out[offset + j] = center[j]! + noise * gaussian(random);
}

interface Reference {
  readonly userId: string;
  readonly templateId: string;
  readonly distance: number;
}

/**
 * The float32 reference: every row's exact squared distance, computed by a loop added to the
 * kernel's own `distance` (the summation order verify and identify share), then the contract's
 * rules in plain JS: best template per user, users by distance then id, top `maxResults`.
 */
async function bruteForce(): Promise<(data: Dataset, query: Float32Array, maxResults: number) => Reference[]> {
  const { source: kernel } = await kernelSource(false);
  const loop = `
  (func (export "allDistances") (param $rows i32) (param $n i32) (param $q i32) (param $out i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (f32.store (local.get $out) (call $distance (local.get $rows) (local.get $q)))
      (local.set $rows (i32.add (local.get $rows) (i32.const 512)))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next))))`;
  const source = kernel.slice(0, kernel.lastIndexOf(')')) + loop + ')';
  const parsed = (await wabt()).parseWat('bruteForce.wat', source, { threads: true, simd: true });
  (parsed.validate as (features: object) => void)({ threads: true, simd: true });
  const module = new wasm.Module(parsed.toBinary({}).buffer);
  parsed.destroy();
  const instances = new Map<WasmMemory, (rows: number, n: number, q: number, out: number) => void>();
  const ignore = () => 0;
  return (data, query, maxResults) => {
    const candidates: Array<{ row: number; distance: number }> = [];
    // Enough rows to hold the best row of the top users: maxResults · 10 templates per user at most.
    const keep = maxResults * 10;
    let kth = Number.POSITIVE_INFINITY;
    data.chunks.forEach((chunk, c) => {
      let run = instances.get(chunk.memory);
      if (!run) {
        const exports = new wasm.Instance(module, { env: { memory: chunk.memory, emit: ignore } }).exports as { allDistances: (rows: number, n: number, q: number, out: number) => void };
        run = exports.allDistances;
        instances.set(chunk.memory, run);
      }
      new Float32Array(chunk.memory.buffer, 0, D).set(query);
      const at = 1024 + chunk.count * D * 4;
      run(1024, chunk.count, 0, at);
      const out = new Float32Array(chunk.memory.buffer, at, chunk.count);
      for (let i = 0; i < chunk.count; i++) {
        const distance = out[i]!;
        if (distance > kth) continue;
        candidates.push({ row: c * CHUNK_ROWS + i, distance });
        if (candidates.length >= 4 * keep) kth = prune(candidates, keep);
      }
    });
    prune(candidates, keep);
    const best = new Map<string, { templateId: string; distance: number }>();
    for (const { row, distance } of candidates) {
      const userId = data.userIds[row]!;
      const templateId = data.templateIds[row]!;
      const seen = best.get(userId);
      if (!seen || distance < seen.distance || (distance === seen.distance && templateId < seen.templateId)) best.set(userId, { templateId, distance });
    }
    return [...best]
      .sort(([ua, a], [ub, b]) => a.distance - b.distance || (ua < ub ? -1 : ua > ub ? 1 : 0))
      .slice(0, maxResults)
      .map(([userId, { templateId, distance }]) => ({ userId, templateId, distance }));
  };
}

/** Keeps the rows within the `keep`-th best distance (with ties) and returns that distance. */
function prune(candidates: Array<{ row: number; distance: number }>, keep: number): number {
  candidates.sort((a, b) => a.distance - b.distance);
  const kth = candidates[Math.min(keep, candidates.length) - 1]?.distance ?? Number.POSITIVE_INFINITY;
  let n = candidates.length;
  while (n > 0 && candidates[n - 1]!.distance > kth) n--;
  candidates.length = n;
  return kth;
}

/**
 * The kernel alone on this thread over the same rows (one gallery, no pool, no merge): the median
 * time of a pass with batches of 1, 8 and 16 queries, per row and query. It is what a batch costs
 * in compute, apart from threads, dispatch and merging: the rate 8 clients can reach at most.
 */
async function kernelAlone(data: Dataset, queriesOf: (mode: Mode) => readonly Float32Array[]): Promise<void> {
  const gallery = createGallery({ rowsPerShard: 131072, compactFraction: 0.25 });
  data.templateIds.forEach((templateId, i) => {
    const chunk = data.chunks[Math.floor(i / CHUNK_ROWS)]!;
    const at = (i % CHUNK_ROWS) * D;
    gallery.add(templateId, data.userIds[i]!, chunk.rows.subarray(at, at + D));
  });
  const kernel = await loadKernel();
  const shards = gallery.shards();
  const segments = shards.map((shard) => shard.segment(0, shard.count));
  // Calls asking for the nearest, both ways (the matcher picks per gallery from its recent misses).
  const variants = modes.flatMap((mode) => (optionsOf[mode].nearest ? [{ mode, later: true }, { mode, later: false }] : [{ mode, later: false }]));
  for (const { mode, later } of variants) {
    const options = optionsOf[mode];
    const asked = queriesOf(mode);
    const perRow: string[] = [];
    const before = kernel.headTests();
    for (const batch of [1, 8, 16]) {
      const ms: number[] = [];
      for (let pass = 0; pass < 12; pass++) {
        const queries = Array.from({ length: batch }, (_, i): ScanQuery => {
          const prepared = prepareQuery(asked[(pass * batch + i) % asked.length]!);
          for (const shard of shards) shard.writeQuery(i + 1, prepared.slot);
          const k = options.maxResults * gallery.maxTemplatesPerUser;
          return { slot: i + 1, ...prepared.scan, k, bound: squaredBoundOf(options.minSimilarity), nearest: options.nearest === true, nearestLater: later };
        });
        ms.push((await timed(async () => kernel.scan({ kind: 'quantized', segments, queries }))).ms);
      }
      perRow.push(((median(ms) * 1e6) / batch / data.templateIds.length).toFixed(2));
    }
    const after = kernel.headTests();
    const passed = (100 * (after.passed - before.passed)) / (after.rows - before.rows);
    const how = options.nearest ? (later ? ', threshold first' : ', nearest first') : '';
    console.log(`  kernel alone (this thread, no pool), ${mode}${how}: ${perRow.join(' / ')} ns per row and query in batches of 1 / 8 / 16; ${passed.toFixed(2)}% of rows past the head test`);
  }
}

// In pages of 5,000 through addMany, as the service's feed loads the read model; only the addMany
// calls are timed. Each page's ids are fresh copies, as the feed's pages give them (copied from an
// opener thread), so that the matcher's memory counts the ids it keeps.
async function load(matcher: Matcher, data: Dataset): Promise<number> {
  let ms = 0;
  for (let from = 0; from < data.templateIds.length; from += 5000) {
    const to = Math.min(from + 5000, data.templateIds.length);
    const [templateIds, userIds] = structuredClone([data.templateIds.slice(from, to), data.userIds.slice(from, to)]);
    const page: GalleryEntry[] = [];
    for (let i = from; i < to; i++) {
      const chunk = data.chunks[Math.floor(i / CHUNK_ROWS)]!;
      const at = (i % CHUNK_ROWS) * D;
      page.push({ templateId: templateIds[i - from]!, userId: userIds[i - from]!, descriptor: chunk.rows.subarray(at, at + D) });
    }
    ms += (await timed(async () => matcher.addMany(key, page))).ms;
  }
  return ms;
}

// Worker threads start lazily in the background; keep their own memory out of the RSS delta.
async function startThreads(matcher: Matcher, threads: number): Promise<void> {
  const warm: GalleryKey = { tenantId: 'warm-up', mode: 'test' };
  matcher.add(warm, { templateId: 'warm-up', userId: 'warm-up', descriptor: new Float32Array(D) });
  await Promise.all(Array.from({ length: 4 * threads }, () => matcher.identify(warm, new Float32Array(D), optionsOf.exhaustive)));
}

async function latencies(matcher: Matcher, queries: Float32Array[], options: IdentifyOptions): Promise<number[]> {
  for (const query of queries.slice(0, 10)) await matcher.identify(key, query, options);
  const out: number[] = [];
  for (const query of queries) out.push((await timed(() => matcher.identify(key, query, options))).ms);
  return out;
}

async function throughput(matcher: Matcher, queries: Float32Array[], clients: number, options: IdentifyOptions): Promise<{ perSecond: number; meanBatch: number }> {
  let next = 0;
  const before = matcher.scanStats();
  const { ms } = await timed(() =>
    Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < queries.length) await matcher.identify(key, queries[next++]!, options);
      }),
    ),
  );
  const after = matcher.scanStats();
  return { perSecond: rate(queries.length, ms), meanBatch: (after.queries - before.queries) / Math.max(1, after.scans - before.scans) };
}

/**
 * Answers every check query with 8 concurrent clients (so through batches) and compares with the
 * references: exhaustive calls with the 5 nearest users; service calls with those of them within
 * the threshold, and their nearest with the first.
 */
async function agreement(matcher: Matcher, queries: readonly Float32Array[], references: readonly Reference[][], mode: Mode): Promise<string> {
  let top1 = 0;
  let top5 = 0;
  let next = 0;
  const name = (m: { userId: string; templateId: string } | undefined) => (m ? `${m.userId}/${m.templateId}` : 'none');
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < references.length) {
        const i = next++;
        const { matches, nearest } = await matcher.identify(key, queries[i]!, optionsOf[mode]);
        const reference = references[i]!;
        const want = mode === 'exhaustive' ? reference : reference.filter((m) => similarityOf(m.distance) >= threshold);
        const first = mode === 'exhaustive' ? name(matches[0]) : name(nearest);
        if (first === name(reference[0])) top1++;
        if (matches.map(name).join() === want.map(name).join()) top5++;
      }
    }),
  );
  const n = references.length;
  const what = mode !== 'exhaustive' ? `nearest ${top1}/${n}, users within the threshold (same users, templates and order) ${top5}/${n}` : `top-1 ${top1}/${n}, top-5 (same users, templates and order) ${top5}/${n}`;
  return `${what}${top1 === n && top5 === n ? '' : '  MISMATCH'}`;
}

// Shard memories of a closed matcher are freed by the collector, their backing stores on a
// background sweeper thread: collect twice with a pause so the reading is not mid-release.
async function settledMemory(): Promise<{ rss: number; outsideShards: number }> {
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const { rss, heapUsed, arrayBuffers } = process.memoryUsage();
  // The shards' WebAssembly memories are in neither of the last two: these are the ids and the rest.
  return { rss, outsideShards: heapUsed + arrayBuffers };
}

const mib = (bytes: number) => `${fmt(bytes / 2 ** 20)} MiB`;
const ratio = (x: number) => `${x.toFixed(2)}x`;
console.log(`identify bench: ${queryCount} queries per latency run, maxResults 5, ${checkCount} queries checked against a brute force (${Math.min(checkCount, STRANGER_CHECKS)} strangers); calls:\n${modes.map((m) => `  ${describe[m]}`).join('\n')}`);
console.log(`Node ${process.version}; quantized scan: ${relaxedSimd() ? 'relaxed SIMD (pairwise i8 dot products into i16)' : 'SIMD128 (this runtime has no relaxed SIMD)'}`);
const bandwidth: Record<number, number> = {};
for (const threads of [1, 2]) bandwidth[threads] = await readBandwidth(threads);
console.log(`memory read bandwidth (WASM SIMD probe, this run): 1 thread ${fmt(bandwidth[1]! / 1e9)} GB/s, 2 threads ${fmt(bandwidth[2]! / 1e9)} GB/s`);
const reference = await bruteForce();
const p50At: Record<string, Record<number, number>> = {};
for (const size of sizes) {
  const generated = await timed(async () => dataset(size, Math.max(queryCount, checkCount), Math.max(queryCount, Math.min(checkCount, STRANGER_CHECKS))));
  const data = generated.value;
  console.log(`\n${fmt(size)} templates, ${fmt(new Set(data.userIds).size)} users (generated in ${fmt(generated.ms)} ms)`);
  const checked = await timed(async () => data.queries.slice(0, checkCount).map((query) => reference(data, query, 5)));
  console.log(`  brute force: ${fmt(checked.ms / checkCount)} ms per query`);
  const strangers = data.strangers.slice(0, Math.min(checkCount, STRANGER_CHECKS)).map((query) => reference(data, query, 5));
  const queriesOf = (mode: Mode, count = queryCount) => (mode === 'stranger' ? data.strangers : data.queries).slice(0, count);
  const checksOf = (mode: Mode) => (mode === 'stranger' ? { queries: data.strangers, references: strangers } : { queries: data.queries, references: checked.value });
  if (size === sizes[0] && scans.includes('quantized')) await kernelAlone(data, queriesOf);
  for (const scan of scans) {
    const p50: Record<string, Record<number, number>> = {};
    for (const threads of [1, 2]) {
      const matcher = createMatcher({ threads, scan, inlineRows: 0 });
      await startThreads(matcher, threads);
      const before = await settledMemory();
      const loadMs = await load(matcher, data);
      const after = await settledMemory();
      const rssDelta = after.rss - before.rss;
      const idsDelta = after.outsideShards - before.outsideShards;
      const floor = ((size * D) / bandwidth[threads]!) * 1000;
      for (const mode of modes) {
        const ms = await latencies(matcher, queriesOf(mode), optionsOf[mode]);
        (p50[mode] ??= {})[threads] = median(ms);
        console.log(`  ${scan} ${mode.padEnd(10)} ${threads} thread${threads > 1 ? 's' : ' '}: identify p50 ${fmt(median(ms))} ms  p99 ${fmt(percentile(ms, 99))} ms; int8-code floor ${fmt(floor)} ms, p50 / floor ${ratio(median(ms) / floor)}`);
      }
      if (threads === 2) {
        for (const mode of modes) {
          console.log(`    ${mode}: speed-up of 2 threads over 1 (p50): ${ratio(p50[mode]![1]! / p50[mode]![2]!)}`);
          const rates: Record<number, number> = {};
          for (const clients of [1, 8, 32]) {
            // At least 16 calls per client, so that the rate is mostly of full batches, not of the ramp up and down.
            const { perSecond, meanBatch } = await throughput(matcher, queriesOf(mode, Math.max(queryCount, 16 * clients)), clients, optionsOf[mode]);
            rates[clients] = perSecond;
            console.log(`    ${mode}: ${String(clients).padStart(2)} concurrent client${clients > 1 ? 's' : ' '}: ${fmt(perSecond)} queries/s (mean batch ${fmt(meanBatch)})${clients > 1 ? `, ${ratio(perSecond / rates[1]!)} the 1-client rate` : ''}`);
          }
          const { queries: asked, references } = checksOf(mode);
          console.log(`    ${mode}: agreement with the float32 brute force over ${references.length} queries: ${await agreement(matcher, asked, references, mode)}`);
        }
        if (scan === 'quantized') {
          const scale = 1e6 / size;
          console.log(`    load: ${fmt(loadMs)} ms (${fmt(rate(size, loadMs))} templates/s, addMany in pages of 5,000)`);
          console.log(`    memory per 1M templates: descriptor storage ${mib(matcher.memoryBytes() * scale)}, ids ${mib(matcher.idBytes() * scale)} (JS heap and array buffers grew by ${mib(idsDelta * scale)}), RSS delta ${mib(rssDelta * scale)}`);
          for (const mode of modes) {
            (p50At[mode] ??= {})[size] = p50[mode]![2]!;
            const smallest = sizes.find((s) => p50At[mode]![s] !== undefined && s < size);
            if (smallest !== undefined) console.log(`    ${mode}: p50 at ${fmt(size)} / p50 at ${fmt(smallest)} (2 threads): ${ratio(p50[mode]![2]! / p50At[mode]![smallest]!)}`);
          }
        }
      }
      await matcher.close();
    }
  }
}
