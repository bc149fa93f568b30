import { readFile } from 'node:fs/promises';
import wabt from 'wabt';
import { wasm, type WasmMemory, type WasmModule } from '../src/matching/wasm.ts';

/** Rows [from, to) of one shard, and where the kernel finds that shard's regions (byte offsets). */
export interface ScanSegment {
  readonly memory: WasmMemory;
  readonly flags: number;
  readonly meta: number;
  readonly codes: number;
  readonly rows: number;
  /** The query's slot: its f32 values, then its i16 codes. */
  readonly query: number;
  readonly queryCodes: number;
  readonly from: number;
  readonly to: number;
}

/** Which candidate test the scan uses; both give the same, exact result (see matcherKernel.wat). */
export type ScanKind = 'quantized' | 'float';

/** The query's numbers that are not in the slot. */
export interface ScanQuery {
  readonly kind: ScanKind;
  /** |q|² as float32 (for 'float'). */
  readonly norm: number;
  /** Scale, |q̂|² and residual of the query's codes (for 'quantized'). */
  readonly scale: number;
  readonly codeNorm: number;
  readonly residual: number;
}

/** One scan: the rows of a few segments against one query; plain data, so it crosses threads. */
export interface ScanTask {
  readonly segments: readonly ScanSegment[];
  readonly query: ScanQuery;
  /** How many best rows to keep; rows tied with the k-th are kept too. */
  readonly k: number;
  /** Only rows with squared distance <= bound (may be Infinity). */
  readonly bound: number;
}

/** The candidates of one scan, unpacked: segment index, row in that segment's shard, squared distance. */
export interface Candidates {
  readonly segment: Int32Array;
  readonly row: Int32Array;
  readonly distance: Float32Array;
}

/** The compiled kernel, ready to scan on this thread. */
export interface Kernel {
  /** Runs a task; the result is one buffer (see `unpackCandidates`) so that it can be moved. */
  scan(task: ScanTask): ArrayBuffer;
}

interface KernelExports {
  scanQuantized(from: number, to: number, flags: number, meta: number, codes: number, rows: number, query: number, queryCodes: number, scale: number, codeNorm: number, residual: number, bound: number): number;
  scanFloat(from: number, to: number, flags: number, meta: number, rows: number, query: number, norm: number, bound: number): number;
}

/** Splits a buffer from `Kernel.scan` into its three columns. */
export function unpackCandidates(buffer: ArrayBuffer): Candidates {
  const n = buffer.byteLength / 12;
  return { segment: new Int32Array(buffer, 0, n), row: new Int32Array(buffer, n * 4, n), distance: new Float32Array(buffer, n * 8, n) };
}

/** Keeps the rows emitted by the kernel, pruned to the k best (with ties) whenever it doubles. */
function createCollector() {
  let k = 1;
  let n = 0;
  let segment = 0;
  let bound = Number.POSITIVE_INFINITY;
  let nextPrune = 2;
  let segments = new Int32Array(1024);
  let rows = new Int32Array(1024);
  let distances = new Float32Array(1024);

  function prune(): void {
    const kth = distances.slice(0, n).sort()[k - 1]!;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      if (distances[i]! > kth) continue;
      segments[kept] = segments[i]!;
      rows[kept] = rows[i]!;
      distances[kept] = distances[i]!;
      kept++;
    }
    n = kept;
    bound = kth;
    // Ties with the k-th can keep n above k; doubling the trigger keeps pruning amortised.
    nextPrune = Math.max(2 * k, 2 * n);
  }

  return {
    reset(task: ScanTask): void {
      k = Math.max(1, task.k);
      n = 0;
      bound = task.bound;
      nextPrune = 2 * k;
    },
    setSegment(index: number): void {
      segment = index;
    },
    emit(row: number, distance: number): number {
      if (n === rows.length) {
        const grown = n * 2;
        segments = copyInto(new Int32Array(grown), segments);
        rows = copyInto(new Int32Array(grown), rows);
        distances = copyInto(new Float32Array(grown), distances);
      }
      segments[n] = segment;
      rows[n] = row;
      distances[n] = distance;
      n++;
      if (n >= nextPrune) prune();
      return bound;
    },
    finish(): ArrayBuffer {
      if (n > k) prune();
      const buffer = new ArrayBuffer(n * 12);
      const out = unpackCandidates(buffer);
      out.segment.set(segments.subarray(0, n));
      out.row.set(rows.subarray(0, n));
      out.distance.set(distances.subarray(0, n));
      return buffer;
    },
  };
}

