import type { GalleryEntry, IdentifyOptions, MatchCandidate } from '../../src/matching/matcher.ts';

/** The matcher's reference: every entry measured with `distance` (squared), then the contract's rules (best template per user, ties by template id). */
export function bruteForce(entries: Iterable<GalleryEntry>, query: Float32Array, options: IdentifyOptions, distance: (a: Float32Array, b: Float32Array) => number): MatchCandidate[] {
  const best = new Map<string, { templateId: string; squared: number }>();
  for (const entry of entries) {
    if (entry.userId === options.excludeUserId) continue;
    const squared = distance(entry.descriptor, query);
    if (Math.max(0, 1 - Math.sqrt(squared)) < options.minSimilarity) continue;
    const seen = best.get(entry.userId);
    if (!seen || squared < seen.squared || (squared === seen.squared && entry.templateId < seen.templateId)) best.set(entry.userId, { templateId: entry.templateId, squared });
  }
  return [...best]
    .sort(([ua, a], [ub, b]) => a.squared - b.squared || (ua < ub ? -1 : 1))
    .slice(0, options.maxResults)
    .map(([userId, { templateId, squared }]) => ({ userId, templateId, similarity: Math.max(0, 1 - Math.sqrt(squared)) }));
}
