import type { Context } from 'koa';
import { AppError } from '../../errors/appError.ts';
import type { TenantContext } from '../../tenancy/tenant.ts';
import { scopesAllowed } from '../../tenancy/tenantEvents.ts';
import type { TenantReadModel } from '../../tenancy/tenantReadModel.ts';

/** The header naming the tenant an operator acts on (with `Authorization: Bearer <ADMIN_TOKEN>`). */
export const operatorTenantHeader = 'X-Operator-Tenant';
/** The header naming the data set (`live` or `test`) an operator acts on; `live` when absent. */
export const operatorModeHeader = 'X-Operator-Mode';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface OperatorAccess {
  /**
   * The tenant context of an operator's request (the console signed in with ADMIN_TOKEN), or
   * undefined when the request does not name a tenant (then its API key is authenticated as usual).
   * A request naming a tenant without the admin token is refused, never treated as a key.
   */
  resolve(ctx: Context): Promise<TenantContext | undefined>;
}

/**
 * The operator acts on one tenant's data set through the same `/v1` routes a key uses, with all the
 * scopes the mode allows (a test data set never gets `users:delete` or `webhooks:manage`, as for
 * keys). Its events name `operator` as their actor. The admin token already issues keys for any
 * tenant, so this grants it nothing it could not get; it only spares the console minting keys.
 */
export function createOperatorAccess(deps: { readonly isAdmin?: (ctx: Context) => boolean; readonly readModel: Pick<TenantReadModel, 'findTenant'> }): OperatorAccess {
  return {
    async resolve(ctx) {
      const tenantId = ctx.get(operatorTenantHeader).trim();
      if (tenantId === '') return undefined;
      if (!deps.isAdmin || !deps.isAdmin(ctx)) throw new AppError('UNAUTHORIZED', `${operatorTenantHeader} needs the admin token (Authorization: Bearer <ADMIN_TOKEN>)`);
      const modeText = ctx.get(operatorModeHeader).trim() || 'live';
      if (modeText !== 'live' && modeText !== 'test') throw new AppError('UNAUTHORIZED', `${operatorModeHeader} must be live or test`);
      const tenant = uuid.test(tenantId) ? await deps.readModel.findTenant(tenantId) : undefined;
      if (!tenant) throw new AppError('UNAUTHORIZED', `${operatorTenantHeader} names no tenant`);
      return {
        tenantId: tenant.tenantId,
        mode: modeText,
        settings: tenant.settings,
        plan: modeText === 'test' ? 'free' : tenant.plan,
        scopes: scopesAllowed(modeText),
        actorKeyId: 'operator',
        allowedOrigins: [],
      };
    },
  };
}
