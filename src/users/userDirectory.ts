import type { TenantContext } from '../tenancy/tenant.ts';
import type { UserReadModel } from './userReadModel.ts';

/** What a sign-in needs of a user: that they exist in this tenant and mode, and their sealed email and name. */
export interface UserIdentity {
  readonly userId: string;
  readonly emailSealed: string;
  readonly fullNameSealed: string | null;
}

/**
 * The users that sign-ins look up, cached in front of the read model. A user registered here is
 * known at once (before the read model has them); an entry lives `ttlMs`, so a name changed or a
 * user erased on another instance shows here within that time. Correctness never depends on it:
 * the store refuses a sign-in of an erased user, whatever a cache says.
 */
export interface UserDirectory {
  find(tenant: Pick<TenantContext, 'tenantId' | 'mode'>, userId: string): Promise<UserIdentity | undefined>;
  findMany(tenant: Pick<TenantContext, 'tenantId' | 'mode'>, userIds: readonly string[]): Promise<Map<string, UserIdentity>>;
  remember(tenant: Pick<TenantContext, 'tenantId' | 'mode'>, identity: UserIdentity): void;
  forget(userId: string): void;
}

export function createUserDirectory(readModel: UserReadModel, options: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}): UserDirectory {
  const ttlMs = options.ttlMs ?? 10_000;
  const maxEntries = options.maxEntries ?? 100_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { identity: UserIdentity; scope: string; until: number }>();
  const scopeOf = (tenant: Pick<TenantContext, 'tenantId' | 'mode'>) => `${tenant.mode}:${tenant.tenantId}`;

  const cached = (tenant: Pick<TenantContext, 'tenantId' | 'mode'>, userId: string) => {
    const entry = cache.get(userId);
    if (!entry) return undefined;
    if (entry.until <= now()) {
      cache.delete(userId);
      return undefined;
    }
    // Another tenant's user is, to this caller, a user that does not exist.
    return entry.scope === scopeOf(tenant) ? entry.identity : null;
  };
  const remember = (tenant: Pick<TenantContext, 'tenantId' | 'mode'>, identity: UserIdentity) => {
    cache.delete(identity.userId);
    cache.set(identity.userId, { identity, scope: scopeOf(tenant), until: now() + ttlMs });
    if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
  };

  return {
    async find(tenant, userId) {
      const hit = cached(tenant, userId);
      if (hit !== undefined) return hit ?? undefined;
      const row = await readModel.findUser(tenant, userId);
      if (!row) return undefined;
      const identity = { userId: row.userId, emailSealed: row.emailSealed, fullNameSealed: row.fullNameSealed };
      remember(tenant, identity);
      return identity;
    },
    async findMany(tenant, userIds) {
      const found = new Map<string, UserIdentity>();
      const missing: string[] = [];
      for (const userId of userIds) {
        const hit = cached(tenant, userId);
        if (hit) found.set(userId, hit);
        else if (hit === undefined) missing.push(userId);
      }
      if (missing.length > 0) {
        for (const [userId, row] of await readModel.findUsers(tenant, missing)) {
          const identity = { userId, emailSealed: row.emailSealed, fullNameSealed: row.fullNameSealed };
          remember(tenant, identity);
          found.set(userId, identity);
        }
      }
      return found;
    },
    remember,
    forget(userId) {
      cache.delete(userId);
    },
  };
}
