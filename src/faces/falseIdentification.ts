// Gallery-aware thresholds. A stranger shown to identify is compared with every user of the
// gallery, so the chance that some user reaches the threshold grows with the gallery:
// FIR(t, N) = 1 − (1 − p(t))^N, p(t) the chance that one comparison of two different people
// reaches t. Every registration already compares a new face with every other user (the duplicate
// check); the best of those N similarities is a draw of exactly that maximum, recorded per
// gallery. Those draws are censored: a face at or over the duplicate threshold is refused, so
// they never show p(t) above it. The model: the gallery's p(t) has the shape of the calibration
// curve measured by `npm run bench:accuracy` (per-comparison false match rate by threshold) times
// a factor of the gallery's own, fitted by maximum likelihood on the recorded draws between
// `tailFrom` and the censoring point. Pure functions: no clock, no I/O.

/** A row of the bench's calibration table: impostor pairs at or over `threshold`. */
export interface CalibrationRow {
  readonly threshold: number;
  readonly falseMatches: number;
}

/** The bench's per-comparison false match curve (numbers only; no photo, no descriptor). */
export interface CalibrationTable {
  readonly impostorPairs: number;
  readonly rows: readonly CalibrationRow[];
}

/** Similarities are recorded in bins of this width: bin b holds [b/200, (b+1)/200). */
export const similarityBins = 200;

/** One cell of a gallery's record: draws with this similarity bin, this many users compared (on average) and this censoring point. */
export interface NearestOtherCell {
  readonly similarityBin: number;
  /** Duplicate threshold the draws were censored at, in similarity bins (a threshold 0.45 is bin 90). */
  readonly ceilingBin: number;
  readonly observations: number;
  /** Sum of the users compared over the cell's draws (mean = comparedSum / observations). */
  readonly comparedSum: number;
}

/** The bin a similarity falls in. */
export function similarityBin(similarity: number): number {
  return Math.max(0, Math.min(similarityBins, Math.floor(similarity * similarityBins + 1e-9)));
}

/** The bin edge a threshold sits on (thresholds are compared as `similarity ≥ t`). */
export function thresholdBin(threshold: number): number {
  return Math.max(0, Math.min(similarityBins, Math.round(threshold * similarityBins)));
}

/** Users-compared bins: exact up to 16, then eight per doubling (about 9 % wide). */
export function comparedBin(users: number): number {
  if (users <= 16) return Math.max(0, Math.round(users));
  return 16 + Math.floor(8 * Math.log2(users / 16));
}

/**
 * The calibration curve as a function of the threshold: log-linear between rows, with rows of no
 * observed false match counted as half a match (the table cannot tell rates below its resolution,
 * and a curve that reaches 0 would promise what was never measured). Non-increasing.
 */
export function referenceRate(table: CalibrationTable): (threshold: number) => number {
  const rows = [...table.rows].sort((a, b) => a.threshold - b.threshold);
  if (rows.length === 0 || table.impostorPairs <= 0) throw new Error('a calibration table needs rows and impostor pairs');
  const rate = rows.map((row) => Math.max(row.falseMatches, 0.5) / table.impostorPairs);
  for (let i = 1; i < rate.length; i++) rate[i] = Math.min(rate[i]!, rate[i - 1]!);
  return (t) => {
    if (t <= rows[0]!.threshold) return rate[0]!;
    if (t >= rows.at(-1)!.threshold) return rate.at(-1)!;
    let i = 1;
    while (rows[i]!.threshold < t) i++;
    const a = rows[i - 1]!;
    const b = rows[i]!;
    if (rate[i - 1] === rate[i]) return rate[i]!;
    const w = (t - a.threshold) / (b.threshold - a.threshold);
    return Math.exp(Math.log(rate[i - 1]!) * (1 - w) + Math.log(rate[i]!) * w);
  };
}

/** The smallest per-comparison rate the table resolves (one false match in its pairs). */
export function resolvableRate(table: CalibrationTable): number {
  return 1 / table.impostorPairs;
}

/** The lowest threshold whose calibrated false match rate is at most `target` (verify's `targetFalseMatchRate`). */
export function thresholdForFalseMatchRate(table: CalibrationTable, target: number, step = 0.005): { threshold: number; estimatedFalseMatchRate: number } | undefined {
  const rate = referenceRate(table);
  const rows = table.rows.map((row) => row.threshold);
  for (let t = Math.min(...rows); t <= Math.max(...rows) + 1e-9; t += step) {
    const threshold = Math.round(t * 1e4) / 1e4;
    if (rate(threshold) <= target) return { threshold, estimatedFalseMatchRate: rate(threshold) };
  }
  return undefined;
}

/** 1 − (1 − p)^N, computed without losing small values. */
export function falseIdentificationRate(perComparison: number, gallerySize: number): number {
  if (gallerySize <= 0 || perComparison <= 0) return 0;
  if (perComparison >= 1) return 1;
  return -Math.expm1(gallerySize * Math.log1p(-perComparison));
}

export interface GalleryFit {
  /** Factor on the calibration curve that best explains this gallery's draws (1 when they cannot tell). */
  readonly scale: number;
  /** `gallery` when fitted on the gallery's own draws; `calibration` when too few to tell. */
  readonly source: 'gallery' | 'calibration';
  /** Draws (registrations with at least one other user) on record. */
  readonly observations: number;
  /** Draws expected at or over `tailFrom` under the calibration curve as is: the evidence the fit rests on. */
  readonly expectedTailDraws: number;
  /** Per-comparison false match rate at a threshold. */
  readonly rate: (threshold: number) => number;
}

