import { createHash } from 'node:crypto';
import { DIMENSIONS, HEAD_DIMENSIONS, quantizeRow, squaredNorm } from './distance.ts';
import { grownInto } from './idArena.ts';
import { wasm, WASM_PAGE, type WasmMemory } from './wasm.ts';
import { SLOT_BYTE_CODES, SLOT_BYTES, SLOT_WIDE_CODES, type ScanSegment } from '../../workers/matcherKernel.ts';

const ROW_BYTES = DIMENSIONS * 4;
const TAIL_DIMENSIONS = DIMENSIONS - HEAD_DIMENSIONS;
/** Identify calls one shard can serve at once: each writes its query into a slot of its own. */
export const QUERY_SLOTS = 128;
const FIRST_ROWS = 1024;

/** Byte offsets of the regions of a shard's memory (see workers/matcherKernel.wat). */
export interface ShardLayout {
  /** One tombstone byte per row. */
  readonly flags: number;
  /** Per row, |x|² as f32 (for the float scan). */
  readonly norms: number;
  /** Per row, |c|² + 256·Σc of its codes' head, as i32 (the row's part of the squared code distance, see distance.ts). */
  readonly headBases: number;
  /** Per row, the same over all dimensions. */
  readonly fullBases: number;
  /** Per row, |x − x̂| (rounded up) as f32. */
  readonly residuals: number;
  /** QUERY_SLOTS slots of 1 KiB: the f32 query, its biased codes as i16, and as bytes. */
  readonly queries: number;
  /** The first HEAD_DIMENSIONS int8 codes of each row. */
  readonly head: number;
  /** The other int8 codes of each row. */
  readonly tail: number;
  /** 128 f32 per row; the only region that grows. */
  readonly rows: number;
}

/**
 * What a shard stores of rows besides their descriptors, a column per region of its memory (see
 * ShardLayout): row i's head and tail codes at [64 i, 64 i + 64), its head base, full base,
 * residual and |x|² at [i]. Only valid for a build whose CODES_FINGERPRINT is the one they were
 * made with.
 */
export interface StoredRows {
  readonly head: Int8Array;
  readonly tail: Int8Array;
  readonly headBases: Int32Array;
  readonly fullBases: Int32Array;
  readonly residuals: Float32Array;
  readonly norms: Float32Array;
}

/** Room for `rows` rows of StoredRows. */
export function storedRows(rows: number): StoredRows {
  return {
    head: new Int8Array(rows * HEAD_DIMENSIONS),
    tail: new Int8Array(rows * TAIL_DIMENSIONS),
    headBases: new Int32Array(rows),
    fullBases: new Int32Array(rows),
    residuals: new Float32Array(rows),
    norms: new Float32Array(rows),
  };
}

/** Rows [0, rows) of some StoredRows, as views. */
export function storedPrefix(stored: StoredRows, rows: number): StoredRows {
  return {
    head: stored.head.subarray(0, rows * HEAD_DIMENSIONS),
    tail: stored.tail.subarray(0, rows * TAIL_DIMENSIONS),
    headBases: stored.headBases.subarray(0, rows),
    fullBases: stored.fullBases.subarray(0, rows),
    residuals: stored.residuals.subarray(0, rows),
    norms: stored.norms.subarray(0, rows),
  };
}

export const CODES_FINGERPRINT: Buffer = (() => {
  const hash = createHash('sha256');
  let state = 0x9e3779b9;
  const next = () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  const codes = new Int8Array(DIMENSIONS);
  for (let vector = 0; vector < 64; vector++) {
    // Unit vectors, then larger and sparser ones (clamped codes, head residuals past the cap).
    const values = Float32Array.from({ length: DIMENSIONS }, (_, i) => next() * (vector < 32 ? 0.18 : vector % 2 ? 2 : i % 7 === 0 ? 1.3 : 0.01));
    const terms = quantizeRow(values, codes, 0);
    hash.update(new Uint8Array(codes.buffer));
    hash.update(new Uint8Array(Int32Array.of(terms.headBase, terms.fullBase).buffer));
    hash.update(new Uint8Array(Float32Array.of(terms.residual, squaredNorm(values)).buffer));
  }
  return hash.digest().subarray(0, 16);
})();

/** A query as the kernel reads it from a slot: the f32 values and their biased codes, as i16 and as bytes. */
export interface SlotQuery {
  readonly values: Float32Array;
  readonly wide: Int16Array;
  readonly bytes: Uint8Array;
}

