import { readFile } from 'node:fs/promises';
import type { Context } from 'koa';
import { written } from './routes/declaration.ts';

/**
 * Writes a page or a static file (not an envelope): its type, caching, `nosniff`, and with an ETag
 * a 304 when the client's copy is current. Extra headers (a page's CSP) are set by the caller first.
 */
export function sendStatic(ctx: Context, type: string, body: string | Buffer, cacheControl: string, etag?: string): typeof written {
  ctx.type = type;
  ctx.set('Cache-Control', cacheControl);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.status = 200;
  if (etag !== undefined) {
    ctx.set('ETag', etag);
    if (ctx.fresh) {
      ctx.status = 304;
      return written;
    }
  }
  ctx.body = body;
  return written;
}

/** Reads a file once per cache: reads in flight or done, by name; a failed read is dropped, so the next request tries again. */
export function readOnce(loaded: Map<string, Promise<Buffer>>, name: string, file: string): Promise<Buffer> {
  let content = loaded.get(name);
  if (!content) {
    content = readFile(file);
    loaded.set(name, content);
    content.catch(() => loaded.delete(name));
  }
  return content;
}
