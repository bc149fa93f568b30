import type { TenantSettings } from './tenant.ts';

/** Events of a tenant's stream `tenant-<uuid>` (names are part of the contract; nothing personal). */

export type Plan = 'free' | 'pro' | 'enterprise';
export type Mode = 'live' | 'test';

export const allScopes = ['faces:register', 'faces:verify', 'faces:identify', 'faces:detect', 'users:read', 'users:delete', 'webhooks:manage'] as const;
export type Scope = (typeof allScopes)[number];

/** Scopes a key of this mode may hold: test keys can neither erase users nor manage webhooks. */
export function scopesAllowed(mode: Mode): readonly Scope[] {
  return mode === 'live' ? allScopes : allScopes.filter((scope) => scope !== 'users:delete' && scope !== 'webhooks:manage');
}

export interface TenantCreated {
  readonly type: 'TenantCreated';
  readonly data: { readonly tenantId: string; readonly name: string; readonly plan: Plan; readonly settings: TenantSettings };
}

export interface ApiKeyIssued {
  readonly type: 'ApiKeyIssued';
  readonly data: {
    readonly keyId: string;
    readonly tenantId: string;
    readonly mode: Mode;
    readonly name: string;
    /** The first characters of the key, for people to recognise it; never enough to use it. */
    readonly prefix: string;
    /** Keyed hash of the whole key; the key itself is shown once and never stored. */
    readonly hash: string;
    readonly scopes: readonly Scope[];
    readonly expiresAt: string | null;
    /** Exact origins (`https://app.example.com`) a browser may call with this key; absent in older events: none. */
    readonly allowedOrigins?: readonly string[];
  };
}

/** The origins a key may be used from in a browser changed (the whole list, as it is now). */
export interface ApiKeyOriginsChanged {
  readonly type: 'ApiKeyOriginsChanged';
  readonly data: { readonly keyId: string; readonly tenantId: string; readonly allowedOrigins: readonly string[] };
}

export interface ApiKeyRevoked {
  readonly type: 'ApiKeyRevoked';
  readonly data: { readonly keyId: string; readonly tenantId: string };
}

export interface TenantSettingsChanged {
  readonly type: 'TenantSettingsChanged';
  readonly data: { readonly tenantId: string; readonly plan: Plan; readonly settings: TenantSettings };
}

export interface WebhookRegistered {
  readonly type: 'WebhookRegistered';
  readonly data: {
    readonly webhookId: string;
    readonly tenantId: string;
    /** The data set whose events it receives. */
    readonly mode: Mode;
    readonly url: string;
    readonly events: readonly string[];
    /** Sealed with the webhook's own key (subject = webhook id); aad `<webhookId>:secret`. */
    readonly secret: string;
  };
}

export interface WebhookRemoved {
  readonly type: 'WebhookRemoved';
  readonly data: { readonly webhookId: string; readonly tenantId: string };
}

/** Retention: sign-in logs of a mode older than `before` are gone (the job that applies logRetentionDays). */
export interface SignInLogsPruned {
  readonly type: 'SignInLogsPruned';
  readonly data: { readonly tenantId: string; readonly mode: Mode; readonly before: string; readonly retentionDays: number };
}

export type TenantEvent = TenantCreated | ApiKeyIssued | ApiKeyRevoked | ApiKeyOriginsChanged | TenantSettingsChanged | WebhookRegistered | WebhookRemoved | SignInLogsPruned;

export const tenantEventTypes = ['TenantCreated', 'ApiKeyIssued', 'ApiKeyRevoked', 'ApiKeyOriginsChanged', 'TenantSettingsChanged', 'WebhookRegistered', 'WebhookRemoved', 'SignInLogsPruned'] as const;
