import type { Context } from 'koa';
import { AppError } from '../errors/appError.ts';

export const descriptorBodyLimit = 1024 * 1024;
export const imageBodyLimit = 8 * 1024 * 1024;

/**
 * Reads a JSON request body with a byte limit: 415 for another media type, 413 past the limit
 * (checked on Content-Length first, then while streaming), 400 for malformed JSON.
 */
export async function readJsonBody(ctx: Context, limitBytes: number): Promise<{ value: unknown; bytes: number }> {
  const type = ctx.request.type;
  const length = ctx.request.length;
  if (length === 0 || (length === undefined && !ctx.req.headers['transfer-encoding'])) {
    throw new AppError('VALIDATION_ERROR', 'request body is required (JSON)', { field: 'body' });
  }
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json, got ${type || 'none'}`, { contentType: type });
  }
  if (length !== undefined && length > limitBytes) throw tooLarge(limitBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limitBytes) {
      ctx.req.unpipe();
      ctx.req.resume();
      throw tooLarge(limitBytes);
    }
    chunks.push(buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return { value: JSON.parse(text) as unknown, bytes: size };
  } catch (error) {
    throw new AppError('VALIDATION_ERROR', `request body is not valid JSON: ${(error as Error).message}`, { field: 'body' });
  }
}

function tooLarge(limitBytes: number): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `request body is larger than ${limitBytes} bytes`, { limitBytes });
}
