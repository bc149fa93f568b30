import { isUtf8 } from 'node:buffer';
import type { Context } from 'koa';
import { AppError } from '../errors/appError.ts';
import { clipText } from './clientText.ts';
import { guardInput, maxInputDepth } from './inputGuard.ts';

export const descriptorBodyLimit = 1024 * 1024;
export const imageBodyLimit = 8 * 1024 * 1024;

/**
 * Reads a JSON request body with a byte limit: 415 for another media type or a content coding,
 * 413 past the limit (checked on Content-Length first, then while streaming), 400 for bytes that
 * are not UTF-8, JSON nested deeper than `maxInputDepth` (refused before parsing: a megabyte of
 * `[` would hold the event loop for a while), malformed JSON, and text `guardInput` refuses.
 */
export async function readJsonBody(ctx: Context, limitBytes: number): Promise<{ value: unknown; bytes: number }> {
  const type = ctx.request.type;
  const length = ctx.request.length;
  if (length === 0 || (length === undefined && !ctx.req.headers['transfer-encoding'])) {
    throw new AppError('VALIDATION_ERROR', 'request body is required (JSON)', { field: 'body' });
  }
  if (type !== 'application/json' && !type.endsWith('+json')) {
    const shown = clipText(type, 100);
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json, got ${shown || 'none'}`, { contentType: shown });
  }
  const coding = ctx.get('Content-Encoding').trim().toLowerCase();
  if (coding !== '' && coding !== 'identity') {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Content-Encoding is not supported: send the JSON uncompressed', { contentEncoding: clipText(coding, 100) });
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
  const bytes = Buffer.concat(chunks);
  if (!isUtf8(bytes)) throw new AppError('VALIDATION_ERROR', 'request body is not valid UTF-8', { field: 'body' });
  const text = bytes.toString('utf8');
  if (nestsDeeperThan(text, maxInputDepth)) {
    throw new AppError('VALIDATION_ERROR', `body: nests deeper than ${maxInputDepth} levels`, { field: 'body', in: 'body' });
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new AppError('VALIDATION_ERROR', `request body is not valid JSON: ${clipText((error as Error).message, 200)}`, { field: 'body' });
  }
  guardInput(value, 'body');
  return { value, bytes: size };
}

function tooLarge(limitBytes: number): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `request body is larger than ${limitBytes} bytes`, { limitBytes });
}

/**
 * True as soon as the brackets of JSON text (outside strings) open more than `limit` levels. Strings
 * are skipped with indexOf, so a large image costs little. Malformed text is left to JSON.parse.
 */
function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x22) {
      let end = text.indexOf('"', i + 1);
      while (end !== -1 && escaped(text, end)) end = text.indexOf('"', end + 1);
      if (end === -1) return false;
      i = end;
    } else if (code === 0x5b || code === 0x7b) {
      if (++depth > limit) return true;
    } else if (code === 0x5d || code === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** A quote is escaped when an odd number of backslashes precede it. */
function escaped(text: string, quote: number): boolean {
  let slashes = 0;
  for (let i = quote - 1; i >= 0 && text.charCodeAt(i) === 0x5c; i--) slashes++;
  return slashes % 2 === 1;
}
