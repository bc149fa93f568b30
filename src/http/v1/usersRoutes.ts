import { z } from 'zod';
import { AppError } from '../../errors/appError.ts';
import type { BlindIndex } from '../../crypto/blindIndex.ts';
import type { FieldCipher } from '../../crypto/fieldCipher.ts';
import { aad, signInSubject } from '../../users/userEvents.ts';
import type { UserReadModel, UserRow } from '../../users/userReadModel.ts';
import type { ErasureResult } from '../../users/erasure.ts';
import type { CommandContext } from '../../eventStore/metadata.ts';
import { userHistory } from '../../compliance/history.ts';
import type { EventStore } from '../../eventStore/eventStore.ts';
import type { ReadConsistency } from '../readConsistency.ts';
import { route, routeGroup } from '../routes/declaration.ts';
import { example } from '../routes/examples.ts';
import { groups } from '../routes/groups.ts';
import { commandErrors, readErrors } from '../routes/notes.ts';
import { deleteUserResponse, historyQuery, historyResponse, listLogsQuery, listUsersQuery, listUsersResponse, logsResponse, userIdSchema, userResponse } from './schemas.ts';

export interface UsersRouteDeps {
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

const email = (deps: UsersRouteDeps, row: UserRow) => deps.cipher.openText(row.userId, row.emailSealed, aad.email(row.userId));
const userPath = z.strictObject({ id: userIdSchema.meta({ description: 'A user id (`usr_…`).' }) });

export const exampleReceipt = {
  receiptId: example.receiptId,
  sequence: 3,
  userId: example.userId,
  mode: 'live',
  erasedAt: example.at,
  position: '48213',
  keyIdDestroyed: 'dk_c4b3a2918f7e4d6c5b4a39281706f5e4',
  deletedRecords: { profile: 1, templates: 2, signInLogs: 37 },
  previousDigest: example.previousDigest,
  digest: example.digest,
} as const;

/** /v1/users: list, read, erase, history and sign-in logs. */
export const usersRoutes = routeGroup<UsersRouteDeps>(groups.users, [
  route({
    method: 'get',
    path: '/v1/users',
    operationId: 'listUsers',
    summary: 'List users',
    description: 'Emails are stored encrypted: `email` filters by exact address (case-insensitive), there is no substring search.',
    tags: ['users'],
    auth: { kind: 'key', scope: 'users:read' },
    query: listUsersQuery,
    readAfter: true,
    responses: [
      {
        status: 200,
        description: 'One page of users.',
        schema: listUsersResponse,
        name: 'ListUsersResponse',
        example: {
          users: [{ id: example.userId, email: example.email, createdAt: example.earlier, lastLogin: example.at, loginCount: 37, templateCount: 2, successRate: 0.973 }],
          totalItems: 1,
          page: 1,
          perPage: 20,
          totalPages: 1,
        },
      },
    ],
    errors: ['VALIDATION_ERROR', ...readErrors],
    async handle(deps, { query, tenant }, ctx) {
      await deps.consistency.beforeRead(ctx, { tenant });
      const page = await deps.readModel.listUsers(tenant, {
        page: query.page,
        perPage: query.perPage,
        sort: query.sort,
        ...(query.email !== undefined ? { emailIndex: deps.blindIndex.email(tenant.tenantId, tenant.mode, query.email) } : {}),
      });
      const users = [];
      for (const row of page.items) {
        const value = await email(deps, row);
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
      return { data: { users, totalItems: page.totalItems, page: query.page, perPage: query.perPage, totalPages: Math.ceil(page.totalItems / query.perPage) } };
    },
  }),
  route({
    method: 'get',
    path: '/v1/users/{id}',
    operationId: 'getUser',
    summary: 'Get a user',
    tags: ['users'],
    auth: { kind: 'key', scope: 'users:read' },
    params: userPath,
    readAfter: true,
    responses: [
      {
        status: 200,
        description: 'The user and their counters.',
        schema: userResponse,
        name: 'UserResponse',
        example: {
          id: example.userId,
          email: example.email,
          createdAt: example.earlier,
          lastLogin: example.at,
          loginCount: 37,
          successfulLogins: 36,
          failedLogins: 1,
          successRate: 0.973,
          avgQualityScore: 0.875,
          confidenceThreshold: 0.45,
          templateCount: 2,
        },
      },
    ],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', ...readErrors],
    async handle(deps, { params, tenant }, ctx) {
      const userId = params.id;
      await deps.consistency.beforeRead(ctx, { tenant, userId });
      const row = await deps.readModel.findUser(tenant, userId);
      const value = row ? await email(deps, row) : null;
      if (!row || value === null) throw new AppError('NOT_FOUND', 'user not found', { userId });
      const avgQuality = await deps.readModel.avgQuality(tenant, userId);
      return {
        data: {
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
        },
      };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/users/{id}',
    operationId: 'deleteUser',
    summary: 'Erase a user',
    description: "Erases the user's personal data (crypto-shredding: their key is destroyed) and answers an erasure receipt, chained to the tenant's earlier receipts.",
    tags: ['users'],
    auth: { kind: 'key', scope: 'users:delete' },
    params: userPath,
    responses: [
      {
        status: 200,
        description: 'The user was erased.',
        schema: deleteUserResponse,
        name: 'DeleteUserResponse',
        example: { deleted: true, userId: example.userId, deletedRecords: exampleReceipt.deletedRecords, receipt: exampleReceipt },
      },
    ],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', ...commandErrors],
    async handle(deps, { params, context }) {
      return { data: await deps.erase(context, params.id) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/users/{id}/history',
    operationId: 'getUserHistory',
    summary: "Replay a user's history (audit)",
    description: 'Every event of the user with its time, actor key and request id, and its non-biometric facts; with `at`, the user’s state as it was then. After an erasure the events are still listed, their payloads marked erased.',
    tags: ['users'],
    auth: { kind: 'key', scope: 'users:read' },
    params: userPath,
    query: historyQuery,
    responses: [
      {
        status: 200,
        description: 'The history, oldest first.',
        schema: historyResponse,
        name: 'HistoryResponse',
        example: {
          userId: example.userId,
          status: 'active',
          events: [
            { type: 'UserEnrolled', occurredAt: example.earlier, actorKeyId: example.keyId, requestId: 'req_8f7e6d5c4b3a29180f1e', stream: `user-${example.userId}`, revision: '0', position: '1207', facts: {} },
            {
              type: 'FaceTemplateAdded',
              occurredAt: example.earlier,
              actorKeyId: example.keyId,
              requestId: 'req_8f7e6d5c4b3a29180f1e',
              stream: `user-${example.userId}`,
              revision: '1',
              position: '1208',
              facts: { templateId: example.templateId, quality: 0.91, source: 'descriptor', model: 'faceRecognitionNet' },
            },
            {
              type: 'SignInAttempted',
              occurredAt: example.at,
              actorKeyId: example.keyId,
              requestId: 'req_0a1b2c3d4e5f60718293',
              stream: `signins-${example.userId}-2026-11`,
              revision: '36',
              position: '48190',
              facts: { logId: example.logId, kind: 'verify', outcome: 'success', similarity: 0.8731, threshold: 0.45, templateId: example.templateId },
            },
          ],
        },
      },
    ],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR'],
    async handle(deps, { params, query, tenant }) {
      return { data: await userHistory(deps.store, tenant, params.id, query.at !== undefined ? new Date(query.at) : undefined) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/users/{id}/logs',
    operationId: 'listUserLogs',
    summary: "List a user's sign-in attempts",
    tags: ['users'],
    auth: { kind: 'key', scope: 'users:read' },
    params: userPath,
    query: listLogsQuery,
    readAfter: true,
    responses: [
      {
        status: 200,
        description: 'One page of sign-in attempts, newest first.',
        schema: logsResponse,
        name: 'LogsResponse',
        example: {
          logs: [{ id: example.logId, success: true, confidence: 0.8731, ipAddress: '203.0.113.24', userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15', createdAt: example.at }],
          totalItems: 37,
          page: 1,
          perPage: 20,
          totalPages: 2,
        },
      },
    ],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', ...readErrors],
    async handle(deps, { params, query, tenant }, ctx) {
      const userId = params.id;
      await deps.consistency.beforeRead(ctx, { tenant, userId });
      if (!(await deps.readModel.findUser(tenant, userId))) throw new AppError('NOT_FOUND', 'user not found', { userId });
      const page = await deps.readModel.listLogs(tenant, userId, { page: query.page, perPage: query.perPage, ...(query.success !== undefined ? { success: query.success } : {}) });
      const logs = [];
      for (const log of page.items) {
        const subject = signInSubject(userId, log.createdAt.toISOString());
        logs.push({
          id: log.logId,
          success: log.success,
          confidence: log.similarity,
          ipAddress: await deps.cipher.openText(subject, log.ipSealed, aad.ip(log.logId)),
          userAgent: await deps.cipher.openText(subject, log.userAgentSealed, aad.userAgent(log.logId)),
          createdAt: log.createdAt.toISOString(),
        });
      }
      return { data: { logs, totalItems: page.totalItems, page: query.page, perPage: query.perPage, totalPages: Math.ceil(page.totalItems / query.perPage) } };
    },
  }),
]);
