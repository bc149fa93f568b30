import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { AppError, codeOf, type ErrorCode } from '../../errors/appError.ts';
import type { TenantContext } from '../../tenancy/tenant.ts';
import type { Scope } from '../../tenancy/tenantEvents.ts';
import { respond } from '../envelope.ts';
import { requestFingerprint, validateIdempotencyKey, type IdempotencyStore } from '../idempotency.ts';
import { descriptorBodyLimit, imageBodyLimit, readJsonBody } from '../jsonBody.ts';
import { positionHeader } from '../readConsistency.ts';
import { parseInput } from '../validation.ts';
import { commandContext } from '../commandContext.ts';
import { isJsonResponse, written, type Answer, type RouteDeclaration, type RouteGroup } from './declaration.ts';
import { guardErrors } from './guardErrors.ts';

/** How routes are let in: the key guard (authentication, CORS, the plan's limits) and the operator token. */
export interface RouteGuards {
  /** Authenticates the request's API key and counts it against the plan; the route then checks its scope. */
  readonly key: (ctx: Context) => Promise<TenantContext>;
  /** Throws UNAUTHORIZED unless the request carries the operator token. */
  readonly admin?: (ctx: Context) => void;
  /** Throws UNAUTHORIZED unless the request carries the metrics token (when one is configured). */
  readonly metrics?: (ctx: Context) => void;
  readonly requireScope: (tenant: TenantContext, scope: Scope) => void;
}

export interface MountOptions {
  readonly guards: RouteGuards;
  /** Stored idempotent answers (routes declaring `idempotency: 'stored'`). */
  readonly idempotency?: IdempotencyStore;
  /**
   * Checks every answer against its declaration: a success body its schema refuses, or an error
   * code the route does not declare, fails the request loudly (500). On in the test suite, so that
   * every API test also checks the OpenAPI document; off in production.
   */
  readonly checkResponses?: boolean;
}

/** Builds the Koa router of a route group from its declarations. */
export function mountGroup<Deps>(group: RouteGroup<Deps>, deps: Deps, options: MountOptions): Router {
  const router = new Router();
  for (const declared of group.routes) {
    const koaPath = declared.path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
    router[declared.method](declared.operationId, koaPath, handler(group, declared, deps, options));
  }
  return router;
}

function handler<Deps>(group: RouteGroup<Deps>, declared: RouteDeclaration<Deps>, deps: Deps, options: MountOptions): Middleware {
  const declaredCodes = new Set<ErrorCode>([...declared.errors, ...guardErrors(declared.auth)]);
  const bodyLimit = declared.body?.limit === 'image' ? imageBodyLimit : descriptorBodyLimit;
  const defaultStatus = declared.responses.find((response) => response.status < 300)?.status ?? 200;

  return async (ctx) => {
    try {
      await run(ctx);
    } catch (error) {
      const code = codeOf(error);
      if (options.checkResponses && code !== undefined && !declaredCodes.has(code)) {
        throw new Error(`${declared.operationId} answered ${code}, which it does not declare (${[...declaredCodes].join(', ')})`, { cause: error });
      }
      throw error;
    }
  };

  async function run(ctx: Context): Promise<void> {
    let tenant: TenantContext | undefined;
    if (declared.auth.kind === 'key') {
      tenant = await options.guards.key(ctx);
      options.guards.requireScope(tenant, declared.auth.scope);
    } else if (declared.auth.kind === 'admin') {
      if (!options.guards.admin) throw new AppError('NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
      options.guards.admin(ctx);
    } else if (declared.auth.kind === 'metrics') {
      options.guards.metrics?.(ctx);
    }
    const idempotencyKey = declared.idempotency ? ctx.get('Idempotency-Key') : '';
    if (idempotencyKey !== '') validateIdempotencyKey(idempotencyKey);
    const params = declared.params ? parseInput(declared.params, { ...ctx.params }, 'path') : undefined;
    const query = declared.query ? parseInput(declared.query, ctx.query, 'query') : undefined;
    let rawBody: unknown;
    let body: unknown;
    if (declared.body) {
      const read = await readJsonBody(ctx, bodyLimit);
      rawBody = read.value;
      const hasImage = typeof read.value === 'object' && read.value !== null && typeof (read.value as { image?: unknown }).image === 'string';
      if (!hasImage && read.bytes > descriptorBodyLimit) {
        throw new AppError('PAYLOAD_TOO_LARGE', `a request without an image is limited to ${descriptorBodyLimit} bytes`, { limitBytes: descriptorBodyLimit });
      }
      body = parseInput(declared.body.schema, read.value, 'body');
    }
    const requestId = String(ctx.state.requestId);
    const input = {
      params,
      query,
      body,
      rawBody,
      requestId,
      // Only key routes read these; elsewhere they are never touched.
      tenant: tenant as TenantContext,
      context: tenant ? commandContext(ctx, tenant) : (undefined as never),
    };
    const execute = () => declared.handle(deps, input, ctx);

    let answer: Answer & { replayed?: boolean };
    if (idempotencyKey !== '' && declared.idempotency === 'stored' && tenant && options.idempotency) {
      answer = await options.idempotency.run(tenant, idempotencyKey, requestFingerprint(ctx.method, ctx.path, rawBody ?? null), async () => {
        const outcome = await execute();
        if (outcome === written) throw new Error(`${declared.operationId}: a raw route cannot be idempotent`);
        return { status: outcome.status ?? defaultStatus, data: outcome.data, subjects: outcome.subjects ?? [], ...(outcome.position !== undefined ? { position: outcome.position } : {}) };
      });
      if (answer.replayed) ctx.set('Idempotent-Replayed', 'true');
    } else {
      const outcome = await execute();
      if (outcome === written) return;
      answer = outcome;
    }
    const status = answer.status ?? defaultStatus;
    if (answer.position !== undefined) ctx.set(positionHeader, answer.position.toString());
    if (options.checkResponses) checkAnswer(declared, status, answer.data);
    if (group.info.errorShape === 'sdk') {
      ctx.status = status;
      ctx.body = answer.data;
    } else {
      respond(ctx, answer.data, status);
    }
  }
}

function checkAnswer<Deps>(declared: RouteDeclaration<Deps>, status: number, data: unknown): void {
  const response = declared.responses.find((candidate) => candidate.status === status);
  if (!response) throw new Error(`${declared.operationId} answered ${status}, which it does not declare`);
  if (!isJsonResponse(response)) return;
  const parsed = response.schema.safeParse(data);
  if (!parsed.success) throw new Error(`${declared.operationId} answered a ${status} its schema ${response.name} refuses: ${JSON.stringify(parsed.error.issues.slice(0, 5))}`);
}
