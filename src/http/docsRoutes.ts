import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { z } from 'zod';
import { AppError } from '../errors/appError.ts';
import { route, routeGroup } from './routes/declaration.ts';
import { groups } from './routes/groups.ts';
import { readOnce, sendStatic } from './staticFiles.ts';

const swaggerPackage = createRequire(import.meta.url).resolve('swagger-ui-dist/package.json');
const swaggerDir = path.dirname(swaggerPackage);
const swaggerVersion = (JSON.parse(readFileSync(swaggerPackage, 'utf8')) as { version: string }).version;

/** The only files /docs/assets serves: a fixed list, so no request path ever reaches the file system. */
const assets: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'index.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

const page = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>FaceSmash API reference</title>
    <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
    <link rel="stylesheet" href="/docs/assets/index.css">
    <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="/docs/assets/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

// validatorUrl: null — Swagger UI would otherwise send the document to validator.swagger.io.
const init = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/v1/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout'
  });
});
`;

// Swagger UI sets inline styles and uses data: images in its CSS; scripts are all files of ours.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

export interface DocsRouteDeps {
  /** Asset reads in flight or done, by file name (a failed read is dropped, so the next request tries again). */
  readonly loaded: Map<string, Promise<Buffer>>;
}

/** A fresh cache of the docs UI's assets. */
export const docsDeps = (): DocsRouteDeps => ({ loaded: new Map() });

const assetPath = z.strictObject({ file: z.string().max(100).meta({ description: 'One of the listed asset files.' }) });

/**
 * An offline API reference at `GET /docs` (Swagger UI over `/v1/openapi.json`), served from
 * swagger-ui-dist in node_modules. These answers are a page and static files, not envelopes.
 */
export const docsRoutes = routeGroup<DocsRouteDeps>(groups.docs, [
  route({
    method: 'get',
    path: '/docs',
    operationId: 'docsPage',
    summary: 'The API reference (Swagger UI)',
    description: 'An HTML page that loads only local scripts and styles (Content-Security-Policy `default-src \'self\'`).',
    tags: ['docs'],
    auth: { kind: 'open' },
    responses: [{ status: 200, description: 'The page.', contentType: 'text/html; charset=utf-8' }],
    errors: ['INTERNAL_ERROR'],
    async handle(_deps, _input, ctx) {
      ctx.set('Content-Security-Policy', contentSecurityPolicy);
      return sendStatic(ctx, 'text/html; charset=utf-8', page, 'no-cache');
    },
  }),
  route({
    method: 'get',
    path: '/docs/init.js',
    operationId: 'docsScript',
    summary: "The reference page's start-up script",
    tags: ['docs'],
    auth: { kind: 'open' },
    undocumented: true,
    responses: [{ status: 200, description: 'The script.', contentType: 'text/javascript; charset=utf-8' }],
    errors: ['INTERNAL_ERROR'],
    async handle(_deps, _input, ctx) {
      return sendStatic(ctx, 'text/javascript; charset=utf-8', init, 'no-cache');
    },
  }),
  route({
    method: 'get',
    path: '/docs/assets/{file}',
    operationId: 'docsAsset',
    summary: "The reference page's styles, scripts and icons",
    tags: ['docs'],
    auth: { kind: 'open' },
    params: assetPath,
    undocumented: true,
    responses: [{ status: 200, description: 'The file (or 304 when the ETag matches).', contentType: 'application/octet-stream' }],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', 'INTERNAL_ERROR'],
    async handle(deps, { params }, ctx) {
      const { file } = params;
      const type = Object.hasOwn(assets, file) ? assets[file] : undefined;
      if (type === undefined) throw new AppError('NOT_FOUND', 'no such documentation asset', { file });
      return sendStatic(ctx, type, await readOnce(deps.loaded, file, path.join(swaggerDir, file)), 'public, max-age=86400', `"swagger-ui-dist-${swaggerVersion}-${file}"`);
    },
  }),
]);
