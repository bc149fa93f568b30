import { isErased, type FieldCipher } from '../crypto/fieldCipher.ts';
import type { EventStore } from '../eventStore/eventStore.ts';
import { descriptorFromBytes } from '../faces/descriptor.ts';
import { createMatcher, type MatchCandidate } from '../matching/matcher.ts';
import type { TenantContext } from '../tenancy/tenant.ts';
import { aad, type FaceTemplateAdded, type FaceTemplateRemoved, type UserErased } from '../users/userEvents.ts';

export interface ReplayResult {
  readonly matches: MatchCandidate[];
  readonly totalCompared: number;
}

/**
 * "Would this face have matched on that date?": replays the tenant's gallery events up to `at` into
 * a temporary matcher and identifies against it. Users erased since cannot be replayed (their
 * keys are gone), which is what erasure promises. Records no sign-in: it is not an attempt.
 */
export async function replayIdentify(
  deps: { readonly store: EventStore; readonly cipher: FieldCipher },
  tenant: Pick<TenantContext, 'tenantId' | 'mode'>,
  at: Date,
  query: Float32Array,
  options: { readonly maxResults: number },
): Promise<ReplayResult> {
  // One thread, scanned inline: a dispute query, not the hot path.
  const matcher = createMatcher({ threads: 1, inlineRows: Number.MAX_SAFE_INTEGER });
  const key = { tenantId: tenant.tenantId, mode: tenant.mode };
  try {
    let after = 0n;
    for (;;) {
      const page = await deps.store.readAll({ after, maxCount: 5000 });
      if (page.length === 0) break;
      after = page.at(-1)!.position;
      for (const event of page as Array<(typeof page)[number] & (FaceTemplateAdded | FaceTemplateRemoved | UserErased)>) {
        if (event.metadata.tenantId !== tenant.tenantId || event.metadata.mode !== tenant.mode) continue;
        if (Date.parse(event.metadata.occurredAt) > at.getTime()) continue;
        if (event.type === 'FaceTemplateAdded') {
          const bytes = await deps.cipher.decryptBytes(event.data.userId, event.data.descriptor, aad.descriptor(event.data.templateId));
          if (!isErased(bytes)) matcher.add(key, { templateId: event.data.templateId, userId: event.data.userId, descriptor: descriptorFromBytes(bytes) });
        } else if (event.type === 'FaceTemplateRemoved') {
          matcher.removeTemplate(key, event.data.templateId);
        } else if (event.type === 'UserErased') {
          matcher.removeUser(key, event.data.userId);
        }
      }
    }
    const { matches } = await matcher.identify(key, query, { maxResults: options.maxResults, minSimilarity: 0 });
    return { matches, totalCompared: matcher.size(key) };
  } finally {
    await matcher.close();
  }
}
