import { readFile } from 'node:fs/promises';
import wabt from 'wabt';
import type { ShardLayout } from '../src/matching/shard.ts';
import { wasm, type WasmMemory, type WasmModule } from '../src/matching/wasm.ts';

/** Bytes of one query slot in a shard's memory: the query's 128 f32, its 128 biased codes as i16, then as bytes. */
export const SLOT_BYTES = 1024;
/** Offset of the i16 codes within a slot. */
export const SLOT_WIDE_CODES = 512;
/** Offset of the byte codes within a slot. */
export const SLOT_BYTE_CODES = 768;

/** Rows [from, to) of one shard, and where the kernel finds that shard's regions (byte offsets). */
export interface ScanSegment {
  readonly memory: WasmMemory;
  readonly flags: number;
  readonly norms: number;
  readonly headBases: number;
  readonly fullBases: number;
  readonly residuals: number;
  readonly head: number;
  readonly tail: number;
  readonly rows: number;
  /** The shard's query slots; a query of the task is at `queries + slot · SLOT_BYTES`. */
  readonly queries: number;
  readonly from: number;
  readonly to: number;
}

/**
 * Which candidate test the scan uses; all give the same, exact result (see matcherKernel.wat):
 * int8 codes with the relaxed-SIMD dot product where this runtime has it (else as
 * 'quantized-simd128'), int8 codes with SIMD128 only, or the f32 baseline.
 */
export type ScanKind = 'quantized' | 'quantized-simd128' | 'float';

/** One query of a scan: its slot (the same in every shard of the task) and the numbers that are not in the slot. */
export interface ScanQuery {
  readonly slot: number;
  /** |q|² as float32 (for 'float'). */
  readonly norm: number;
  /**
   * The query's parts of the squared code distance over the head and over all dimensions
   * (integers), its residual |q − q̂| and that over the head's dimensions (see distance.ts).
   */
  readonly headBase: number;
  readonly fullBase: number;
  readonly residual: number;
  readonly headResidual: number;
  /** How many best rows to keep; rows tied with the k-th are kept too. */
  readonly k: number;
  /** Only rows with squared distance <= bound (may be Infinity). */
  readonly bound: number;
  /**
   * Also keep the nearest row (with its ties) when it is beyond the bound: until a row within the
   * bound is found, the nearest one so far is the scan's bound, so that a call asking "who is
   * within the threshold, and if no one, how close was the best" reads no more than it must.
   */
  readonly nearest?: boolean;
  /**
   * With `nearest` and a finite bound: scan with the bound alone first, as if the nearest were not
   * asked for, and look for the nearest only if no row within the bound turns up (scanning the
   * task's blocks again). Cheaper when a match is found, dearer for a miss: for a gallery whose
   * calls mostly find a match (the matcher decides).
   */
  readonly nearestLater?: boolean;
}

/**
 * One scan: the rows of a few segments against a batch of queries, read block by block so that
 * each block of codes is fetched from memory once for all the queries; plain data, so it crosses
 * threads. `cancel[i] !== 0` (set by the caller at any time) drops query i at the next block, and
 * the task returns early once every query is dropped: a timed-out scan costs no worker.
 *
 * `bounds` (optional, see `sharedBounds`) is how the tasks of one pass, each scanning other rows,
 * tighten each other: each publishes its bound per query after every block and scans the next
 * block with the lowest one published. That is exact: a task's bound is either its k-th best
 * distance (then the pass's k best are within it), the query's own bound, or, for `nearest` while
 * it has no row within that bound, its nearest so far (then no row beyond it can be the nearest
 * of the pass, nor within the query's bound). A row beyond the lowest of them is in no answer.
 */
export interface ScanTask {
  readonly kind: ScanKind;
  readonly segments: readonly ScanSegment[];
  readonly queries: readonly ScanQuery[];
  readonly cancel?: Int32Array;
  readonly bounds?: Int32Array;
  /**
   * Shared by tasks that carry the same segments (one per thread of a pass): the blocks of the
   * segments are numbered in order, and each task scans only the blocks it claims, by
   * Atomics.add on claim[0], until none is left. Every block is scanned by exactly one task, and
   * a thread that starts late or is slowed leaves its share to the others. Without it the task
   * scans every block.
   */
  readonly claim?: Int32Array;
}

