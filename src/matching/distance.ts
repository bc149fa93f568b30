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

/** What the quantized scan needs besides the int8 codes of a descriptor (x̂ = scale · code). */
export interface Quantization {
  readonly scale: number;
  /** |x̂|² as float32. */
  readonly codeNorm: number;
  /** |x − x̂|, rounded up: the kernel's candidate test relies on it never being too small. */
  readonly residual: number;
}

/** Writes the codes of `values` (one scale per descriptor, codes in −127..127) at `offset` of `codes`. */
export function quantize(values: Float32Array, codes: Int8Array | Int16Array, offset: number): Quantization {
  let max = 0;
  for (let i = 0; i < DIMENSIONS; i++) max = Math.max(max, Math.abs(values[i]!));
  const scale = f32(max / 127);
  let codeSquares = 0;
  let residualSquares = 0;
  for (let i = 0; i < DIMENSIONS; i++) {
    const code = scale > 0 ? Math.max(-127, Math.min(127, Math.round(values[i]! / scale))) : 0;
    codes[offset + i] = code;
    codeSquares += code * code;
    const error = values[i]! - scale * code;
    residualSquares += error * error;
  }
  return { scale, codeNorm: f32(scale * scale * codeSquares), residual: f32(Math.sqrt(residualSquares) * (1 + 1e-6) + 1e-9) };
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
