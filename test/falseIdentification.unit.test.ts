import test from 'ava';
import {
  chooseIdentificationThreshold,
  comparedBin,
  falseIdentificationRate,
  fitGallery,
  referenceRate,
  similarityBin,
  thresholdBin,
  thresholdForFalseMatchRate,
  type CalibrationTable,
  type NearestOtherCell,
} from '../src/faces/falseIdentification.ts';
import { seededRandom } from './support/faces.ts';

// A known impostor distribution: one comparison of two different people reaches similarity t
// with probability p(t) = exp(−30 (t − 0.2)) (p(0.45) ≈ 5.5e-4, p(0.55) ≈ 2.8e-5).
const rate = 30;
const trueRate = (t: number) => Math.min(1, Math.exp(-rate * (t - 0.2)));
/** The best of n impostor similarities, drawn directly: F⁻¹(U^{1/n}). */
const bestOf = (n: number, random: () => number) => 0.2 - Math.log(-Math.expm1(Math.log(random()) / n)) / rate;

// The bench's table, made here with the right shape but three times the level: the gallery's own
// draws must bring it down to the truth.
const pairs = 1e9;
const table: CalibrationTable = {
  impostorPairs: pairs,
  rows: Array.from({ length: 66 }, (_, i) => {
    const threshold = Math.round((0.3 + i * 0.01) * 100) / 100;
    return { threshold, falseMatches: Math.round(3 * trueRate(threshold) * pairs) };
  }),
};

/** Registers strangers until the gallery holds `size` users; each draw censored at the duplicate threshold (refused at or over it). */
function simulateGallery(size: number, duplicateThreshold: number, random: () => number): NearestOtherCell[] {
  const cells = new Map<string, { similarityBin: number; ceilingBin: number; observations: number; comparedSum: number; compared: number }>();
  let users = 1;
  while (users < size) {
    const nearest = bestOf(users, random);
    if (nearest >= duplicateThreshold) continue;
    const key = `${similarityBin(nearest)}:${comparedBin(users)}`;
    const cell = cells.get(key) ?? { similarityBin: similarityBin(nearest), ceilingBin: thresholdBin(duplicateThreshold), observations: 0, comparedSum: 0, compared: comparedBin(users) };
    cell.observations++;
    cell.comparedSum += users;
    cells.set(key, cell);
    users++;
  }
  return [...cells.values()];
}

/** Strangers shown to a gallery of `size`: the share whose best similarity reaches the threshold. */
function observedFalseIdentifications(size: number, threshold: number, strangers: number, random: () => number): number {
  let hits = 0;
  for (let i = 0; i < strangers; i++) if (bestOf(size, random) >= threshold) hits++;
  return hits / strangers;
}

test('false identification rate is 1 − (1 − p)^N, exact for small p', (t) => {
  t.is(falseIdentificationRate(0, 1000), 0);
  t.is(falseIdentificationRate(1e-3, 0), 0);
  t.true(Math.abs(falseIdentificationRate(6.4e-4, 1000) - (1 - (1 - 6.4e-4) ** 1000)) < 1e-12);
  t.true(Math.abs(falseIdentificationRate(1e-12, 10) - 1e-11) < 1e-20);
});

test('without enough draws the calibration curve is used as is', (t) => {
  const fit = fitGallery(simulateGallery(20, 0.45, seededRandom(1)), table);
  t.is(fit.source, 'calibration');
  t.is(fit.scale, 1);
  t.is(fit.rate(0.5), referenceRate(table)(0.5));
});

test('on synthetic galleries with a known impostor distribution, the estimate matches the observed false identifications and the threshold rises with the gallery', (t) => {
  const random = seededRandom(12);
  const target = 0.01;
  const strangers = 20_000;
  const thresholds: number[] = [];
  for (const size of [300, 1000, 3000, 10_000]) {
    const cells = simulateGallery(size, 0.45, random);
    const fit = fitGallery(cells, table);
    t.is(fit.source, 'gallery', `gallery ${size}: fitted on its own draws`);
    // The table was 3× the truth; the draws below the duplicate threshold recover the level.
    t.true(fit.scale * 3 > 1 / 1.5 && fit.scale * 3 < 1.5, `gallery ${size}: fitted factor ${fit.scale.toFixed(3)}, truth 1/3`);
    const decision = chooseIdentificationThreshold({ rate: fit.rate, gallerySize: size, target, floor: 0.45 });
    t.true(decision.targetMet);
    t.log(`gallery ${size}: factor ${fit.scale.toFixed(3)} (truth 0.333), threshold ${decision.threshold}, estimate ${decision.estimatedFalseIdentificationRate.toExponential(2)}`);
    thresholds.push(decision.threshold);
    // Tolerance: 35 % of the observed rate, plus 3 binomial standard deviations of the observation.
    for (const threshold of [decision.threshold, 0.45, 0.5]) {
      const estimated = falseIdentificationRate(fit.rate(threshold), size);
      const observed = observedFalseIdentifications(size, threshold, strangers, random);
      const sd = Math.sqrt((observed * (1 - observed)) / strangers);
      t.true(Math.abs(estimated - observed) <= 0.35 * observed + 3 * sd + 1e-4, `gallery ${size}, threshold ${threshold}: estimated ${estimated.toExponential(2)}, observed ${observed.toExponential(2)}`);
    }
  }
  for (let i = 1; i < thresholds.length; i++) t.true(thresholds[i]! >= thresholds[i - 1]!, `thresholds ${thresholds.join(', ')}`);
  t.true(thresholds.at(-1)! > thresholds[0]!, `thresholds ${thresholds.join(', ')}`);
});
