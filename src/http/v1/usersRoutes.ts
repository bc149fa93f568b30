import Router from '@koa/router';
import { AppError } from '../../errors/appError.ts';
import type { BlindIndex } from '../../crypto/blindIndex.ts';
import type { FieldCipher } from '../../crypto/fieldCipher.ts';
import { aad, signInSubject } from '../../users/userEvents.ts';
import type { UserReadModel, UserRow } from '../../users/userReadModel.ts';
import type { ErasureResult } from '../../users/erasure.ts';
import type { CommandContext } from '../../eventStore/metadata.ts';
import { respond } from '../envelope.ts';
import { parseInput } from '../validation.ts';
import { commandContext, type TenantResolver } from './commandRoute.ts';
import { historyQuery, listLogsQuery, listUsersQuery, userIdSchema } from './schemas.ts';
import { userHistory } from '../../compliance/history.ts';
import type { ReadConsistency } from '../readConsistency.ts';
import type { EventStore } from '../../eventStore/eventStore.ts';

export interface UsersRouteDeps {
  readonly resolveTenant: TenantResolver;
  readonly readModel: UserReadModel;
  readonly cipher: FieldCipher;
  readonly blindIndex: BlindIndex;
  readonly erase: (context: CommandContext, userId: string) => Promise<ErasureResult>;
  readonly store: EventStore;
  readonly consistency: ReadConsistency;
}

function rate(successful: number, total: number): number {
  return total === 0 ? 0 : Math.round((successful / total) * 1e4) / 1e4;
}

/** /v1/users: list, read, erase, and sign-in logs. */
export function usersRouter(deps: UsersRouteDeps): Router {
  const router = new Router({ prefix: '/v1/users' });
  const { readModel, cipher } = deps;

  const email = (row: UserRow) => cipher.openText(row.userId, row.emailSealed, aad.email(row.userId));

  router.get('/', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'users:read');
    const query = parseInput(listUsersQuery, ctx.query, 'query');
    await deps.consistency.beforeRead(ctx, { tenant });
    const page = await readModel.listUsers(tenant, {
      page: query.page,
      perPage: query.perPage,
      sort: query.sort,
      ...(query.email !== undefined ? { emailIndex: deps.blindIndex.email(tenant.tenantId, tenant.mode, query.email) } : {}),
    });
    const users = [];
    for (const row of page.items) {
      const value = await email(row);
      // Rows of a user erased a moment ago (before the projection deleted them) are left out.
      if (value === null) continue;
      users.push({
        id: row.userId,
        email: value,
        createdAt: row.createdAt.toISOString(),
        lastLogin: row.lastLogin?.toISOString() ?? null,
        loginCount: row.loginCount,
        templateCount: row.templateCount,
        successRate: rate(row.successfulLogins, row.loginCount),
      });
    }
    respond(ctx, { users, totalItems: page.totalItems, page: query.page, perPage: query.perPage, totalPages: Math.ceil(page.totalItems / query.perPage) });
  });

  router.get('/:id', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'users:read');
    const userId = parseInput(userIdSchema, ctx.params.id, 'path', 'id');
    await deps.consistency.beforeRead(ctx, { tenant, userId });
    const row = await readModel.findUser(tenant, userId);
    const value = row ? await email(row) : null;
    if (!row || value === null) throw new AppError('NOT_FOUND', 'user not found', { userId });
    const avgQuality = await readModel.avgQuality(tenant, userId);
    respond(ctx, {
      id: row.userId,
      email: value,
      createdAt: row.createdAt.toISOString(),
      lastLogin: row.lastLogin?.toISOString() ?? null,
      loginCount: row.loginCount,
      successfulLogins: row.successfulLogins,
      failedLogins: row.failedLogins,
      successRate: rate(row.successfulLogins, row.loginCount),
      avgQualityScore: avgQuality === null ? null : Math.round(avgQuality * 1e4) / 1e4,
      confidenceThreshold: tenant.settings.matchThreshold,
      templateCount: row.templateCount,
    });
  });

  router.delete('/:id', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'users:delete');
    const userId = parseInput(userIdSchema, ctx.params.id, 'path', 'id');
    respond(ctx, await deps.erase(commandContext(ctx, tenant), userId));
  });

  router.get('/:id/history', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'users:read');
    const userId = parseInput(userIdSchema, ctx.params.id, 'path', 'id');
    const query = parseInput(historyQuery, ctx.query, 'query');
    respond(ctx, await userHistory(deps.store, tenant, userId, query.at !== undefined ? new Date(query.at) : undefined));
  });

  router.get('/:id/logs', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'users:read');
    const userId = parseInput(userIdSchema, ctx.params.id, 'path', 'id');
    const query = parseInput(listLogsQuery, ctx.query, 'query');
    await deps.consistency.beforeRead(ctx, { tenant, userId });
    if (!(await readModel.findUser(tenant, userId))) throw new AppError('NOT_FOUND', 'user not found', { userId });
    const page = await readModel.listLogs(tenant, userId, { page: query.page, perPage: query.perPage, ...(query.success !== undefined ? { success: query.success } : {}) });
    const logs = [];
    for (const log of page.items) {
      logs.push({
        id: log.logId,
        success: log.success,
        confidence: log.similarity,
        ipAddress: await cipher.openText(signInSubject(userId, log.createdAt.toISOString()), log.ipSealed, aad.ip(log.logId)),
        userAgent: await cipher.openText(signInSubject(userId, log.createdAt.toISOString()), log.userAgentSealed, aad.userAgent(log.logId)),
        createdAt: log.createdAt.toISOString(),
      });
    }
    respond(ctx, { logs, totalItems: page.totalItems, page: query.page, perPage: query.perPage, totalPages: Math.ceil(page.totalItems / query.perPage) });
  });

  return router;
}
