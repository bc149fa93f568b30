import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';

const templateDir = path.join(os.tmpdir(), `facesmash-pglite-template-${process.getuid?.() ?? 'u'}`);

/**
 * Creating an embedded database runs initdb (seconds of CPU); copying an initialised empty one
 * takes a fraction of that. Every test process shares one template and gets its own copy.
 */
export async function embeddedDatabaseCopy(): Promise<string> {
  templateReady ??= ensureTemplate();
  await templateReady;
  const copy = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-pglite-'));
  await fs.cp(templateDir, copy, { recursive: true });
  return copy;
}

let templateReady: Promise<void> | undefined;

async function ensureTemplate(): Promise<void> {
  try {
    await fs.access(path.join(templateDir, 'PG_VERSION'));
  } catch {
    const building = `${templateDir}.${process.pid}.${Date.now()}`;
    const pglite = new PGlite(building);
    await pglite.waitReady;
    await pglite.close();
    try {
      await fs.rename(building, templateDir);
    } catch {
      // Another test process finished its template first; use that one.
      await fs.rm(building, { recursive: true, force: true });
    }
  }
}
