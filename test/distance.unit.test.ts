import test from 'ava';
import {
  DIMENSIONS,
  HEAD_DIMENSIONS,
  HEAD_OUTLIER_OFFSET,
  HEAD_RESIDUAL_CAP,
  QUERY_HEAD_CODE_SCALE,
  QUERY_TAIL_CODE_SCALE,
  ROW_CODE_SCALE,
  quantizeQuery,
  quantizeRow,
} from '../src/matching/distance.ts';
import { gaussian, seededRandom } from './support/faces.ts';

// The contract between the codes and the kernel (workers/matcherKernel.wat), which only ever sees
// the per-row and per-query terms and the dot products c·b: in units of 2⁻¹⁶ the head's code
// distance is hb + qhb − 8·c_h·b_h and the whole one fb + qfb − 8·c_h·b_h − 4·c_t·b_t, where b are
// the biased query codes. Checked here against the distances computed from the codes directly, and
// the residuals against the values, over descriptors of real-like spread and some with values past
// the codes' range (clamped).

function descriptor(random: () => number, spread: number): Float32Array {
  return Float32Array.from({ length: DIMENSIONS }, () => spread * gaussian(random));
}

/** One row's codes and terms, and one query's biased codes (as bytes) and terms. */
function coded(rowValues: Float32Array, queryValues: Float32Array) {
  const codes = new Int8Array(DIMENSIONS);
  const row = quantizeRow(rowValues, codes, 0);
  const bytes = new Uint8Array(DIMENSIONS);
  const query = quantizeQuery(queryValues, new Int16Array(DIMENSIONS), bytes);
  return { codes, row, bytes, query };
}

test("a query's biased codes are 0..63 on the head and 0..127 on the tail, the same as i16 and as bytes", (t) => {
  const random = seededRandom(71);
  for (let n = 0; n < 200; n++) {
    const wide = new Int16Array(DIMENSIONS);
    const bytes = new Uint8Array(DIMENSIONS);
    quantizeQuery(descriptor(random, n % 2 === 0 ? 0.12 : 0.4), wide, bytes);
    for (let i = 0; i < DIMENSIONS; i++) {
      const most = i < HEAD_DIMENSIONS ? 63 : 127;
      if (wide[i]! < 0 || wide[i]! > most || bytes[i] !== wide[i]) return t.fail(`query ${n}, dimension ${i}: ${wide[i]} / ${bytes[i]}`);
    }
  }
  t.pass();
});

test('the kernel-side terms give the exact integer code distance over the head and over all dimensions', (t) => {
  const random = seededRandom(72);
  let outliers = 0;
  for (let n = 0; n < 300; n++) {
    // Every fifth row is spread past the row codes' ±0.496 (clamped values, an outlier head).
    const rowValues = descriptor(random, n % 5 === 0 ? 0.3 : 0.12);
    const queryValues = descriptor(random, n % 3 === 0 ? 0.35 : 0.12);
    const { codes, row, bytes, query } = coded(rowValues, queryValues);
    let headDot = 0;
    let tailDot = 0;
    let headSquares = 0;
    let tailSquares = 0;
    for (let i = 0; i < DIMENSIONS; i++) {
      const c = codes[i]!;
      if (i < HEAD_DIMENSIONS) {
        headDot += c * bytes[i]!;
        // x̂ = 2⁻⁸·c and q̂ = 2⁻⁶·(b − 32) = 2⁻⁸·4(b − 32)
        headSquares += (c - 4 * (bytes[i]! - 32)) ** 2;
      } else {
        tailDot += c * bytes[i]!;
        tailSquares += (c - 2 * (bytes[i]! - 64)) ** 2;
      }
    }
    // A real head base is at least 64 · (127² − 256 · 127) ≈ −1.05M; an outlier's is lowered by 2³⁰.
    const outlier = row.headBase < -HEAD_OUTLIER_OFFSET / 2;
    if (outlier) outliers++;
    const headBase = outlier ? row.headBase + HEAD_OUTLIER_OFFSET : row.headBase;
    t.is(headBase + query.headBase - 8 * headDot, headSquares, `row ${n}: head`);
    t.is(row.fullBase + query.fullBase - 8 * headDot - 4 * tailDot, headSquares + tailSquares, `row ${n}: all dimensions`);
  }
  t.true(outliers > 0, 'some rows had clamped head values');
});

test('the residuals are never below the distance from the values to their codes', (t) => {
  const random = seededRandom(73);
  let beyond = 0;
  let within = 0;
  for (let n = 0; n < 300; n++) {
    const values = descriptor(random, n % 4 === 0 ? 0.35 : 0.12);
    const { codes, row, bytes, query } = coded(values, values);
    let rowSquares = 0;
    let rowHead = 0;
    let querySquares = 0;
    let queryHead = 0;
    for (let i = 0; i < DIMENSIONS; i++) {
      const rowError = values[i]! - ROW_CODE_SCALE * codes[i]!;
      const queryError = i < HEAD_DIMENSIONS ? values[i]! - QUERY_HEAD_CODE_SCALE * (bytes[i]! - 32) : values[i]! - QUERY_TAIL_CODE_SCALE * (bytes[i]! - 64);
      rowSquares += rowError ** 2;
      querySquares += queryError ** 2;
      if (i === HEAD_DIMENSIONS - 1) {
        rowHead = rowSquares;
        queryHead = querySquares;
      }
    }
    t.true(row.residual >= Math.sqrt(rowSquares), `row ${n}`);
    t.true(query.residual >= Math.sqrt(querySquares), `query ${n}`);
    t.true(query.headResidual >= Math.sqrt(queryHead), `query ${n}: head`);
    // A row whose head residual passes the cap the head test assumes has its head base lowered,
    // so that it always reaches the tail's test (with its own residual).
    const beyondCap = Math.sqrt(rowHead) > HEAD_RESIDUAL_CAP;
    if (beyondCap) {
      beyond++;
      t.true(row.headBase < -HEAD_OUTLIER_OFFSET / 2, `row ${n}: head residual ${Math.sqrt(rowHead)} past the cap`);
    } else within++;
  }
  t.true(beyond > 0 && within > 0, `rows beyond the cap ${beyond}, within it ${within}`);
});
