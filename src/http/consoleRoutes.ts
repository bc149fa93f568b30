import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'koa';
import { z } from 'zod';
import { AppError } from '../errors/appError.ts';
import { route, routeGroup, written } from './routes/declaration.ts';
import { groups } from './routes/groups.ts';
import { readOnce, sendStatic } from './staticFiles.ts';

const consoleDir = fileURLToPath(new URL('../console/', import.meta.url));
const uplotPackage = createRequire(import.meta.url).resolve('uplot/package.json');
const uplotDir = path.join(path.dirname(uplotPackage), 'dist');
const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const uplotVersion = (JSON.parse(readFileSync(uplotPackage, 'utf8')) as { version: string }).version;

const types: Readonly<Record<string, string>> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

/**
 * The only files /console/assets serves, by name: the console's own scripts and styles (read from
 * src/console once, at start) and uPlot's ES module and styles from node_modules. A request path
 * never reaches the file system.
 */
const assets: ReadonlyMap<string, { readonly file: string; readonly type: string; readonly etag: string }> = new Map([
  ...readdirSync(consoleDir)
    .filter((name) => Object.hasOwn(types, path.extname(name)))
    .map((name) => [name, { file: path.join(consoleDir, name), type: types[path.extname(name)]!, etag: `"console-${packageVersion}-${name}"` }] as const),
  ['uPlot.esm.js', { file: path.join(uplotDir, 'uPlot.esm.js'), type: types['.js']!, etag: `"uplot-${uplotVersion}-esm"` }],
  ['uPlot.min.css', { file: path.join(uplotDir, 'uPlot.min.css'), type: types['.css']!, etag: `"uplot-${uplotVersion}-css"` }],
]);

/**
 * Only files of ours run: no inline script, no inline style, no other origin. Images may be
 * `data:` and `blob:` URLs (the photo dropped on the detect page is drawn from one).
 */
export const consoleContentSecurityPolicy =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The console's answers: a static file with the console's CSP and no referrer. */
function send(ctx: Context, type: string, body: string | Buffer, cacheControl: string, etag?: string): typeof written {
  ctx.set('Content-Security-Policy', consoleContentSecurityPolicy);
  ctx.set('Referrer-Policy', 'no-referrer');
  return sendStatic(ctx, type, body, cacheControl, etag);
}

export interface ConsoleRouteDeps {
  /** Asset reads in flight or done, by name (a failed read is dropped, so the next request tries again). */
  readonly loaded: Map<string, Promise<Buffer>>;
}

/** A fresh cache of the console's assets. */
export const consoleDeps = (): ConsoleRouteDeps => ({ loaded: new Map() });

const assetPath = z.strictObject({ file: z.string().max(100).meta({ description: 'One of the console\'s asset files.' }) });

/**
 * The operator console at `GET /console`: a page of plain ES modules that calls the API routes
 * with the secret the operator signs in with (ADMIN_TOKEN or an API key, held in sessionStorage).
 * These answers are a page and static files, not envelopes.
 */
export const consoleRoutes = routeGroup<ConsoleRouteDeps>(groups.console, [
  route({
    method: 'get',
    path: '/console',
    operationId: 'consolePage',
    summary: 'The operator console',
    description: "An HTML page that loads only the console's own scripts and styles (Content-Security-Policy `default-src 'self'`, no inline script). It signs in with ADMIN_TOKEN or an API key and calls the API routes.",
    tags: ['console'],
    auth: { kind: 'open' },
    responses: [{ status: 200, description: 'The page.', contentType: 'text/html; charset=utf-8' }],
    errors: ['INTERNAL_ERROR'],
    async handle(deps, _input, ctx) {
      return send(ctx, 'text/html; charset=utf-8', await readOnce(deps.loaded, 'index.html', path.join(consoleDir, 'index.html')), 'no-cache');
    },
  }),
  route({
    method: 'get',
    path: '/console/assets/{file}',
    operationId: 'consoleAsset',
    summary: "The console's scripts and styles",
    tags: ['console'],
    auth: { kind: 'open' },
    params: assetPath,
    undocumented: true,
    responses: [{ status: 200, description: 'The file (or 304 when the ETag matches).', contentType: 'application/octet-stream' }],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR'],
    async handle(deps, { params }, ctx) {
      const asset = assets.get(params.file);
      if (!asset) throw new AppError('NOT_FOUND', 'no such console asset', { file: params.file });
      // no-cache: revalidated each load (a 304 while the version is the same), so an upgrade shows at once.
      return send(ctx, asset.type, await readOnce(deps.loaded, params.file, asset.file), 'no-cache', asset.etag);
    },
  }),
]);

/** `GET /`: the console. */
export const rootRoutes = routeGroup<undefined>(groups.service, [
  route({
    method: 'get',
    path: '/',
    operationId: 'rootRedirect',
    summary: 'Redirects to the operator console',
    tags: ['console'],
    auth: { kind: 'open' },
    undocumented: true,
    responses: [{ status: 302, description: 'To `/console`.', contentType: 'text/plain; charset=utf-8' }],
    errors: ['INTERNAL_ERROR'],
    async handle(_deps, _input, ctx) {
      ctx.redirect('/console');
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = 'Redirecting to /console';
      return written;
    },
  }),
]);
