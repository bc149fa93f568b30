import fs from 'node:fs/promises';
import path from 'node:path';

/** Bytes a leak would show, with what they are. */
export interface Needle {
  readonly what: string;
  readonly bytes: Buffer;
}

/** Every regular file below `dir` (links are not followed). */
export async function* filesUnder(dir: string): AsyncGenerator<string> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(full);
    else if (entry.isFile()) yield full;
  }
}

/** Which needles occur in which files; throws if nothing at all could be read (a search of nothing proves nothing). */
export async function findNeedles(paths: AsyncIterable<string> | Iterable<string>, needles: readonly Needle[]): Promise<string[]> {
  const found: string[] = [];
  let scanned = 0;
  for await (const file of paths) {
    const content = await fs.readFile(file).catch(() => undefined);
    if (!content) continue;
    scanned += content.length;
    for (const needle of needles) if (content.includes(needle.bytes)) found.push(`${needle.what} in ${file}`);
  }
  if (scanned === 0) throw new Error('nothing was scanned');
  return found;
}