/**
 * The shared bounds of a pass's tasks for `count` queries: float32 bit patterns in shared
 * memory, which for the non-negative floats (and +Infinity) order as their integers do.
 */
export function sharedBounds(count: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * count)).fill(INFINITY_BITS);
}

const INFINITY_BITS = 0x7f800000;
const bitsView = new Int32Array(1);
const floatView = new Float32Array(bitsView.buffer);

/** The float32 bits of a non-negative bound, rounded up to a float32 so that it never shrinks. */
function boundBits(bound: number): number {
  floatView[0] = bound;
  if (floatView[0]! < bound) bitsView[0]! += 1;
  return bitsView[0]!;
}

/** Lowers shared[q] to `bits` unless it is already lower (JavaScript's Atomics have no min). */
function publish(shared: Int32Array, q: number, bits: number): void {
  let seen = Atomics.load(shared, q);
  while (bits < seen) {
    const before = Atomics.compareExchange(shared, q, seen, bits);
    if (before === seen) return;
    seen = before;
  }
}

function boundOfBits(bits: number): number {
  bitsView[0] = bits;
  return floatView[0]!;
}

/** A compaction's copy (see copyRows in src/matching/shard.ts): plain data, so it crosses threads. */
export interface CopyTask {
  readonly source: { readonly memory: WasmMemory; readonly layout: ShardLayout };
  readonly target: { readonly memory: WasmMemory; readonly layout: ShardLayout };
  readonly rows: Int32Array;
}

/** The candidates of one query of a scan, unpacked: segment index, row in that segment's shard, squared distance. */
export interface Candidates {
  readonly segment: Int32Array;
  readonly row: Int32Array;
  readonly distance: Float32Array;
}

/** The compiled kernel, ready to scan on this thread. */
export interface Kernel {
  /** Runs a task; the result is one buffer (see `unpackCandidates`) so that it can be moved. */
  scan(task: ScanTask): ArrayBuffer;
  /** Rows the code scans of this kernel have tested, and how many of them passed the head test, since it loaded (for the bench). */
  headTests(): { readonly rows: number; readonly passed: number };
}

interface KernelExports {
  scanQuantized(
    from: number, to: number, flags: number, headBases: number, fullBases: number, residuals: number, head: number, tail: number, rows: number,
    query: number, wideCodes: number, byteCodes: number, headBase: number, fullBase: number, residual: number, headResidual: number, bound: number,
  ): number;
  /** The same test with the relaxed dot product; only in a module compiled with relaxed SIMD. */
  scanQuantizedRelaxed?: KernelExports['scanQuantized'];
  /**
   * The same candidates from every row's full code distance, for blocks where the head test passes
   * most rows; the kernel uses only the relaxed one (scanFullCodes is the text it is made from).
   */
  scanFullCodesRelaxed?: KernelExports['scanQuantized'];
  /** Rows that passed the head test in the last call of a code scan. */
  readonly passes: { value: number };
  scanFloat(from: number, to: number, flags: number, norms: number, rows: number, query: number, norm: number, bound: number): number;
}

/**
 * Rows per block when a batch shares the scan: 4096 rows' head codes and terms (~290 KiB, the rest
 * only for the rows that pass), read from memory once and from the core's L2 by the other queries.
 * 1024 cost 10-20% more per row and query in batches of 8 and 16 here (kernel alone, one process
 * alternating the two): each block is a call per query from JavaScript.
 */
export const BATCH_BLOCK = 4096;
/** Rows per block for a lone query: blocks bound how late a cancellation or a bound is seen, and are what the tasks of a pass claim. */
const SINGLE_BLOCK = 8192;

