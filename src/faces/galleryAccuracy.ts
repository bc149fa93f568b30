import type { Kysely } from 'kysely';
import type { GalleryKey } from '../matching/matcher.ts';
import type { TenantSettings } from '../tenancy/tenant.ts';
import {
  chooseIdentificationThreshold,
  falseIdentificationRate,
  fitGallery,
  referenceRate,
  resolvableRate,
  thresholdForFalseMatchRate,
  type CalibrationTable,
  type GalleryFit,
  type IdentificationDecision,
  type NearestOtherCell,
} from './falseIdentification.ts';

/** Reads a gallery's "nearest other user at enrolment" record (projection gallery_stats). */
export function createNearestOtherReadModel(database: Kysely<any>): (key: GalleryKey) => Promise<NearestOtherCell[]> {
  const db = database.withSchema('rm_gallery_stats');
  return async (key) => {
    const rows = await db
      .selectFrom('nearest_other')
      .select(['similarity_bin', 'ceiling_bin', 'observations', 'compared_sum'])
      .where('tenant_id', '=', key.tenantId)
      .where('mode', '=', key.mode)
      .execute();
    return rows.map((row) => ({ similarityBin: Number(row.similarity_bin), ceilingBin: Number(row.ceiling_bin), observations: Number(row.observations), comparedSum: Number(row.compared_sum) }));
  };
}

/** The identify threshold for a request, and what it is expected to cost. */
export interface IdentifyThreshold extends IdentificationDecision {
  /** Users compared (the gallery's size now). */
  readonly gallerySize: number;
  /** `tenant` (matchThreshold or the request's threshold, lighting-adapted) or `gallery` (targetFalseIdentificationRate). */
  readonly source: 'tenant' | 'gallery';
}

/** Gallery-aware thresholds over a gallery's record and the bench's calibration table. */
export interface GalleryAccuracy {
  /** The gallery's fitted curve (re-read from the read model at most every few seconds). */
  fit(key: GalleryKey): Promise<GalleryFit>;
  /**
   * The threshold identify uses: `base` (already lighting-adapted) as it is, or, when the tenant
   * sets targetFalseIdentificationRate and the request sets no threshold, the lowest meeting the
   * target at the gallery's size, never below matchThreshold or `base`.
   */
  identifyThreshold(key: GalleryKey, settings: TenantSettings, base: number, requestThreshold: boolean): Promise<IdentifyThreshold>;
  /** Verify's threshold for a target false match rate (calibration table), never below `floor`. */
  verifyThreshold(target: number, floor: number): { threshold: number; estimatedFalseMatchRate: number };
  /** The smallest false match rate the calibration table resolves. */
  readonly minFalseMatchRate: number;
  readonly calibration: CalibrationTable;
}

export interface GalleryAccuracyDeps {
  readonly cells: (key: GalleryKey) => Promise<NearestOtherCell[]>;
  /** Users in the gallery now (this instance's matcher). */
  readonly users: (key: GalleryKey) => number;
  readonly calibration: CalibrationTable;
  readonly clock: () => number;
  /** How long a fitted curve is reused; default 5 s. */
  readonly ttlMs?: number;
}

export function createGalleryAccuracy(deps: GalleryAccuracyDeps): GalleryAccuracy {
  const ttlMs = deps.ttlMs ?? 5000;
  const fits = new Map<string, { at: number; fit: Promise<GalleryFit> }>();
  const reference = referenceRate(deps.calibration);

  function fit(key: GalleryKey): Promise<GalleryFit> {
    const name = `${key.mode}:${key.tenantId}`;
    const cached = fits.get(name);
    if (cached && deps.clock() - cached.at < ttlMs) return cached.fit;
    const fresh = deps.cells(key).then((cells) => fitGallery(cells, deps.calibration));
    fits.set(name, { at: deps.clock(), fit: fresh });
    fresh.catch(() => fits.delete(name));
    return fresh;
  }

  return {
    fit,
    calibration: deps.calibration,
    minFalseMatchRate: resolvableRate(deps.calibration),
    async identifyThreshold(key, settings, base, requestThreshold) {
      const gallerySize = deps.users(key);
      const curve = await fit(key);
      const target = settings.targetFalseIdentificationRate;
      if (target === null || requestThreshold) {
        const estimatedFalseIdentificationRate = falseIdentificationRate(curve.rate(base), gallerySize);
        return { threshold: base, estimatedFalseIdentificationRate, targetMet: target === null || estimatedFalseIdentificationRate <= target, gallerySize, source: 'tenant' };
      }
      const decision = chooseIdentificationThreshold({ rate: curve.rate, gallerySize, target, floor: Math.max(base, settings.matchThreshold) });
      return { ...decision, gallerySize, source: 'gallery' };
    },
    verifyThreshold(target, floor) {
      const calibrated = thresholdForFalseMatchRate(deps.calibration, target);
      const threshold = Math.max(floor, calibrated?.threshold ?? 0.95);
      return { threshold, estimatedFalseMatchRate: reference(threshold) };
    },
  };
}
