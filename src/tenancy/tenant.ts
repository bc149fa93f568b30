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

export type Mode = 'live' | 'test';

/** Who a request acts for: one tenant, one mode (its data set), and the key that acts. */
export interface TenantContext {
  readonly tenantId: string;
  readonly mode: Mode;
  readonly settings: TenantSettings;
  readonly actorKeyId?: string;
}

/**
 * The tenant every request runs as until API keys exist (issue #4 replaces this resolver).
 * Commands and queries take the context as a parameter; nothing reads it from a global.
 */
export const builtInTenantId = '00000000-0000-4000-8000-000000000001';