/**
 * A query's next block is scanned by full codes (scanFullCodes) once more than this fraction of
 * the last block's rows passed the head test: each of those costs scanQuantized a call and the
 * tail's dot product on its own, more than the full scan's vector test of every row. It goes back
 * to the head test once fewer than FULL_CODES_BELOW pass (both scans count them). Both find the
 * same candidates; only the time differs.
 */
const FULL_CODES_ABOVE = 0.25;
const FULL_CODES_BELOW = 0.125;

/** Splits a buffer from `Kernel.scan` into the candidates of each query of the task, in order. */
export function unpackCandidates(buffer: ArrayBuffer): Candidates[] {
  const header = new Int32Array(buffer, 0, 1 + new Int32Array(buffer, 0, 1)[0]!);
  const out: Candidates[] = [];
  let at = header.byteLength;
  for (let q = 1; q < header.length; q++) {
    const n = header[q]!;
    out.push({ segment: new Int32Array(buffer, at, n), row: new Int32Array(buffer, at + n * 4, n), distance: new Float32Array(buffer, at + n * 8, n) });
    at += n * 12;
  }
  return out;
}

/**
 * Keeps the rows emitted by the kernel and hands it the bound: the k-th best distance within the
 * query's bound once k rows are kept, or (`nearest`, while no row within the bound is found) the
 * nearest distance so far. Rows no longer within the bound are dropped whenever the kept ones
 * double.
 */
function createCollector() {
  let k = 1;
  let n = 0;
  let segment = 0;
  let limit = Number.POSITIVE_INFINITY;
  let nearest = false;
  let best = Number.POSITIVE_INFINITY;
  let kth = Number.POSITIVE_INFINITY;
  let nextPrune = 2;
  // The lowest bound the pass's other tasks have published (see ScanTask.bounds).
  let cap = Number.POSITIVE_INFINITY;
  let segments = new Int32Array(1024);
  let rows = new Int32Array(1024);
  let distances = new Float32Array(1024);

  const own = () => (nearest && best > limit ? best : Math.min(limit, kth));
  const bound = () => Math.min(own(), cap);

  function keepWithin(cut: number): void {
    let kept = 0;
    for (let i = 0; i < n; i++) {
      if (distances[i]! > cut) continue;
      segments[kept] = segments[i]!;
      rows[kept] = rows[i]!;
      distances[kept] = distances[i]!;
      kept++;
    }
    n = kept;
  }

  function prune(): void {
    keepWithin(bound());
    if (n > k) {
      kth = distances.slice(0, n).sort()[k - 1]!;
      keepWithin(kth);
    }
    // Ties with the k-th can keep n above k; doubling the trigger keeps pruning amortised.
    nextPrune = Math.max(2 * k, 2 * n);
  }

  return {
    /** Starts a query; returns the bound to scan with. */
    reset(query: ScanQuery): number {
      k = Math.max(1, query.k);
      n = 0;
      limit = query.bound;
      nearest = query.nearest === true;
      best = Number.POSITIVE_INFINITY;
      kth = Number.POSITIVE_INFINITY;
      nextPrune = 2 * k;
      cap = Number.POSITIVE_INFINITY;
      return bound();
    },
    /** Lowers the bound to the pass's lowest published one; returns the bound to scan with. */
    capAt(published: number): number {
      if (published < cap) cap = published;
      return bound();
    },
    /** The bound without the nearest so far: the query's own bound, k-th and the pass's cap. */
    thresholdBound: () => Math.min(limit, kth, cap),
    /**
     * Whether a row within the query's bound is known to this pass: kept here, or published by
     * another task (a task publishes a bound at or below the query's only once it keeps such a row;
     * a `nearest` one without publishes its nearest so far, which is beyond it).
     */
    matched: () => best <= limit || cap <= limit,
    /** This task's own bound, to publish. */
    own,
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
      if (distance < best) best = distance;
      if (n >= nextPrune) prune();
      return bound();
    },
    /** Prunes to the rows within the final bound (the k best, with ties) and returns how many are kept. */
    finish(): number {
      prune();
      return n;
    },
    /** Writes the kept candidates as three columns at byte `at` of `buffer`. */
    write(buffer: ArrayBuffer, at: number): void {
      new Int32Array(buffer, at, n).set(segments.subarray(0, n));
      new Int32Array(buffer, at + n * 4, n).set(rows.subarray(0, n));
      new Float32Array(buffer, at + n * 8, n).set(distances.subarray(0, n));
    },
  };
}

