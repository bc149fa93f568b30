import type { Context } from 'koa';
import type { RecentWrites } from '../consistency/recentWrites.ts';
import { AppError } from '../errors/appError.ts';
import type { TenantContext } from '../tenancy/tenant.ts';

/** The header a write answers with: the global position of what it stored. */
export const positionHeader = 'X-Position';
/** The header a read may send: answer only once the read models have applied this position. */
export const readAfterHeader = 'X-Read-After';

/** What a read asks about: its tenant and mode, and the user it concerns, if one. */
export interface ReadScope {
  readonly tenant: Pick<TenantContext, 'tenantId' | 'mode'>;
  readonly userId?: string;
}

export interface ReadConsistency {
  /**
   * Waits until the read models have applied what this read must see: the position the client
   * sent in X-Read-After, and this instance's own recent writes of the user (or, for a list, of
   * the tenant and mode). With nothing pending it returns at once.
   */
  beforeRead(ctx: Context, scope: ReadScope): Promise<void>;
}

export function createReadConsistency(deps: {
  readonly recent: RecentWrites;
  readonly headPosition: () => Promise<bigint>;
  /** Resolves true once the read models have applied `position`, false after the bound. */
  readonly readModelsAt: (position: bigint) => Promise<boolean>;
}): ReadConsistency {
  return {
    async beforeRead(ctx, scope) {
      const sent = ctx.get(readAfterHeader);
      let target = scope.userId !== undefined ? deps.recent.activityOf(scope.userId) : deps.recent.tenantOf(scope.tenant.tenantId, scope.tenant.mode);
      if (sent !== '') {
        if (!/^\d{1,19}$/.test(sent)) throw new AppError('VALIDATION_ERROR', `${readAfterHeader}: must be a position (a whole number) from an ${positionHeader} header`, { field: readAfterHeader, in: 'header' });
        const position = BigInt(sent);
        if (position > (await deps.headPosition())) throw new AppError('VALIDATION_ERROR', `${readAfterHeader}: position ${position} is beyond the event store's head`, { field: readAfterHeader, in: 'header' });
        if (position > target) target = position;
      }
      if (target === 0n) return;
      if (!(await deps.readModelsAt(target))) {
        throw new AppError('SERVICE_UNAVAILABLE', 'the read models are catching up with the event store; retry shortly', { retryAfterSeconds: 1, position: target.toString() });
      }
    },
  };
}
