import type { Context } from 'koa';
import { AppError } from '../errors/appError.ts';
import { modeOfKey, type KeyHasher } from '../tenancy/apiKeys.ts';
import type { TenantContext } from '../tenancy/tenant.ts';
import type { Scope } from '../tenancy/tenantEvents.ts';
import type { TenantReadModel } from '../tenancy/tenantReadModel.ts';

export interface Authenticator {
  /** The tenant context of the request's API key (Bearer or X-API-Key); 401 UNAUTHORIZED otherwise. */
  authenticate(ctx: Context): Promise<TenantContext>;
  /** Drops cached keys (after a revocation or a settings change on this instance). */
  forget(): void;
}

/** The API key a request carries, if any. */
export function presentedKey(ctx: Context): string | undefined {
  const authorization = ctx.get('Authorization');
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (bearer) return bearer[1];
  const header = ctx.get('X-API-Key').trim();
  return header === '' ? undefined : header;
}

export function createAuthenticator(deps: { readModel: TenantReadModel; hasher: KeyHasher; clock: () => Date; cacheTtlMs?: number }): Authenticator {
  const ttl = deps.cacheTtlMs ?? 5000;
  const cache = new Map<string, { context: TenantContext; expiresAt: Date | null; until: number }>();
  const unauthorized = (message: string) => new AppError('UNAUTHORIZED', message);

  return {
    async authenticate(ctx) {
      const key = presentedKey(ctx);
      if (key === undefined) throw unauthorized('an API key is required (Authorization: Bearer <key> or X-API-Key)');
      const mode = modeOfKey(key);
      if (mode === undefined) throw unauthorized('invalid API key');
      const hash = deps.hasher.hash(key);
      const now = deps.clock();
      const cached = cache.get(hash);
      if (cached && cached.until > now.getTime()) {
        if (cached.expiresAt !== null && cached.expiresAt <= now) throw unauthorized('this API key has expired');
        return cached.context;
      }
      const row = await deps.readModel.findKeyByHash(hash);
      if (!row || !deps.hasher.matches(row.hash, hash) || row.mode !== mode) throw unauthorized('invalid API key');
      if (row.revokedAt !== null) throw unauthorized('this API key was revoked');
      if (row.expiresAt !== null && row.expiresAt <= now) throw unauthorized('this API key has expired');
      const tenant = await deps.readModel.findTenant(row.tenantId);
      if (!tenant) throw unauthorized('invalid API key');
      const context: TenantContext = {
        tenantId: tenant.tenantId,
        mode: row.mode,
        settings: tenant.settings,
        plan: row.mode === 'test' ? 'free' : tenant.plan,
        scopes: row.scopes,
        actorKeyId: row.keyId,
        allowedOrigins: row.allowedOrigins,
      };
      if (cache.size > 10_000) cache.clear();
      cache.set(hash, { context, expiresAt: row.expiresAt, until: now.getTime() + ttl });
      return context;
    },
    forget() {
      cache.clear();
    },
  };
}

/** 403 FORBIDDEN unless the key holds the scope. */
export function requireScope(tenant: TenantContext, scope: Scope): void {
  if (!tenant.scopes.includes(scope)) throw new AppError('FORBIDDEN', `this API key lacks the ${scope} scope`, { scope });
}
