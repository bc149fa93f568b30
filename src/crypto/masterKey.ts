import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface MasterKeyResult {
  readonly key: Buffer;
  /** Where the key came from, for the start-up log. */
  readonly source: 'configuration' | 'data-dir' | 'generated';
  readonly file?: string;
}

/**
 * The master key wraps every data key. From configuration when given; for the embedded default it
 * is generated once into DATA_DIR/master.key (mode 0600) and read back on later starts.
 */
export async function resolveMasterKey(configured: Buffer | undefined, dataDir: string): Promise<MasterKeyResult> {
  if (configured !== undefined) return { key: configured, source: 'configuration' };
  const file = path.join(dataDir, 'master.key');
  try {
    const text = (await fs.readFile(file, 'utf8')).trim();
    const key = Buffer.from(text, 'base64');
    if (key.length !== 32) throw new Error(`${file} does not hold base64 of 32 bytes`);
    return { key, source: 'data-dir', file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await fs.mkdir(dataDir, { recursive: true });
  const key = randomBytes(32);
  // 'wx' fails if another process created it first; then we read theirs.
  try {
    await fs.writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return resolveMasterKey(undefined, dataDir);
    throw error;
  }
  return { key, source: 'generated', file };
}
