/** Similarity of two descriptors: max(0, 1 − euclidean distance). */
export function similarityFromDistance(distance: number): number {
  return Math.max(0, 1 - distance);
}

/**
 * The threshold a match must reach (api-contract.md "Descriptors and matching"): the request's
 * `threshold` or the tenant's, adapted to the lighting. Poor light (< 0.4) lowers it by 0.05
 * (floor 0.35); bright light (> 0.8) raises it by 0.02, capped at 0.6 unless the base is higher.
 */
export function adaptThreshold(base: number, lightingScore?: number): number {
  let adapted = base;
  if (lightingScore !== undefined && lightingScore < 0.4) adapted = Math.max(0.35, base - 0.05);
  else if (lightingScore !== undefined && lightingScore > 0.8) adapted = Math.min(base + 0.02, Math.max(0.6, base));
  // Keep the two-decimal arithmetic exact (0.45 + 0.02 is 0.47, not 0.47000000000000003).
  return Math.round(adapted * 1e6) / 1e6;
}
