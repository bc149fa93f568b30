const f32 = Math.fround;

/** Floats per face descriptor. */
export const DIMENSIONS = 128;

/**
 * Exact squared L2 distance between the descriptor at float index `offset` of `rows` and `query`,
 * in the summation order of the WASM kernel's `distance` (see workers/matcherKernel.wat), so that
 * verify on this thread and identify in a worker report the same similarity to the last bit.
 */
export function squaredDistance(rows: Float32Array, offset: number, query: Float32Array): number {
  // Every step is rounded to float32 as WASM's f32 ops are: for +, − and × a double has more than
  // 2·24 + 2 bits, so computing in double and rounding once gives the correctly rounded f32.
  const lanes = [0, 0, 0, 0];
  for (let lane = 0; lane < 4; lane++) {
    const sums = [0, 0, 0, 0];
    for (let acc = 0; acc < 4; acc++) {
      let sum = 0;
      for (let chunk = acc; chunk < 32; chunk += 4) {
        const i = chunk * 4 + lane;
        const e = f32(rows[offset + i]! - query[i]!);
        sum = f32(sum + f32(e * e));
      }
      sums[acc] = sum;
    }
    lanes[lane] = f32(f32(sums[0]! + sums[1]!) + f32(sums[2]! + sums[3]!));
  }
  return f32(f32(lanes[0]! + lanes[1]!) + f32(lanes[2]! + lanes[3]!));
}

/** Leading dimensions whose codes the scan reads first (the head); the tail only for rows the head cannot rule out. */
export const HEAD_DIMENSIONS = 64;
/**
 * A stored row's codes: int8 c with x̂ = 2⁻⁸ · c (values within ±0.496 are coded, larger ones
 * clamped, and the residual says by how much). A power of two, so that the squared distance
 * between codes, an integer in units of 2⁻¹⁶, converts to a distance exactly.
 */
export const ROW_CODE_SCALE = 2 ** -8;
/**
 * A query's codes, biased into the unsigned 7-bit operand that WebAssembly's relaxed dot products
 * take as it is (every lowering gives the same exact sums for it). The tail's are q₇ in −64..63
 * with q̂ = 2⁻⁷ · q₇ (±0.5), stored as b = q₇ + 64 in 0..127. The head's are coarser, q₆ in −32..31
 * with q̂ = 2⁻⁶ · q₆ (the same ±0.5), stored as b = q₆ + 32 in 0..63: two of the relaxed kernel's
 * pairwise i16 dot products of a row's head codes then add up in i16 without overflow
 * (|c| <= 127: 2 · 2 · 127 · 63 = 32004), so the head test costs six multiplies a row instead
 * of eight and four shifts (see workers/matcherKernel.wat); the query's residual over the head
 * says what the coarser grid costs the test. Then, in units of 2⁻¹⁶, with c·b the kernel's dot products:
 * |c_h − 4q₆|² = (|c_h|² + 256·Σc_h) + 16·|q₆|² − 8·c_h·b_h and
 * |c_t − 2q₇|² = (|c_t|² + 256·Σc_t) + 4·|q₇|² − 4·c_t·b_t.
 */
export const QUERY_HEAD_CODE_SCALE = 2 ** -6;
export const QUERY_TAIL_CODE_SCALE = 2 ** -7;
const QUERY_HEAD_BIAS = 32;
const QUERY_TAIL_BIAS = 64;

/**
 * The residual over the head's dimensions the kernel's head test assumes for every row: 64 half
 * steps of 2⁻⁸ make at most √64 · 2⁻⁹ = 2⁻⁶ for a row whose head values are all within the codes'
 * range. A row beyond it (a head value clamped) stores its head base lowered by
 * HEAD_OUTLIER_OFFSET, so that it always goes on to the tail's test, which uses the row's own
 * residual over all dimensions. Mirrors `$headLimit` in the kernel.
 */
export const HEAD_RESIDUAL_CAP = 2 ** -6;
export const HEAD_OUTLIER_OFFSET = 2 ** 30;

/** What the quantized scan needs of a row besides its codes. */
export interface RowQuantization {
  /**
   * |c|² + 256·Σc over the head dimensions (lowered by HEAD_OUTLIER_OFFSET for a row whose
   * residual over them exceeds HEAD_RESIDUAL_CAP), and over all of them: the row's part of the squared code
   * distance, exact integers.
   */
  readonly headBase: number;
  readonly fullBase: number;
  /** |x − x̂|, rounded up: the kernel's candidate test relies on it never being too small. */
  readonly residual: number;
}

/** What the quantized scan needs of a query besides its biased codes. */
export interface QueryQuantization {
  /** 16·|q₆|² over the head dimensions, and that plus 4·|q₇|² over the tail's: the query's part of the squared code distance. */
  readonly headBase: number;
  readonly fullBase: number;
  /** |q − q̂|, rounded up, and the same over the head's dimensions alone (the head test's). */
  readonly residual: number;
  readonly headResidual: number;
}