export interface FitOptions {
  /** Draws below this similarity only say "below"; the fit uses the tail above it. Default 0.35. */
  readonly tailFrom?: number;
  /** Fewer expected tail draws than this and the calibration curve is used as is. Default 10. */
  readonly minTailDraws?: number;
}

/**
 * Fits the gallery's factor on the calibration curve. A draw of the best of n comparisons, seen
 * in bin [a, b) and censored at c, has likelihood (q(b)^n − q(a)^n) / q(c)^n with q = 1 − s·ref;
 * a draw under `tailFrom` (= L) has q(L)^n / q(c)^n. The factor s maximises the sum (golden-section
 * search on log s).
 */
export function fitGallery(cells: readonly NearestOtherCell[], table: CalibrationTable, options: FitOptions = {}): GalleryFit {
  const ref = referenceRate(table);
  const tailBin = thresholdBin(options.tailFrom ?? 0.35);
  const minTailDraws = options.minTailDraws ?? 10;
  const used = cells.filter((cell) => cell.observations > 0 && cell.comparedSum > 0 && cell.ceilingBin > tailBin);
  const observations = used.reduce((sum, cell) => sum + cell.observations, 0);
  const edge = (bin: number) => ref(bin / similarityBins);
  const expectedTailDraws = used.reduce((sum, cell) => sum + cell.observations * falseIdentificationRate(edge(tailBin), cell.comparedSum / cell.observations), 0);
  const calibrated = (scale: number, source: GalleryFit['source']): GalleryFit => ({ scale, source, observations, expectedTailDraws, rate: (t) => Math.min(1, scale * ref(t)) });
  if (expectedTailDraws < minTailDraws) return calibrated(1, 'calibration');

  // log q^n for a bin edge, as n·log(1 − s·ref) (−∞ when s·ref ≥ 1).
  const logQn = (scale: number, bin: number, n: number) => {
    const p = Math.min(1, scale * edge(bin));
    return p >= 1 ? -Infinity : n * Math.log1p(-p);
  };
  const logLikelihood = (scale: number) => {
    let sum = 0;
    for (const cell of used) {
      const n = cell.comparedSum / cell.observations;
      const ceiling = logQn(scale, cell.ceilingBin, n);
      let draw: number;
      if (cell.similarityBin < tailBin) draw = logQn(scale, tailBin, n);
      else {
        // log(q(b)^n − q(a)^n) = log q(b)^n + log(1 − e^{log q(a)^n − log q(b)^n}).
        const upper = logQn(scale, Math.min(cell.similarityBin + 1, cell.ceilingBin), n);
        const lower = logQn(scale, cell.similarityBin, n);
        const gap = lower - upper;
        draw = upper + (gap >= 0 ? -Infinity : Math.log(-Math.expm1(gap)));
      }
      sum += cell.observations * (draw - ceiling);
    }
    return Number.isNaN(sum) ? -Infinity : sum;
  };
  // The factor cannot make a comparison reach the tail more often than always.
  let lo = Math.log(1e-4);
  let hi = Math.log(0.999 / edge(tailBin));
  const phi = (Math.sqrt(5) - 1) / 2;
  let x1 = hi - phi * (hi - lo);
  let x2 = lo + phi * (hi - lo);
  let f1 = logLikelihood(Math.exp(x1));
  let f2 = logLikelihood(Math.exp(x2));
  for (let i = 0; i < 80; i++) {
    if (f1 < f2) {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + phi * (hi - lo);
      f2 = logLikelihood(Math.exp(x2));
    } else {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - phi * (hi - lo);
      f1 = logLikelihood(Math.exp(x1));
    }
  }
  return calibrated(Math.exp((lo + hi) / 2), 'gallery');
}

export interface IdentificationDecision {
  readonly threshold: number;
  readonly estimatedFalseIdentificationRate: number;
  /** False when even the highest threshold allowed does not meet the target: the highest is used. */
  readonly targetMet: boolean;
}

/**
 * The lowest threshold, never below `floor`, whose estimated false identification rate at
 * `gallerySize` is at most `target` (candidates: the floor, then every 0.005 up to `ceiling`).
 */
export function chooseIdentificationThreshold(input: {
  readonly rate: (threshold: number) => number;
  readonly gallerySize: number;
  readonly target: number;
  readonly floor: number;
  readonly ceiling?: number;
}): IdentificationDecision {
  const ceiling = input.ceiling ?? 0.95;
  const estimate = (t: number) => falseIdentificationRate(input.rate(t), input.gallerySize);
  const candidates = [input.floor];
  for (let bin = Math.floor(input.floor * similarityBins) + 1; bin / similarityBins <= ceiling + 1e-9; bin++) candidates.push(bin / similarityBins);
  for (const threshold of candidates) {
    const rate = estimate(threshold);
    if (rate <= input.target) return { threshold, estimatedFalseIdentificationRate: rate, targetMet: true };
  }
  const highest = Math.max(input.floor, ceiling);
  return { threshold: highest, estimatedFalseIdentificationRate: estimate(highest), targetMet: false };
}
