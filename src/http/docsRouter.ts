import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import Router from '@koa/router';
import type { Context } from 'koa';
import { AppError } from '../errors/appError.ts';
import { buildOpenApiDocument } from './openapi.ts';

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

/**
 * `GET /v1/openapi.json` (built once, here) and an offline API reference at `GET /docs`, served from
 * swagger-ui-dist in node_modules. These answers are a document and static files, not envelopes.
 */
export function docsRouter(): Router {
  const document = JSON.stringify(buildOpenApiDocument());
  const loaded = new Map<string, Promise<Buffer>>();
  const router = new Router();

  function send(ctx: Context, type: string, body: string | Buffer, cacheControl: string, etag?: string): void {
    ctx.type = type;
    ctx.set('Cache-Control', cacheControl);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.status = 200;
    if (etag !== undefined) {
      ctx.set('ETag', etag);
      if (ctx.fresh) {
        ctx.status = 304;
        return;
      }
    }
    ctx.body = body;
  }

  router.get('/v1/openapi.json', (ctx) => send(ctx, 'application/json; charset=utf-8', document, 'no-cache'));

  router.get('/docs', (ctx) => {
    ctx.set('Content-Security-Policy', contentSecurityPolicy);
    send(ctx, 'text/html; charset=utf-8', page, 'no-cache');
  });

  router.get('/docs/init.js', (ctx) => send(ctx, 'text/javascript; charset=utf-8', init, 'no-cache'));

  router.get('/docs/assets/:file', async (ctx) => {
    const file = ctx.params.file ?? '';
    const type = Object.hasOwn(assets, file) ? assets[file] : undefined;
    if (type === undefined) throw new AppError('NOT_FOUND', 'no such documentation asset', { file });
    let content = loaded.get(file);
    if (!content) {
      content = readFile(path.join(swaggerDir, file));
      loaded.set(file, content);
      // A failed read is not cached: the next request tries again.
      content.catch(() => loaded.delete(file));
    }
    send(ctx, type, await content, 'public, max-age=86400', `"swagger-ui-dist-${swaggerVersion}-${file}"`);
  });

  return router;
}
