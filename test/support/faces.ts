/** Seeded synthetic face descriptors: a "person" is a centre; their templates are noisy copies. */

/** A seeded uniform generator in [0, 1) (mulberry32): the same seed gives the same faces everywhere. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal sample (Box-Muller). */
export function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** A random direction of norm `norm`. */
export function randomVector(random: () => number, norm = 1): number[] {
  const v = Array.from({ length: 128 }, () => gaussian(random));
  const length = Math.hypot(...v);
  return v.map((x) => Math.fround((x / length) * norm));
}

/** `base` moved by exactly `distance` in a random direction (so similarity = 1 − distance). */
export function atDistance(base: readonly number[], distance: number, random: () => number): number[] {
  const direction = randomVector(random, distance);
  return base.map((x, i) => Math.fround(x + direction[i]!));
}

export function distance(a: readonly number[], b: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.fround(a[i]!) - Math.fround(b[i]!);
    sum += d * d;
  }
  return Math.sqrt(sum);
}

export function similarity(a: readonly number[], b: readonly number[]): number {
  return Math.max(0, 1 - distance(a, b));
}