function copyInto<T extends Int32Array | Float32Array>(target: T, source: T): T {
  target.set(source);
  return target;
}

/** The text between `;; <name>` and `;; </name>` in `text`, from `from` on, with where it starts and ends. */
function marked(text: string, name: string, from = 0): { inner: string; start: number; end: number } {
  const open = `;; <${name}>`;
  const close = `;; </${name}>`;
  const start = text.indexOf(open, from);
  const end = text.indexOf(close, start);
  if (start < 0 || end < 0) throw new Error(`matcherKernel.wat: no ${open} ... ${close}`);
  return { inner: text.slice(start + open.length, end), start, end: end + close.length };
}

/**
 * The kernel's source, with or without the relaxed code scans (scanQuantizedRelaxed,
 * scanFullCodesRelaxed), and the wabt features it needs. The .wat holds those only as the parts
 * that differ from the plain ones (its section `;; <relaxed-simd>`): here they are made from the
 * plain scans' text (`;; <scan-codes>`) with the marked parts swapped, so the rest is one text;
 * within it, `;; <same name>` stands for the part marked `name` (see withSameParts).
 */
export async function kernelSource(relaxed: boolean): Promise<{ source: string; features: Record<string, boolean> }> {
  const text = await readFile(new URL('./matcherKernel.wat', import.meta.url), 'utf8');
  const section = marked(text, 'relaxed-simd');
  // The section gives way to the relaxed scans made from it, or to nothing.
  const relaxedScans = relaxed ? withSameParts(relaxedScan(marked(text, 'scan-codes').inner, section.inner)) : '';
  const source = withSameParts(text.slice(0, section.start)) + relaxedScans + withSameParts(text.slice(section.end));
  return { source, features: { threads: true, simd: true, relaxed_simd: relaxed } };
}

/**
 * Fills each `;; <same name>` of `text` with the part marked `name` in it, so that the full-codes
 * scan uses scanQuantized's query codes, row dot products and sums, of the same variant.
 */
function withSameParts(text: string): string {
  return text.replace(/;; <same ([a-z-]+)>/g, (_, name: string) => marked(text, name).inner);
}

/**
 * The relaxed code scans: every function of the plain scans' text renamed `<name>Relaxed`, with each
 * part that the relaxed section marks (`;; <query-codes>`, `;; <row-dots>`, ...) taken from it.
 */
function relaxedScan(plainScans: string, relaxedParts: string): string {
  let scans = plainScans.replace(/\(func \(export "(\w+)"\)/g, '(func (export "$1Relaxed")');
  for (const [, part] of relaxedParts.matchAll(/;; <([a-z-]+)>/g)) {
    const plain = marked(scans, part!);
    // The markers stay, for withSameParts.
    scans = `${scans.slice(0, plain.start)};; <${part}>${marked(relaxedParts, part!).inner};; </${part}>${scans.slice(plain.end)}`;
  }
  return scans;
}

// The smallest module using the relaxed dot product: (func (param v128 v128 v128) (result v128) (i32x4.relaxed_dot_i8x16_i7x16_add_s ...)).
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 147, 2, 11]);

/**
 * Whether this runtime has relaxed SIMD (Node 22 and later). Node 20's V8 (11.3) has it only
 * behind --experimental-wasm-relaxed-simd, and there its optimised dot product doubles about one
 * result in 500 (seen here): this never turns that flag on.
 */
export function relaxedSimd(): boolean {
  return wasm.validate(RELAXED_PROBE);
}

let compiled: Promise<WasmModule> | undefined;

