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

  function grow(): void {
    const next = Math.min(capacity, Math.max(allocated + FIRST_ROWS, Math.ceil(allocated * 1.25)));
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