/** A fixed-capacity block of descriptor rows in one shared WebAssembly memory, appended in place. */
export interface Shard {
  readonly memory: WasmMemory;
  readonly capacity: number;
  readonly layout: ShardLayout;
  /** Rows appended, live or tombstoned. */
  readonly count: number;
  readonly dead: number;
  /** Set once a compacted copy has replaced this shard; scans in flight may still read it. */
  readonly retired: boolean;
  /** The row's template id while that template is live (also in a retired shard), else undefined. */
  templateIdAt(row: number): string | undefined;
  userIdAt(row: number): string | undefined;
  /** The handle (see RowIds) a row was appended with, -1 once tombstoned, and its generation. */
  handleAt(row: number): number;
  generationAt(row: number): number;
  /**
   * Takes the handles of rows copied in by `copyRows` (an empty shard only): row i is handles[i]
   * of generation generations[i], or a tombstone where the handle is -1 (removed while the copy ran).
   */
  adopt(handles: Int32Array, generations: Int32Array): void;
  /** Appends a row for a template handle and returns its index; the caller checks `count < capacity` first. */
  append(handle: number, generation: number, descriptor: Float32Array): number;
  /** Grows the memory to hold `rows` rows (at most `capacity`), so that appending them cannot fail. */
  reserve(rows: number): void;
  /**
   * Appends rows [from, from + n) of `descriptors` and `stored` (what `readRun` copied out of a
   * shard of this build) for these handles, copying their codes and terms instead of computing
   * them, a region at a time; the caller reserves the rows first. Returns the first new row.
   */
  appendRun(handles: ArrayLike<number>, generations: ArrayLike<number>, descriptors: Float32Array, stored: StoredRows, from: number, n: number): number;
  /** Copies rows [row, row + n) (descriptors, codes and terms) to rows [at, at + n) of `descriptors` and `into`. */
  readRun(row: number, n: number, descriptors: Float32Array, into: StoredRows, at: number): void;
  /** Marks a row removed and zeroes what was stored of it. */
  tombstone(row: number): void;
  /** The stored descriptor of a row (a view, valid until the next append). */
  descriptor(row: number): Float32Array;
  /** Float view over the whole memory and the float index of a row in it, for exact distances. */
  rowsView(): Float32Array;
  rowOffset(row: number): number;
  writeQuery(slot: number, query: SlotQuery): void;
  /** A scan task's view of rows [from, to); the task's queries name their slots. */
  segment(from: number, to: number): ScanSegment;
  retire(): void;
  bytes(): number;
  /** Bytes of its rows' template handles and generations (kept outside the memory, on this thread). */
  idBytes(): number;
}

function align64(n: number): number {
  return Math.ceil(n / 64) * 64;
}

/** The layout of a shard of `capacity` rows. */
export function shardLayout(capacity: number): ShardLayout {
  // The kernel reads rows four at a time and may read up to three past the last one of a region:
  // that memory belongs to the next region, and its lanes are never used.
  const norms = align64(capacity);
  const headBases = align64(norms + capacity * 4);
  const fullBases = align64(headBases + capacity * 4);
  const residuals = align64(fullBases + capacity * 4);
  const queries = align64(residuals + capacity * 4);
  const head = queries + QUERY_SLOTS * SLOT_BYTES;
  const tail = head + capacity * HEAD_DIMENSIONS;
  const rows = align64(tail + capacity * TAIL_DIMENSIONS);
  return { flags: 0, norms, headBases, fullBases, residuals, queries, head, tail, rows };
}

/** Where a shard's rows are, for `copyRows` on any thread. */
export interface ShardRegions {
  readonly memory: WasmMemory;
  readonly layout: ShardLayout;
}

/**
 * Copies rows `rows` of `source` (ascending) to rows 0.. of `target`, every per-row region byte
 * for byte (codes depend only on the descriptor, so nothing is recomputed): what a compaction
 * does, on a worker thread for a large shard. The target's memory must already hold them.
 */
export function copyRows(source: ShardRegions, target: ShardRegions, rows: Int32Array): void {
  const from = new Uint8Array(source.memory.buffer);
  const to = new Uint8Array(target.memory.buffer);
  const regions: Array<[keyof ShardLayout, number]> = [['norms', 4], ['headBases', 4], ['fullBases', 4], ['residuals', 4], ['head', HEAD_DIMENSIONS], ['tail', TAIL_DIMENSIONS], ['rows', ROW_BYTES]];
  for (const [region, stride] of regions) {
    const read = source.layout[region];
    const write = target.layout[region];
    // Runs of consecutive rows are copied at once.
    for (let i = 0; i < rows.length; ) {
      let end = i + 1;
      while (end < rows.length && rows[end] === rows[end - 1]! + 1) end++;
      to.set(from.subarray(read + rows[i]! * stride, read + (rows[end - 1]! + 1) * stride), write + i * stride);
      i = end;
    }
  }
}

