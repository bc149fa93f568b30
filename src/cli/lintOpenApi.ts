// `npm run lint:openapi`: writes the OpenAPI document built from the route declarations (what
// GET /v1/openapi.json serves) to a temporary file and lints it with Redocly's CLI. Redocly is a
// devDependency: this script is tooling, and nothing the service runs imports it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { openApiDocument } from '../http/routes/catalogue.ts';

const redocly = createRequire(import.meta.url).resolve('@redocly/cli/bin/cli.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facesmash-openapi-'));
const file = path.join(dir, 'openapi.json');
let status: number;
try {
  fs.writeFileSync(file, `${JSON.stringify(openApiDocument(), null, 2)}\n`);
  // Extra arguments go to `redocly lint` (e.g. `npm run lint:openapi -- --format=stylish`).
  const run = spawnSync(process.execPath, [redocly, 'lint', file, ...process.argv.slice(2)], {
    stdio: 'inherit',
    // No usage report and no update check: CI has no network to send them over.
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
  });
  if (run.error) throw run.error;
  status = run.status ?? 1;
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exitCode = status;
