/** Per-tenant settings (api-contract.md "Admin API"); defaults are the contract's. */
export interface TenantSettings {
  readonly matchThreshold: number;
  /**
   * Register refuses a face this close to another user. Null (the default): the threshold
   * identify would sign that face in at (see duplicateThresholdOf), so a face that would sign in
   * as an existing user cannot enrol as a new one.
   */
  readonly duplicateThreshold: number | null;
  /**
   * Identify's target chance that a stranger is taken for some user. Null: identify uses
   * matchThreshold as it is; a number: the lowest threshold (never below matchThreshold) whose
   * estimated false identification rate at the gallery's current size meets it.
   */
  readonly targetFalseIdentificationRate: number | null;
  readonly maxTemplates: number;
  readonly minQuality: number;
  readonly logRetentionDays: number;
  readonly inactiveUserErasureMonths: number | null;
}

export const defaultTenantSettings: TenantSettings = Object.freeze({
  matchThreshold: 0.45,
  duplicateThreshold: null,
  targetFalseIdentificationRate: null,
  maxTemplates: 10,
  minQuality: 0,
  logRetentionDays: 90,
  inactiveUserErasureMonths: null,
});

/**
 * The similarity at which register refuses a face as another user's: the tenant's
 * duplicateThreshold, or (null) the threshold identify signs faces in at now: matchThreshold, or
 * the gallery-aware one when targetFalseIdentificationRate is set.
 */
export function duplicateThresholdOf(settings: TenantSettings, identifyThreshold: number = settings.matchThreshold): number {
  return settings.duplicateThreshold ?? identifyThreshold;
}

import type { Mode, Plan, Scope } from './tenantEvents.ts';

export type { Mode };

/** Who a request acts for: one tenant, one mode (its data set), and the key that acts with its scopes. */
export interface TenantContext {
  readonly tenantId: string;
  readonly mode: Mode;
  readonly settings: TenantSettings;
  /** The plan that limits this request (test keys always count as free). */
  readonly plan: Plan;
  readonly scopes: readonly Scope[];
  readonly actorKeyId?: string;
  /** Origins a browser may use the key from (CORS); a request with another Origin is refused. */
  readonly allowedOrigins?: readonly string[];
}
