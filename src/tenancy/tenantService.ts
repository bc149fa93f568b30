import { AppError } from '../errors/appError.ts';
import { handleCommand, type StreamDecider } from '../eventStore/commandHandler.ts';
import type { EventStore } from '../eventStore/eventStore.ts';
import type { IdGenerator } from '../ids/ids.ts';
import { tenantStream } from '../ids/streams.ts';
import { displayPrefix, generateApiKey, type KeyHasher } from './apiKeys.ts';
import { defaultTenantSettings, type TenantSettings } from './tenant.ts';
import { decideTenant, evolveTenant, initialTenantState, type TenantCommand, type TenantState } from './tenantDecider.ts';
import { scopesAllowed, tenantEventTypes, type Mode, type Plan, type Scope, type TenantEvent } from './tenantEvents.ts';
import type { ApiKeyRow, TenantReadModel, TenantRow } from './tenantReadModel.ts';

/** What anyone may see of a key: never its secret part. */
export interface KeyView {
  readonly id: string;
  readonly prefix: string;
  readonly mode: Mode;
  readonly name: string;
  readonly scopes: readonly Scope[];
  readonly expiresAt: string | null;
  readonly createdAt: string;
  readonly revokedAt: string | null;
  readonly status: 'active' | 'revoked' | 'expired';
  readonly allowedOrigins: readonly string[];
}

/** A key just issued: its view and, this once, the full key. */
export interface IssuedKey extends Omit<KeyView, 'revokedAt' | 'status'> {
  /** The full key: returned once, never stored. */
  readonly key: string;
}

export interface TenantView {
  readonly id: string;
  readonly name: string;
  readonly plan: Plan;
  readonly settings: TenantSettings;
  readonly createdAt: string;
}

/** Operator actions on tenants and keys (CLI and /admin), as events on tenant streams. */
export interface TenantService {
  createTenant(input: { name: string; plan?: Plan; settings?: Partial<TenantSettings> }, requestId: string): Promise<{ tenant: TenantView; keys: { live: IssuedKey; test: IssuedKey } }>;
  issueKey(tenantId: string, input: { mode: Mode; name?: string; scopes?: readonly Scope[]; expiresAt?: string | null; allowedOrigins?: readonly string[] }, requestId: string): Promise<IssuedKey>;
  /** Replaces a key's allowed origins (an event); answers the key as it is now. */
  changeKeyOrigins(keyId: string, allowedOrigins: readonly string[], requestId: string): Promise<KeyView>;
  /** Revokes a key; revoking it again changes nothing and says so (`alreadyRevoked`). */
  revokeKey(keyId: string, requestId: string): Promise<{ revoked: true; id: string; alreadyRevoked: boolean; revokedAt: string }>;
  changeSettings(tenantId: string, input: { plan?: Plan; settings?: Partial<TenantSettings> }, requestId: string): Promise<TenantView>;
  getTenant(tenantId: string): Promise<TenantView>;
  listTenants(): Promise<TenantView[]>;
  listKeys(tenantId: string): Promise<KeyView[]>;
  /** Runs any tenant command (webhooks use it), appending as `actorKeyId`; resolves after read models applied it. */
  execute(tenantId: string, command: TenantCommand, requestId: string, actorKeyId?: string): Promise<{ events: TenantEvent[]; position: bigint }>;
}

export interface TenantServiceDeps {
  readonly store: EventStore;
  readonly readModel: TenantReadModel;
  readonly hasher: KeyHasher;
  readonly ids: IdGenerator;
  readonly clock: () => Date;
  readonly awaitPosition: (position: bigint) => Promise<void>;
}

export function tenantView(row: TenantRow): TenantView {
  return { id: row.tenantId, name: row.name, plan: row.plan, settings: row.settings, createdAt: row.createdAt.toISOString() };
}

export function keyView(row: ApiKeyRow, now: Date): KeyView {
  const status = row.revokedAt !== null ? 'revoked' : row.expiresAt !== null && row.expiresAt <= now ? 'expired' : 'active';
  return {
    id: row.keyId,
    prefix: row.prefix,
    mode: row.mode,
    name: row.name,
    scopes: row.scopes,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    revokedAt: row.revokedAt?.toISOString() ?? null,
    status,
    allowedOrigins: row.allowedOrigins,
  };
}

/**
 * The tenant aggregate over its stream. Older versions also wrote IdentifyMissed there, which no
 * tenant rule depends on; snapshots (`TenantSnapshotted`) keep loads short however many there are.
 */
