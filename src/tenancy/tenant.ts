/** Per-tenant settings (api-contract.md "Admin API"); defaults are the contract's. */
export interface TenantSettings {
  readonly matchThreshold: number;
  readonly duplicateThreshold: number;
  readonly maxTemplates: number;
  readonly minQuality: number;
  readonly logRetentionDays: number;
  readonly inactiveUserErasureMonths: number | null;
}

export const defaultTenantSettings: TenantSettings = Object.freeze({
  matchThreshold: 0.45,
  duplicateThreshold: 0.75,
  maxTemplates: 10,
  minQuality: 0,
  logRetentionDays: 90,
  inactiveUserErasureMonths: null,
});

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
