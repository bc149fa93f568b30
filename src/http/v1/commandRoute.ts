import type { Context } from 'koa';
import type { z } from 'zod';
import { AppError } from '../../errors/appError.ts';
import type { CommandContext } from '../../eventStore/metadata.ts';
import type { TenantContext } from '../../tenancy/tenant.ts';
import type { Scope } from '../../tenancy/tenantEvents.ts';
import { respond } from '../envelope.ts';
import { requestFingerprint, type IdempotencyStore, type IdempotentOutcome } from '../idempotency.ts';
import { descriptorBodyLimit, imageBodyLimit, readJsonBody } from '../jsonBody.ts';
import { parseInput } from '../validation.ts';
import { positionHeader } from '../readConsistency.ts';

/** The tenant and mode a request acts for, once its key is known to hold `scope`. */
export type TenantResolver = (ctx: Context, scope: Scope) => TenantContext;

export interface CommandRouteDeps {
  readonly resolveTenant: TenantResolver;
  readonly idempotency: IdempotencyStore;
}

const maxUserAgentLength = 512;

/** The command context of a request: tenant, request id, and where it came from. */
export function commandContext(ctx: Context, tenant: TenantContext): CommandContext {
  const userAgent = ctx.get('User-Agent');
  return {
    tenant,
    requestId: String(ctx.state.requestId),
    ...(ctx.ip ? { ip: ctx.ip } : {}),
    ...(userAgent ? { userAgent: userAgent.slice(0, maxUserAgentLength) } : {}),
  };
}

/**
 * Runs a POST command: reads the JSON body (8 MB where an image is accepted, else 1 MB), validates
 * it, honours Idempotency-Key, and writes the envelope. Nothing is appended unless validation passed.
 */
export async function runCommand<S extends z.ZodType>(
  ctx: Context,
  deps: CommandRouteDeps,
  schema: S,
  options: { readonly acceptsImage: boolean; readonly scope: Scope },
  execute: (input: z.infer<S>, context: CommandContext) => Promise<IdempotentOutcome>,
): Promise<void> {
  const tenant = deps.resolveTenant(ctx, options.scope);
  const { value, bytes } = await readJsonBody(ctx, options.acceptsImage ? imageBodyLimit : descriptorBodyLimit);
  const hasImage = typeof value === 'object' && value !== null && typeof (value as { image?: unknown }).image === 'string';
  if (!hasImage && bytes > descriptorBodyLimit) {
    throw new AppError('PAYLOAD_TOO_LARGE', `a request without an image is limited to ${descriptorBodyLimit} bytes`, { limitBytes: descriptorBodyLimit });
  }
  const input = parseInput(schema, value, 'body');
  const context = commandContext(ctx, tenant);
  const key = ctx.get('Idempotency-Key');
  if (key === '') {
    const outcome = await execute(input, context);
    if (outcome.position !== undefined) ctx.set(positionHeader, outcome.position.toString());
    respond(ctx, outcome.data, outcome.status);
    return;
  }
  const result = await deps.idempotency.run(tenant, key, requestFingerprint(ctx.method, ctx.path, value), () => execute(input, context));
  if (result.replayed) ctx.set('Idempotent-Replayed', 'true');
  if (result.position !== undefined) ctx.set(positionHeader, result.position.toString());
  respond(ctx, result.data, result.status);
}
