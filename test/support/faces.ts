/** Seeded synthetic face descriptors: a "person" is a centre; their templates are noisy copies. */

export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    // xorshift32
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
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
