import type { Context } from 'koa';
import type { ErrorCode } from '../errors/appError.ts';

export interface Meta {
  readonly requestId: string;
  readonly timestamp: string;
}

export function meta(ctx: Context): Meta {
  return { requestId: String(ctx.state.requestId ?? ''), timestamp: new Date().toISOString() };
}

/** Writes a success envelope. */
export function respond(ctx: Context, data: unknown, status = 200): void {
  ctx.status = status;
  ctx.body = { success: true, data, meta: meta(ctx) };
}

/** Routes the shipped FaceSmash SDK calls: it ignores the status and reads `error` as a string. */
export const sdkPathPrefix = '/api/devportal/';

/** Writes an error envelope (for the SDK's routes, its flat shape: `error` is the message). */
export function respondError(ctx: Context, status: number, code: ErrorCode, message: string, details: Record<string, unknown> = {}): void {
  ctx.status = status;
  ctx.body = ctx.path.startsWith(sdkPathPrefix)
    ? { success: false, error: message, code, details, requestId: meta(ctx).requestId }
    : { success: false, error: { code, message, details }, meta: meta(ctx) };
}
