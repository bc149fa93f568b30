// Memory read bandwidth of this machine, measured with a WASM SIMD loop summing a shared memory much
// larger than the caches, on 1 or more threads at once (each reads its own part). The matcher's
// int8-code floor is the time to read 128 bytes per template at this rate.
import { Worker } from 'node:worker_threads';
import wabt from 'wabt';
import { wasm, WASM_PAGE, type WasmMemory, type WasmModule } from '../src/matching/wasm.ts';

const SOURCE = `(module
  (import "env" "memory" (memory 1 65536 shared))
  ;; Sums bytes [from, to) as i32x4 lanes, four independent accumulators so that loads overlap.
  (func (export "sum") (param $from i32) (param $to i32) (result i32)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $from) (local.get $to)))
      (local.set $a (i32x4.add (local.get $a) (v128.load offset=0 (local.get $from))))
      (local.set $b (i32x4.add (local.get $b) (v128.load offset=16 (local.get $from))))
      (local.set $c (i32x4.add (local.get $c) (v128.load offset=32 (local.get $from))))
      (local.set $d (i32x4.add (local.get $d) (v128.load offset=48 (local.get $from))))
      (local.set $from (i32.add (local.get $from) (i32.const 64)))
      (br $next)))
    (i32x4.extract_lane 0 (i32x4.add (i32x4.add (local.get $a) (local.get $b)) (i32x4.add (local.get $c) (local.get $d))))))`;

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, from, to, rounds, chunk } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const sum = instance.exports.sum;
parentPort.on('message', () => {
  // The fastest chunk: on a shared machine most chunks lose time to other processes.
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    for (let at = from; at + chunk <= to; at += chunk) {
      const t = process.hrtime.bigint();
      sum(at, at + chunk);
      best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
    }
  }
  parentPort.postMessage(chunk / best);
});
parentPort.postMessage('ready');
`;

async function compile(): Promise<WasmModule> {
  const parsed = (await wabt()).parseWat('bandwidth.wat', SOURCE, { threads: true, simd: true });
  try {
    (parsed.validate as (features: object) => void)({ threads: true, simd: true });
    return new wasm.Module(parsed.toBinary({}).buffer);
  } finally {
    parsed.destroy();
  }
}

/**
 * Bytes per second read by `threads` threads at once, each sweeping its own part of a `bytes`-byte
 * buffer (16 times the last-level cache, so reads come from memory) `rounds` times in chunks of
 * 16 MiB: the sum over threads of each one's fastest chunk, i.e. what the machine does when no
 * other process takes the cores. A noisy machine lowers it, never raises it.
 */
export async function readBandwidth(threads: number, bytes = 512 * 2 ** 20, rounds = 3): Promise<number> {
  const chunk = 16 * 2 ** 20;
  const module = await compile();
  const memory: WasmMemory = new wasm.Memory({ initial: bytes / WASM_PAGE, maximum: bytes / WASM_PAGE, shared: true });
  new Uint8Array(memory.buffer).fill(1);
  const part = Math.floor(bytes / threads / 64) * 64;
  const workers = Array.from({ length: threads }, (_, i) => new Worker(WORKER, { eval: true, workerData: { module, memory, from: i * part, to: (i + 1) * part, rounds, chunk } }));
  try {
    await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('message', resolve))));
    const rates = await Promise.all(
      workers.map(
        (worker) =>
          new Promise<number>((resolve) => {
            worker.once('message', resolve);
            worker.postMessage('go');
          }),
      ),
    );
    return rates.reduce((sum, rate) => sum + rate, 0);
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}
