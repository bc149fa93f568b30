import type { Logger } from 'pino';
import type { SubjectKeyStore } from '../crypto/subjectKeys.ts';
import { allScopes, type Mode } from '../tenancy/tenantEvents.ts';
import type { TenantService } from '../tenancy/tenantService.ts';
import type { TenantReadModel } from '../tenancy/tenantReadModel.ts';
import type { ErasureResult } from '../users/erasure.ts';
import type { CommandContext } from '../eventStore/metadata.ts';
import type { UserReadModel } from '../users/userReadModel.ts';

export interface RetentionReport {
  readonly tenants: number;
  /** Tenant and mode pairs whose old sign-in logs were pruned. */
  readonly logsPruned: number;
  /** Sign-in month keys destroyed (their IPs and user agents are unreadable from then on). */
  readonly monthKeysDestroyed: number;
  readonly usersErased: number;
}

export interface RetentionDeps {
  readonly tenantReadModel: TenantReadModel;
  readonly tenants: TenantService;
  readonly users: UserReadModel;
  readonly keys: SubjectKeyStore;
  readonly erase: (context: CommandContext, userId: string, reason: 'retention') => Promise<ErasureResult>;
  readonly clock: () => Date;
  readonly logger: Logger;
}

const modes: readonly Mode[] = ['live', 'test'];
const dayMs = 86_400_000;

/**
 * Applies each tenant's retention settings through the same commands as the API, so what it does
 * shows in the history and the receipts: sign-in logs older than `logRetentionDays` are pruned
 * (an event on the tenant stream; the read model drops them) and the monthly keys that sealed
 * their IPs and user agents are destroyed once a whole month is past the window; users inactive
 * for `inactiveUserErasureMonths` (off unless set) are erased, each with a receipt.
 */
export async function applyRetention(deps: RetentionDeps): Promise<RetentionReport> {
  const now = deps.clock();
  let logsPruned = 0;
  let monthKeysDestroyed = 0;
  let usersErased = 0;
  const tenants = await deps.tenantReadModel.listTenants();
  for (const tenant of tenants) {
    const { logRetentionDays, inactiveUserErasureMonths } = tenant.settings;
    for (const mode of modes) {
      const scope = { tenantId: tenant.tenantId, mode };
      const before = new Date(now.getTime() - logRetentionDays * dayMs);
      if (await deps.users.hasLogsBefore(scope, before)) {
        await deps.tenants.execute(tenant.tenantId, { type: 'PruneSignInLogs', mode, before: before.toISOString(), retentionDays: logRetentionDays }, 'retention', 'retention');
        logsPruned += 1;
      }
      // A month's key goes once every day of that month is past the window.
      const firstMonthKept = before.toISOString().slice(0, 7);
      let after = '';
      for (;;) {
        const ids = await deps.users.userIds(scope, after, 1000);
        if (ids.length === 0) break;
        monthKeysDestroyed += await deps.keys.destroyChildrenBefore(ids, 'signins', firstMonthKept);
        after = ids.at(-1)!;
      }
      if (inactiveUserErasureMonths !== null) {
        const cutoff = new Date(now);
        cutoff.setUTCMonth(cutoff.getUTCMonth() - inactiveUserErasureMonths);
        const context: CommandContext = {
          tenant: { tenantId: tenant.tenantId, mode, settings: tenant.settings, plan: tenant.plan, scopes: allScopes, actorKeyId: 'retention' },
          requestId: `retention-${now.toISOString()}`,
        };
        const tried = new Set<string>();
        for (;;) {
          // A user whose erasure failed stays in the list: never try one twice in a run.
          const inactive = (await deps.users.inactiveUserIds(scope, cutoff, 100 + tried.size)).filter((userId) => !tried.has(userId));
          if (inactive.length === 0) break;
          for (const userId of inactive) {
            tried.add(userId);
            try {
              await deps.erase(context, userId, 'retention');
              usersErased += 1;
            } catch (error) {
              deps.logger.error({ err: error, tenantId: tenant.tenantId, userId }, 'retention erasure failed');
            }
          }
        }
      }
    }
  }
  const report = { tenants: tenants.length, logsPruned, monthKeysDestroyed, usersErased };
  if (logsPruned + monthKeysDestroyed + usersErased > 0) deps.logger.info(report, 'retention applied');
  return report;
}
