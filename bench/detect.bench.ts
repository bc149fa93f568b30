// npm run bench:detect [-- --runs 20]
// Image analysis in its worker pool (DETECT_THREADS=1, as the service runs by default): model load
// time, per-image latency p50/p95 of a 512 px and a 1920 px photo, and the event loop's delay p99
// while 8 detect requests run at once, next to the same measure with the loop idle.
import { createRequire } from 'node:module';
import fs from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import sharp from 'sharp';
import { createDetector } from '../src/faces/detector.ts';
import { flag, fmt, median, percentile, timed } from './support.ts';

const runs = Number(flag('runs', '20'));
const require = createRequire(import.meta.url);
const samples = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');
const large = await fs.readFile(path.join(samples, 'sample1.jpg'));
const small = await sharp(large).resize({ width: 512 }).jpeg({ quality: 90 }).toBuffer();
const asField = (bytes: Buffer) => `data:image/jpeg;base64,${bytes.toString('base64')}`;

const detector = createDetector({ threads: 1 });
try {
  const load = await detector.warmUp();
  console.log(`# bench:detect  runs=${runs}, 1 detection thread, node ${process.version}`);
  console.log(`model load (tfjs wasm backend + 3 face-api nets): ${fmt(load.ms)} ms`);

  for (const [label, image] of [
    [`512 px (${(await sharp(small).metadata()).width}x${(await sharp(small).metadata()).height})`, asField(small)],
    [`1920 px (${(await sharp(large).metadata()).width}x${(await sharp(large).metadata()).height})`, asField(large)],
  ] as const) {
    const times: number[] = [];
    let faces = 0;
    for (let i = 0; i < runs; i++) {
      const { ms, value } = await timed(() => detector.detect(image));
      times.push(ms);
      faces = value.faces.length;
    }
    console.log(`${label}: p50 ${fmt(median(times))} ms, p95 ${fmt(percentile(times, 95))} ms (${faces} faces)`);
  }

  const measure = async (work: () => Promise<unknown>) => {
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    await work();
    histogram.disable();
    return { p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6 };
  };
  const image = asField(large);
  const busyStarted = Date.now();
  const busy = await measure(() => Promise.all(Array.from({ length: 8 }, () => detector.detect(image))));
  const busyMs = Date.now() - busyStarted;
  const idle = await measure(() => new Promise((resolve) => setTimeout(resolve, busyMs)));
  console.log(`event-loop delay p99 during 8 concurrent 1920 px detects (${fmt(busyMs)} ms): ${fmt(busy.p99)} ms (max ${fmt(busy.max)} ms); idle baseline over the same time: ${fmt(idle.p99)} ms`);
} finally {
  await detector.close();
}