/** Compiles workers/matcherKernel.wat with wabt (once per thread), with its relaxed-SIMD scan where the runtime has it. */
export function compileKernel(): Promise<WasmModule> {
  compiled ??= (async () => {
    const { source, features } = await kernelSource(relaxedSimd());
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
  const collectors: Array<ReturnType<typeof createCollector>> = [];
  let current: ReturnType<typeof createCollector> | undefined;
  const imports = { emit: (row: number, distance: number) => current!.emit(row, distance) };
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
  const tested = { rows: 0, passed: 0 };
  const kernel: Kernel = {
    headTests: () => ({ ...tested }),
    scan(task) {
      const { queries, cancel, kind, bounds: shared } = task;
      const count = queries.length;
      while (collectors.length < count) collectors.push(createCollector());
      const bounds = new Float64Array(count);
      queries.forEach((query, q) => {
        bounds[q] = collectors[q]!.reset(query);
      });
      const block = count === 1 ? SINGLE_BLOCK : BATCH_BLOCK;
      // A `nearestLater` query first scans with its bound alone, as if it did not ask for the
      // nearest: cheap, since the head test rules out nearly every row, where the nearest so far
      // lets most rows through until a row within the bound turns up. Once one is known to the
      // pass, it is nearer than any row beyond the bound, so the blocks scanned so far owe nothing
      // more. A query still owing them at the end of the task (a miss, so far) scans them again
      // for the nearest.
      const owing = queries.map((query) => query.nearest === true && query.nearestLater === true && Number.isFinite(query.bound));
      // Per query, whether its next block is scanned by full codes (see FULL_CODES_ABOVE); a query
      // with no bound yet lets every row through the head test.
      const fullCodes = queries.map((query, q) => !Number.isFinite(owing[q] ? query.bound : bounds[q]!));
      const scanned: Array<{ index: number; segment: ScanSegment; from: number; to: number }> = [];
      const { claim } = task;
      const dropped = (q: number) => cancel !== undefined && Atomics.load(cancel, q) !== 0;
      const allDropped = () => cancel !== undefined && queries.every((_, q) => dropped(q));
      /** Scans rows [from, to) of a segment for query q with its bound, or (`withoutNearest`) with its bound but for the nearest so far. */
      const scanBlock = (q: number, index: number, s: ScanSegment, from: number, to: number, withoutNearest: boolean): void => {
        const exports = exportsOf(s.memory);
        const query = queries[q]!;
        const slot = s.queries + query.slot * SLOT_BYTES;
        current = collectors[q]!;
        current.setSegment(index);
        // The collector's bound, lowered to the pass's lowest published one.
        bounds[q] = current.capAt(shared ? boundOfBits(Atomics.load(shared, q)) : Number.POSITIVE_INFINITY);
        if (withoutNearest) bounds[q] = current.thresholdBound();
        if (kind === 'float') {
          bounds[q] = exports.scanFloat(from, to, s.flags, s.norms, s.rows, slot, query.norm, bounds[q]!);
        } else {
          const relaxed = kind === 'quantized';
          const headScan = relaxed ? (exports.scanQuantizedRelaxed ?? exports.scanQuantized) : exports.scanQuantized;
          // With SIMD128 alone, the full scan's sixteen i16 dot products a row cost more than the
          // head test and its survivors' tails, even when most rows pass (measured): it is relaxed only.
          const fullScan = relaxed ? exports.scanFullCodesRelaxed : undefined;
          bounds[q] = (fullCodes[q] && fullScan ? fullScan : headScan)(
            from, to, s.flags, s.headBases, s.fullBases, s.residuals, s.head, s.tail, s.rows,
            slot, slot + SLOT_WIDE_CODES, slot + SLOT_BYTE_CODES, query.headBase, query.fullBase, query.residual, query.headResidual, bounds[q]!,
          );
          tested.rows += to - from;
          tested.passed += exports.passes.value;
          const passing = exports.passes.value / (to - from);
          fullCodes[q] = fullCodes[q] ? passing > FULL_CODES_BELOW : passing > FULL_CODES_ABOVE;
        }
        if (shared) publish(shared, q, boundBits(current.own()));
      };
      // The number of the next block this task scans, and of the block at hand.
      let next = claim ? Atomics.add(claim, 0, 1) : 0;
      let numbered = 0;
      scanning: for (const [index, s] of task.segments.entries()) {
        const blocks = Math.ceil((s.to - s.from) / block);
        if (next >= numbered + blocks) {
          numbered += blocks;
          continue;
        }
        for (let from = s.from; from < s.to; from += block, numbered++) {
          if (numbered !== next) continue;
          const to = Math.min(s.to, from + block);
          if (allDropped()) break scanning;
          for (let q = 0; q < count; q++) {
            if (dropped(q)) continue;
            if (owing[q] && collectors[q]!.matched()) owing[q] = false;
            scanBlock(q, index, s, from, to, owing[q]!);
          }
          if (owing.includes(true)) scanned.push({ index, segment: s, from, to });
          // Claimed once this block is done, so that the last blocks go to whoever is free.
          next = claim ? Atomics.add(claim, 0, 1) : next + 1;
        }
      }
      // The misses so far: the nearest from the blocks they owe (all this task scanned while they
      // owed them), block by block for all of them; a row found within the bound by another task
      // meanwhile makes the rest cheap (its bound then caps this scan).
      // With no bound of their own yet, every row passes their head test.
      for (let q = 0; q < count; q++) if (owing[q]) fullCodes[q] = true;
      for (const { index, segment, from, to } of owing.includes(true) ? scanned : []) {
        if (allDropped()) break;
        for (let q = 0; q < count; q++) {
          if (!owing[q] || dropped(q)) continue;
          if (shared) collectors[q]!.capAt(boundOfBits(Atomics.load(shared, q)));
          if (collectors[q]!.matched()) owing[q] = false;
          else scanBlock(q, index, segment, from, to, false);
        }
      }
      current = undefined;
      // A dropped query's candidates are worthless to its caller, who has already been answered.
      const kept = queries.map((_, q) => (dropped(q) ? 0 : collectors[q]!.finish()));
      const headerBytes = 4 * (1 + count);
      const buffer = new ArrayBuffer(headerBytes + 12 * kept.reduce((sum, n) => sum + n, 0));
      const header = new Int32Array(buffer, 0, 1 + count);
      header[0] = count;
      let at = headerBytes;
      kept.forEach((n, q) => {
        header[1 + q] = n;
        if (n > 0) collectors[q]!.write(buffer, at);
        at += n * 12;
      });
      return buffer;
    },
  };
  warmUp(kernel);
  return kernel;
}

// V8 runs new WASM on its baseline compiler and swaps in optimised code only for later calls, so a
// few scans over a scratch memory here keep that slow first call away from real requests.
function warmUp(kernel: Kernel): void {
  const rows = 2048;
  const memory = new wasm.Memory({ initial: 32, maximum: 32, shared: true });
  const layout = { flags: 0, norms: 2048, headBases: 2048 + rows * 4, fullBases: 2048 + rows * 8, residuals: 2048 + rows * 12, queries: 2048 + rows * 16 };
  const head = layout.queries + 2 * SLOT_BYTES;
  const segment: ScanSegment = { ...layout, memory, head, tail: head + rows * 64, rows: head + rows * 128, from: 0, to: rows };
  const floats = new Float32Array(memory.buffer, segment.rows, rows * 128);
  for (let i = 0; i < floats.length; i++) floats[i] = ((i * 7919) % 1000) / 8000;
  const bytes = new Int8Array(memory.buffer, head, rows * 128);
  for (let i = 0; i < bytes.length; i++) bytes[i] = ((i * 7919) % 255) - 127;
  const query = (slot: number, bound: number): ScanQuery => ({ slot, norm: 1, headBase: 1000, fullBase: 2000, residual: 0.01, headResidual: 0.007, k: 4, bound, nearest: slot === 1 });
  for (const kind of ['quantized', 'quantized-simd128', 'float'] as const) {
    for (let i = 0; i < 30; i++) kernel.scan({ kind, segments: [segment], queries: i % 2 === 0 ? [query(0, Number.POSITIVE_INFINITY)] : [query(0, 0.3), query(1, 0.3)] });
  }
}