export const tenantDecider: StreamDecider<TenantState, TenantEvent> = {
  initialState: initialTenantState,
  evolve: evolveTenant,
  folds: (event) => (tenantEventTypes as readonly string[]).includes(event.type),
  snapshot: {
    type: 'TenantSnapshotted',
    toData: (state) => ({ ...state, keys: [...state.keys], webhooks: [...state.webhooks] }),
    fromData: (data) => {
      const stored = data as Omit<TenantState, 'keys' | 'webhooks'> & { keys: Array<[string, { active: boolean }]>; webhooks: string[] };
      return { ...stored, keys: new Map(stored.keys), webhooks: new Set(stored.webhooks) };
    },
  },
};

export function createTenantService(deps: TenantServiceDeps): TenantService {
  const { store, readModel, hasher, ids, clock } = deps;

  async function handle(tenantId: string, command: TenantCommand, requestId: string, actorKeyId = 'operator'): Promise<{ events: TenantEvent[]; position: bigint }> {
    const { events, result } = await handleCommand(
      store,
      tenantStream(tenantId),
      tenantDecider,
      (state) => decideTenant(command, state),
      { ids, metadata: () => ({ occurredAt: clock().toISOString(), schemaVersion: 1, tenantId, requestId, actorKeyId }) },
    );
    if (!result) return { events, position: 0n };
    await deps.awaitPosition(result.position);
    return { events, position: result.position };
  }

  async function issueKey(tenantId: string, input: { mode: Mode; name?: string; scopes?: readonly Scope[]; expiresAt?: string | null; allowedOrigins?: readonly string[] }, requestId: string): Promise<IssuedKey> {
    const expiresAt = input.expiresAt ?? null;
    if (expiresAt !== null && Date.parse(expiresAt) <= clock().getTime()) {
      throw new AppError('VALIDATION_ERROR', 'expiresAt: must be in the future', { field: 'expiresAt' });
    }
    const key = generateApiKey(input.mode);
    const issued = {
      keyId: ids.next('key'),
      tenantId,
      mode: input.mode,
      name: input.name ?? `${input.mode} key`,
      prefix: displayPrefix(key),
      hash: hasher.hash(key),
      scopes: [...(input.scopes ?? scopesAllowed(input.mode))],
      expiresAt,
      allowedOrigins: [...(input.allowedOrigins ?? [])],
    };
    await handle(tenantId, { type: 'IssueKey', key: issued }, requestId);
    return { id: issued.keyId, key, prefix: issued.prefix, mode: issued.mode, name: issued.name, scopes: issued.scopes, expiresAt, createdAt: clock().toISOString(), allowedOrigins: issued.allowedOrigins };
  }

  async function getTenant(tenantId: string): Promise<TenantView> {
    const row = await readModel.findTenant(tenantId);
    if (!row) throw new AppError('NOT_FOUND', 'tenant not found', { tenantId });
    return tenantView(row);
  }

  return {
    async createTenant(input, requestId) {
      const tenantId = ids.uuid();
      const settings = { ...defaultTenantSettings, ...input.settings };
      await handle(tenantId, { type: 'CreateTenant', tenantId, name: input.name, plan: input.plan ?? 'free', settings }, requestId);
      const live = await issueKey(tenantId, { mode: 'live', name: 'first live key' }, requestId);
      const test = await issueKey(tenantId, { mode: 'test', name: 'first test key' }, requestId);
      return { tenant: await getTenant(tenantId), keys: { live, test } };
    },

    issueKey,

    async revokeKey(keyId, requestId) {
      const key = await readModel.findKey(keyId);
      if (!key) throw new AppError('NOT_FOUND', 'key not found', { keyId });
      const { events } = await handle(key.tenantId, { type: 'RevokeKey', keyId }, requestId);
      const alreadyRevoked = events.length === 0;
      const revokedAt = alreadyRevoked ? ((await readModel.findKey(keyId))?.revokedAt ?? clock()).toISOString() : clock().toISOString();
      return { revoked: true, id: keyId, alreadyRevoked, revokedAt };
    },

    async changeKeyOrigins(keyId, allowedOrigins, requestId) {
      const key = await readModel.findKey(keyId);
      if (!key) throw new AppError('NOT_FOUND', 'key not found', { keyId });
      await handle(key.tenantId, { type: 'ChangeKeyOrigins', keyId, allowedOrigins: [...allowedOrigins] }, requestId);
      return keyView((await readModel.findKey(keyId))!, clock());
    },

    async changeSettings(tenantId, input, requestId) {
      const current = await getTenant(tenantId);
      await handle(tenantId, { type: 'ChangeSettings', plan: input.plan ?? current.plan, settings: { ...current.settings, ...input.settings } }, requestId);
      return getTenant(tenantId);
    },

    getTenant,
    execute: handle,

    async listTenants() {
      return (await readModel.listTenants()).map(tenantView);
    },

    async listKeys(tenantId) {
      await getTenant(tenantId);
      const now = clock();
      return (await readModel.listKeys(tenantId)).map((row) => keyView(row, now));
    },
  };
}
