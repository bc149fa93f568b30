import type { Context } from 'koa';
import type { ErrorCode } from '../errors/appError.ts';
import { clipText } from './clientText.ts';
import { groupOf, type ErrorShape } from './routes/groups.ts';

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

/**
 * Writes an error in the shape of the route group that owns the path: the envelope, or for the
 * SDK's group its flat shape (the shipped SDK ignores the status and reads `error` as a string).
 */
export function respondError(ctx: Context, status: number, code: ErrorCode, message: string, details: Record<string, unknown> = {}): void {
  ctx.status = status;
  ctx.body = errorBody(groupOf(ctx.path).errorShape, code, message, details, meta(ctx));
}

/**
 * The body of an error answer in `shape`: the envelope, or the SDK's flat body.
 * Messages and details often repeat what the client sent, so both are bounded here, once for every
 * error: an error body stays under `maxErrorBodyBytes` whatever the request was.
 */
export function errorBody(shape: ErrorShape, code: ErrorCode, message: string, details: Readonly<Record<string, unknown>>, at: Meta): Record<string, unknown> {
  const shown = clipText(message, maxMessageLength);
  const bounded = boundedDetails(details);
  return shape === 'sdk'
    ? { success: false, error: shown, code, details: bounded, requestId: at.requestId }
    : { success: false, error: { code, message: shown, details: bounded }, meta: at };
}

/** Upper bound of an error body's JSON (the envelope around details of at most `maxDetailsBytes`). */
export const maxErrorBodyBytes = 4096;
const maxDetailsBytes = 3000;
const maxMessageLength = 400;
const maxStringLength = 200;
const maxItems = 20;
const maxDepth = 5;

function boundedDetails(details: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const clipped = clipValue(details, 0) as Record<string, unknown>;
  if (Buffer.byteLength(JSON.stringify(clipped)) <= maxDetailsBytes) return clipped;
  // Still too large (many long strings): keep the scalars that say which field, drop the rest.
  const scalars: Record<string, unknown> = { detailsTruncated: true };
  for (const [key, value] of Object.entries(clipped).slice(0, maxItems)) {
    if (typeof value !== 'object' || value === null) scalars[key] = value;
  }
  return scalars;
}

function clipValue(raw: unknown, depth: number): unknown {
  const value = typeof (raw as { toJSON?: unknown } | null)?.toJSON === 'function' ? (raw as { toJSON(): unknown }).toJSON() : raw;
  if (typeof value === 'string') return clipText(value, maxStringLength);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= maxDepth) return '…';
  if (Array.isArray(value)) return value.slice(0, maxItems).map((item) => clipValue(item, depth + 1));
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value).slice(0, maxItems)) result[clipText(key, maxStringLength)] = clipValue(item, depth + 1);
  return result;
}
