import { AppError } from '../errors/appError.ts';
import { assertNever } from '../users/userDecider.ts';
import type { TenantSettings } from './tenant.ts';
import { scopesAllowed, type ApiKeyIssued, type Plan, type TenantEvent, type WebhookRegistered } from './tenantEvents.ts';

/** Webhooks per tenant (both modes together). */
export const maxWebhooks = 20;

export interface TenantState {
  readonly exists: boolean;
  readonly tenantId: string | null;
  readonly plan: Plan;
  readonly settings: TenantSettings | null;
  /** Key ids and whether each is still active. */
  readonly keys: ReadonlyMap<string, { readonly active: boolean }>;
  /** Ids of the webhooks registered and not removed. */
  readonly webhooks: ReadonlySet<string>;
}

export function initialTenantState(): TenantState {
  return { exists: false, tenantId: null, plan: 'free', settings: null, keys: new Map(), webhooks: new Set() };
}

export type TenantCommand =
  | { readonly type: 'CreateTenant'; readonly tenantId: string; readonly name: string; readonly plan: Plan; readonly settings: TenantSettings }
  | { readonly type: 'IssueKey'; readonly key: ApiKeyIssued['data'] }
  | { readonly type: 'RevokeKey'; readonly keyId: string }
  | { readonly type: 'ChangeKeyOrigins'; readonly keyId: string; readonly allowedOrigins: readonly string[] }
  | { readonly type: 'ChangeSettings'; readonly plan: Plan; readonly settings: TenantSettings }
  | { readonly type: 'RegisterWebhook'; readonly webhook: WebhookRegistered['data'] }
  | { readonly type: 'RemoveWebhook'; readonly webhookId: string }
  | { readonly type: 'PruneSignInLogs'; readonly mode: 'live' | 'test'; readonly before: string; readonly retentionDays: number };

/** Decides a tenant command. Pure: throws AppError on refusal. */
export function decideTenant(command: TenantCommand, state: TenantState): TenantEvent[] {
  switch (command.type) {
    case 'CreateTenant':
      if (state.exists) throw new AppError('IDEMPOTENCY_CONFLICT', 'tenant already exists', { tenantId: state.tenantId });
      return [{ type: 'TenantCreated', data: { tenantId: command.tenantId, name: command.name, plan: command.plan, settings: command.settings } }];
    case 'IssueKey': {
      requireTenant(state);
      const allowed = scopesAllowed(command.key.mode);
      const refused = command.key.scopes.filter((scope) => !allowed.includes(scope));
      if (refused.length > 0) {
        throw new AppError('VALIDATION_ERROR', `scopes: a ${command.key.mode} key cannot hold ${refused.join(', ')}`, { field: 'scopes', refused });
      }
      return [{ type: 'ApiKeyIssued', data: command.key }];
    }
    case 'RevokeKey':
      requireTenant(state);
      if (!state.keys.has(command.keyId)) throw new AppError('NOT_FOUND', 'key not found', { keyId: command.keyId });
      // Revoking twice changes nothing and says so by appending nothing.
      if (!state.keys.get(command.keyId)!.active) return [];
      return [{ type: 'ApiKeyRevoked', data: { keyId: command.keyId, tenantId: state.tenantId! } }];
    case 'ChangeKeyOrigins':
      requireTenant(state);
      if (!state.keys.has(command.keyId)) throw new AppError('NOT_FOUND', 'key not found', { keyId: command.keyId });
      if (!state.keys.get(command.keyId)!.active) throw new AppError('VALIDATION_ERROR', 'keyId: a revoked key takes no allowed origins', { field: 'keyId', keyId: command.keyId });
      return [{ type: 'ApiKeyOriginsChanged', data: { keyId: command.keyId, tenantId: state.tenantId!, allowedOrigins: command.allowedOrigins } }];
    case 'ChangeSettings':
      requireTenant(state);
      return [{ type: 'TenantSettingsChanged', data: { tenantId: state.tenantId!, plan: command.plan, settings: command.settings } }];
    case 'RegisterWebhook':
      requireTenant(state);
      if (state.webhooks.size >= maxWebhooks) throw new AppError('VALIDATION_ERROR', `url: a tenant has at most ${maxWebhooks} webhooks`, { field: 'url' });
      return [{ type: 'WebhookRegistered', data: command.webhook }];
    case 'RemoveWebhook':
      requireTenant(state);
      if (!state.webhooks.has(command.webhookId)) throw new AppError('NOT_FOUND', 'webhook not found', { webhookId: command.webhookId });
      return [{ type: 'WebhookRemoved', data: { webhookId: command.webhookId, tenantId: state.tenantId! } }];
    case 'PruneSignInLogs':
      requireTenant(state);
      return [{ type: 'SignInLogsPruned', data: { tenantId: state.tenantId!, mode: command.mode, before: command.before, retentionDays: command.retentionDays } }];
    default:
      return assertNever(command);
  }
}

export function evolveTenant(state: TenantState, event: TenantEvent): TenantState {
  switch (event.type) {
    case 'TenantCreated':
      return { ...state, exists: true, tenantId: event.data.tenantId, plan: event.data.plan, settings: event.data.settings };
    case 'ApiKeyIssued':
      return { ...state, keys: new Map(state.keys).set(event.data.keyId, { active: true }) };
    case 'ApiKeyRevoked':
      return { ...state, keys: new Map(state.keys).set(event.data.keyId, { active: false }) };
    case 'ApiKeyOriginsChanged':
      return state;
    case 'TenantSettingsChanged':
      return { ...state, plan: event.data.plan, settings: event.data.settings };
    case 'WebhookRegistered':
      return { ...state, webhooks: new Set(state.webhooks).add(event.data.webhookId) };
    case 'SignInLogsPruned':
      return state;
    case 'WebhookRemoved': {
      const webhooks = new Set(state.webhooks);
      webhooks.delete(event.data.webhookId);
      return { ...state, webhooks };
    }
    default:
      return assertNever(event);
  }
}

function requireTenant(state: TenantState): void {
  if (!state.exists) throw new AppError('NOT_FOUND', 'tenant not found');
}