/**
 * Where a shard's rows get their ids: a row holds only its template's handle and that handle's
 * generation when it was appended (see src/matching/idArena.ts), and asks these for the texts.
 */
export interface RowIds {
  /** Whether the handle still has that generation, i.e. the row's template was not removed since. */
  live(handle: number, generation: number): boolean;
  /** The id of a live handle's template, and of its user. */
  templateId(handle: number): string;
  userId(handle: number): string;
}

/**
 * Creates an empty shard; its memory starts small (or holds `reserve` rows) and grows towards
 * `capacity` rows.
 */
export function createShard(capacity: number, ids: RowIds, reserve = 0): Shard {
  const layout = shardLayout(capacity);
  const pagesFor = (rows: number) => Math.ceil((layout.rows + rows * ROW_BYTES) / WASM_PAGE);
  let allocated = Math.min(capacity, Math.max(FIRST_ROWS, reserve));
  const memory = new wasm.Memory({ initial: pagesFor(allocated), maximum: pagesFor(capacity), shared: true });
  let floats = new Float32Array(memory.buffer);
  let bytes = new Uint8Array(memory.buffer);
  let codes = new Int8Array(memory.buffer);
  let shorts = new Int16Array(memory.buffer);
  let ints = new Int32Array(memory.buffer);
  // Per row, its template's handle (-1 once tombstoned) and that handle's generation then.
  let handles = new Int32Array(allocated);
  let generations = new Int32Array(allocated);
  let count = 0;
  let dead = 0;
  let retired = false;

  const scratch = new Int8Array(DIMENSIONS);
  const rowOffset = (row: number) => (layout.rows + row * ROW_BYTES) / 4;
  const liveAt = (row: number) => row < count && handles[row]! >= 0 && ids.live(handles[row]!, generations[row]!);

  function grow(atLeast = 0): void {
    const next = Math.min(capacity, Math.max(atLeast, allocated + FIRST_ROWS, Math.ceil(allocated * 1.25)));
    memory.grow(pagesFor(next) - pagesFor(allocated));
    allocated = next;
    handles = grownInto(handles, new Int32Array(next));
    generations = grownInto(generations, new Int32Array(next));
    // A grown shared memory hands out a new, longer SharedArrayBuffer; old views stay short.
    floats = new Float32Array(memory.buffer);
    bytes = new Uint8Array(memory.buffer);
    codes = new Int8Array(memory.buffer);
    shorts = new Int16Array(memory.buffer);
    ints = new Int32Array(memory.buffer);
  }

  return {
    memory,
    capacity,
    layout,
    get count() {
      return count;
    },
    get dead() {
      return dead;
    },
    get retired() {
      return retired;
    },
    templateIdAt: (row) => (liveAt(row) ? ids.templateId(handles[row]!) : undefined),
    userIdAt: (row) => (liveAt(row) ? ids.userId(handles[row]!) : undefined),
    handleAt: (row) => (row < count ? handles[row]! : -1),
    generationAt: (row) => generations[row]!,
    adopt(adopted, adoptedGenerations) {
      if (count !== 0 || adopted.length > allocated) throw new Error('adopt needs an empty shard that holds the rows');
      handles.set(adopted);
      generations.set(adoptedGenerations);
      count = adopted.length;
      for (let row = 0; row < adopted.length; row++) if (adopted[row]! < 0) this.tombstone(row);
    },
    append(handle, generation, descriptor) {
      if (count === allocated) grow();
      const row = count;
      floats.set(descriptor.length === DIMENSIONS ? descriptor : descriptor.subarray(0, DIMENSIONS), rowOffset(row));
      const quantized = quantizeRow(descriptor, scratch, 0);
      // Plain loops: two subarrays per row cost more than copying 128 bytes.
      const head = layout.head + row * HEAD_DIMENSIONS;
      for (let i = 0; i < HEAD_DIMENSIONS; i++) codes[head + i] = scratch[i]!;
      const tail = layout.tail + row * TAIL_DIMENSIONS - HEAD_DIMENSIONS;
      for (let i = HEAD_DIMENSIONS; i < DIMENSIONS; i++) codes[tail + i] = scratch[i]!;
      floats[layout.norms / 4 + row] = squaredNorm(descriptor);
      ints[layout.headBases / 4 + row] = quantized.headBase;
      ints[layout.fullBases / 4 + row] = quantized.fullBase;
      floats[layout.residuals / 4 + row] = quantized.residual;
      handles[row] = handle;
      generations[row] = generation;
      // Published last: a scan reads only rows below the count it was planned with.
      count = row + 1;
      return row;
    },
    tombstone(row) {
      if (bytes[layout.flags + row] === 1) return;
      bytes[layout.flags + row] = 1;
      floats.fill(0, rowOffset(row), rowOffset(row) + DIMENSIONS);
      codes.fill(0, layout.head + row * HEAD_DIMENSIONS, layout.head + (row + 1) * HEAD_DIMENSIONS);
      codes.fill(0, layout.tail + row * TAIL_DIMENSIONS, layout.tail + (row + 1) * TAIL_DIMENSIONS);
      floats[layout.norms / 4 + row] = 0;
      ints[layout.headBases / 4 + row] = 0;
      ints[layout.fullBases / 4 + row] = 0;
      floats[layout.residuals / 4 + row] = 0;
      handles[row] = -1;
      dead++;
    },
    reserve(rows) {
      if (rows > allocated) grow(Math.min(rows, capacity));
    },
    appendRun(runHandles, runGenerations, descriptors, stored, from, n) {
      const row = count;
      if (row + n > allocated) throw new Error(`appendRun: ${n} rows past the ${allocated} reserved`);
      floats.set(descriptors.subarray(from * DIMENSIONS, (from + n) * DIMENSIONS), rowOffset(row));
      codes.set(stored.head.subarray(from * HEAD_DIMENSIONS, (from + n) * HEAD_DIMENSIONS), layout.head + row * HEAD_DIMENSIONS);
      codes.set(stored.tail.subarray(from * TAIL_DIMENSIONS, (from + n) * TAIL_DIMENSIONS), layout.tail + row * TAIL_DIMENSIONS);
      ints.set(stored.headBases.subarray(from, from + n), layout.headBases / 4 + row);
      ints.set(stored.fullBases.subarray(from, from + n), layout.fullBases / 4 + row);
      floats.set(stored.residuals.subarray(from, from + n), layout.residuals / 4 + row);
      floats.set(stored.norms.subarray(from, from + n), layout.norms / 4 + row);
      for (let i = 0; i < n; i++) {
        handles[row + i] = runHandles[i]!;
        generations[row + i] = runGenerations[i]!;
      }
      // Published last: a scan reads only rows below the count it was planned with.
      count = row + n;
      return row;
    },
    readRun(row, n, descriptors, into, at) {
      descriptors.set(floats.subarray(rowOffset(row), rowOffset(row + n)), at * DIMENSIONS);
      into.head.set(codes.subarray(layout.head + row * HEAD_DIMENSIONS, layout.head + (row + n) * HEAD_DIMENSIONS), at * HEAD_DIMENSIONS);
      into.tail.set(codes.subarray(layout.tail + row * TAIL_DIMENSIONS, layout.tail + (row + n) * TAIL_DIMENSIONS), at * TAIL_DIMENSIONS);
      into.headBases.set(ints.subarray(layout.headBases / 4 + row, layout.headBases / 4 + row + n), at);
      into.fullBases.set(ints.subarray(layout.fullBases / 4 + row, layout.fullBases / 4 + row + n), at);
      into.residuals.set(floats.subarray(layout.residuals / 4 + row, layout.residuals / 4 + row + n), at);
      into.norms.set(floats.subarray(layout.norms / 4 + row, layout.norms / 4 + row + n), at);
    },
    descriptor: (row) => floats.subarray(rowOffset(row), rowOffset(row) + DIMENSIONS),
    rowsView: () => floats,
    rowOffset,
    writeQuery(slot, query) {
      const at = layout.queries + slot * SLOT_BYTES;
      floats.set(query.values.subarray(0, DIMENSIONS), at / 4);
      shorts.set(query.wide.subarray(0, DIMENSIONS), (at + SLOT_WIDE_CODES) / 2);
      bytes.set(query.bytes.subarray(0, DIMENSIONS), at + SLOT_BYTE_CODES);
    },
    segment(from, to) {
      return { memory, ...layout, from, to };
    },
    retire() {
      retired = true;
    },
    bytes: () => memory.buffer.byteLength,
    idBytes: () => handles.byteLength + generations.byteLength,
  };
}