function copyInto<T extends Int32Array | Float32Array>(target: T, source: T): T {
  target.set(source);
  return target;
}

let compiled: Promise<WasmModule> | undefined;

/** Compiles workers/matcherKernel.wat with wabt (once per thread). */
export function compileKernel(): Promise<WasmModule> {
  compiled ??= (async () => {
    const source = await readFile(new URL('./matcherKernel.wat', import.meta.url), 'utf8');
    const features = { threads: true, simd: true };
    const parsed = (await wabt()).parseWat('matcherKernel.wat', source, features);
    try {
      // The typings omit validate's features argument; without it shared memory is refused.
      (parsed.validate as (features: object) => void)(features);
      return new wasm.Module(parsed.toBinary({}).buffer);
    } finally {
      parsed.destroy();
    }
  })();
  return compiled;
}

/** Compiles the kernel and warms it up, so that the first real scan already runs optimised code. */
export async function loadKernel(): Promise<Kernel> {
  const module = await compileKernel();
  const collector = createCollector();
  const imports = { emit: (row: number, distance: number) => collector.emit(row, distance) };
  // A postMessage'd memory arrives as a new wrapper object every time, so in a worker this cache
  // only saves instantiations within a task (~4 µs each); on the main thread it always hits.
  const instances = new WeakMap<WasmMemory, KernelExports>();
  const exportsOf = (memory: WasmMemory): KernelExports => {
    let exports = instances.get(memory);
    if (!exports) {
      exports = new wasm.Instance(module, { env: { memory, ...imports } }).exports as unknown as KernelExports;
      instances.set(memory, exports);
    }
    return exports;
  };
  const kernel: Kernel = {
    scan(task) {
      collector.reset(task);
      const { query } = task;
      let bound = task.bound;
      task.segments.forEach((s, index) => {
        collector.setSegment(index);
        const exports = exportsOf(s.memory);
        bound =
          query.kind === 'quantized'
            ? exports.scanQuantized(s.from, s.to, s.flags, s.meta, s.codes, s.rows, s.query, s.queryCodes, query.scale, query.codeNorm, query.residual, bound)
            : exports.scanFloat(s.from, s.to, s.flags, s.meta, s.rows, s.query, query.norm, bound);
      });
      return collector.finish();
    },
  };
  warmUp(kernel);
  return kernel;
}

// V8 runs new WASM on its baseline compiler and swaps in optimised code only for later calls, so a
// few scans over a scratch memory here keep that slow first call away from real requests.
function warmUp(kernel: Kernel): void {
  const rows = 2048;
  const layout = { flags: 0, meta: 2048, query: 2048 + rows * 16, codes: 2048 + rows * 16 + 1024 };
  const memory = new wasm.Memory({ initial: 24, maximum: 24, shared: true });
  const segment: ScanSegment = { ...layout, memory, rows: layout.codes + rows * 128, queryCodes: layout.query + 512, from: 0, to: rows };
  const floats = new Float32Array(memory.buffer, segment.rows, rows * 128);
  for (let i = 0; i < floats.length; i++) floats[i] = ((i * 7919) % 1000) / 8000;
  for (const kind of ['quantized', 'float'] as const) {
    for (let i = 0; i < 30; i++) kernel.scan({ segments: [segment], query: { kind, norm: 1, scale: 0.01, codeNorm: 1, residual: 0 }, k: 4, bound: Number.POSITIVE_INFINITY });
  }
}