/** Writes the int8 codes of a row at `offset` of `codes`. */
export function quantizeRow(values: Float32Array, codes: Int8Array, offset: number): RowQuantization {
  const { residual, headResidual } = quantizeOnGrid(values, ROW_GRID, ROW_GRID, codes, offset);
  let headBase = 0;
  let fullBase = 0;
  for (let i = 0; i < DIMENSIONS; i++) {
    const code = codes[offset + i]!;
    fullBase += code * code + 256 * code;
    if (i === HEAD_DIMENSIONS - 1) headBase = fullBase;
  }
  return { headBase: headResidual > HEAD_RESIDUAL_CAP ? headBase - HEAD_OUTLIER_OFFSET : headBase, fullBase, residual };
}

/** Writes a query's biased codes (q₆ + 32 on the head, q₇ + 64 on the tail), as i16 (the SIMD128 kernel's operand) and as bytes (the relaxed kernel's). */
export function quantizeQuery(values: Float32Array, wide: Int16Array, bytes: Uint8Array): QueryQuantization {
  const { residual, headResidual } = quantizeOnGrid(values, QUERY_HEAD_GRID, QUERY_TAIL_GRID, wide, 0);
  let headBase = 0;
  let fullBase = 0;
  for (let i = 0; i < DIMENSIONS; i++) {
    const code = wide[i]!;
    // In row steps q̂ = step · code (4 on the head, 2 on the tail), and the bias takes lo to 0.
    const grid = i < HEAD_DIMENSIONS ? QUERY_HEAD_GRID : QUERY_TAIL_GRID;
    const step = grid.scale / ROW_CODE_SCALE;
    fullBase += step * step * code * code;
    if (i === HEAD_DIMENSIONS - 1) headBase = fullBase;
    const biased = code - grid.lo;
    wide[i] = biased;
    bytes[i] = biased;
  }
  return { headBase, fullBase, residual, headResidual };
}

/** Values rounded to the nearest multiple of `scale` (a power of two), clamped to codes lo..hi. */
interface Grid {
  readonly scale: number;
  readonly lo: number;
  readonly hi: number;
}
const ROW_GRID: Grid = { scale: ROW_CODE_SCALE, lo: -127, hi: 127 };
const QUERY_HEAD_GRID: Grid = { scale: QUERY_HEAD_CODE_SCALE, lo: -QUERY_HEAD_BIAS, hi: QUERY_HEAD_BIAS - 1 };
const QUERY_TAIL_GRID: Grid = { scale: QUERY_TAIL_CODE_SCALE, lo: -QUERY_TAIL_BIAS, hi: QUERY_TAIL_BIAS - 1 };

/**
 * Codes the head's values on one grid and the tail's on another, written at `offset` of `codes`;
 * answers the residual |v − v̂| and the same over the head's dimensions, both rounded up.
 */
function quantizeOnGrid(values: Float32Array, head: Grid, tail: Grid, codes: Int8Array | Int16Array, offset: number): { residual: number; headResidual: number } {
  const headSquares = quantizeRange(values, 0, HEAD_DIMENSIONS, head, codes, offset);
  const residualSquares = headSquares + quantizeRange(values, HEAD_DIMENSIONS, DIMENSIONS, tail, codes, offset);
  return { residual: roundedUp(residualSquares), headResidual: roundedUp(headSquares) };
}

/** Codes values [from, to) on `grid`; answers the sum of their squared errors. */
function quantizeRange(values: Float32Array, from: number, to: number, grid: Grid, codes: Int8Array | Int16Array, offset: number): number {
  // scale is a power of two, so value · (1 / scale) is exact and floor(x + 0.5) is Math.round(x)
  // (x + 0.5 is exact in a double for these magnitudes): the same codes, at half the cost.
  const { scale, lo, hi } = grid;
  const inverse = 1 / scale;
  let squares = 0;
  for (let i = from; i < to; i++) {
    const value = values[i]!;
    const rounded = Math.floor(value * inverse + 0.5);
    const code = rounded < lo ? lo : rounded > hi ? hi : rounded;
    codes[offset + i] = code;
    const error = value - scale * code;
    squares += error * error;
  }
  return squares;
}

/** √(squares) as float32, never below the exact value. */
function roundedUp(squares: number): number {
  return f32(Math.sqrt(squares) * (1 + 1e-6) + 1e-9);
}

/** |v|² rounded to float32; the kernel's filter only needs it to within its margin. */
export function squaredNorm(values: Float32Array, offset = 0): number {
  let sum = 0;
  for (let i = 0; i < DIMENSIONS; i++) sum += values[offset + i]! * values[offset + i]!;
  return f32(sum);
}

/** The contract's similarity of a squared distance: max(0, 1 − distance). */
export function similarityOf(squared: number): number {
  return Math.max(0, 1 - Math.sqrt(squared));
}

/**
 * The squared-distance bound equivalent to `similarity >= minSimilarity`, widened by a hair so
 * that float32 rounding never drops a qualifying row; callers re-check with `similarityOf`.
 */
export function squaredBoundOf(minSimilarity: number): number {
  if (minSimilarity <= 0) return Number.POSITIVE_INFINITY;
  const distance = 1 - minSimilarity;
  return f32(distance * distance * (1 + 1e-6) + 1e-12);
}
