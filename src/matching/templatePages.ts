import { AppError, codeOf, type ErrorCode } from '../errors/appError.ts';
import { openField } from '../crypto/fieldCipher.ts';
import { unwrapSealedKeys } from '../crypto/dataKeys.ts';
import { descriptorFromBytes, descriptorLength, littleEndianHost } from '../faces/descriptor.ts';
import { aad } from '../users/userEvents.ts';
import type { GalleryKey } from './matcher.ts';

/**
 * One page of the templates read model as the matcher's load reads it: the rows of a range of the
 * table's blocks in one text value, `template_id,user_id,tenant_id,mode,descriptor_sealed` per row,
 * joined by commas (none of these holds one: ids, a mode, `fse1:` and base64), and the sealed keys
 * of the page's users (SubjectKeyStore.sealedKeys). Plain data: it is sent to a worker thread.
 */
export interface TemplatePage {
  readonly count: number;
  readonly rows: string;
  readonly keys: string;
}

/** A page opened: its ids, galleries and descriptors. */
export interface OpenedPage {
  /**
   * Pieces of the page's text, which they keep alive: copy them (as sending them between threads
   * does) before the matcher keeps them.
   */
  readonly templateIds: string[];
  readonly userIds: string[];
  /** The page's distinct galleries; row i is in galleries[galleryOf[i]]. */
  readonly galleries: GalleryKey[];
  readonly galleryOf: Uint16Array;
  /** Row i's descriptor at [128 i, 128 i + 128), when opened[i] is 1 (0: the user is erased). */
  readonly descriptors: Float32Array;
  readonly opened: Uint8Array;
  /** Thread time spent unwrapping the users' keys and opening the descriptors. */
  readonly unwrapMs: number;
  readonly openMs: number;
  /** Set instead of throwing, so that the error's code survives a thread boundary. */
  readonly failure?: { readonly code: ErrorCode; readonly message: string; readonly details: Record<string, unknown> };
}

const FIELDS = 5;

/** The distinct users of a page's rows (to read their keys). */
export function usersOf(rows: { count: number; rows: string }): string[] {
  const parts = fieldsOf(rows);
  const users = new Set<string>();
  for (let i = 1; i < parts.length; i += FIELDS) users.add(parts[i]!);
  return [...users];
}

function fieldsOf(rows: { count: number; rows: string }): string[] {
  const parts = rows.count === 0 ? [] : rows.rows.split(',');
  if (parts.length !== rows.count * FIELDS) throw new AppError('INTERNAL_ERROR', 'a templates row holds a comma in one of its fields', { rows: rows.count, fields: parts.length });
  return parts;
}


/**
 * Opens a page synchronously: unwraps its users' keys under the master key, decrypts each
 * descriptor (erased users' rows are left out, never an error). Any other failure is answered in
 * `failure`.
 */
export function openTemplatePage(masterKey: Buffer, page: TemplatePage): OpenedPage {
  const clock = () => performance.now();
  const started = clock();
  const templateIds: string[] = [];
  const userIds: string[] = [];
  const galleries: GalleryKey[] = [];
  const galleryOf = new Uint16Array(page.count);
  const descriptors = new Float32Array(page.count * descriptorLength);
  const opened = new Uint8Array(page.count);
  let unwrapMs = 0;
  try {
    const keys = unwrapSealedKeys(masterKey, page.keys);
    unwrapMs = clock() - started;
    const parts = fieldsOf(page);
    const byName = new Map<string, number>();
    const bytes = new Uint8Array(descriptors.buffer);
    for (let row = 0; row < page.count; row++) {
      const at = row * FIELDS;
      const templateId = parts[at]!;
      const userId = parts[at + 1]!;
      const mode = parts[at + 3]!;
      if (mode !== 'live' && mode !== 'test') throw new AppError('INTERNAL_ERROR', 'a template has an unknown mode', { templateId, mode });
      const name = `${mode}:${parts[at + 2]}`;
      let gallery = byName.get(name);
      if (gallery === undefined) {
        gallery = galleries.push({ tenantId: parts[at + 2]!, mode }) - 1;
        byName.set(name, gallery);
      }
      galleryOf[row] = gallery;
      templateIds.push(templateId);
      userIds.push(userId);
      const key = keys.get(userId);
      // A template of a user erased meanwhile (or never given a key) is skipped, never an error.
      if (key === undefined) continue;
      const plain = openField(key, userId, parts[at + 4]!, aad.descriptor(templateId));
      if (plain.byteLength !== descriptorLength * 4) throw new AppError('INTERNAL_ERROR', `a stored descriptor has ${plain.byteLength} bytes, expected ${descriptorLength * 4}`, { templateId });
      if (littleEndianHost) bytes.set(plain, row * descriptorLength * 4);
      else descriptors.set(descriptorFromBytes(plain), row * descriptorLength);
      opened[row] = 1;
    }
  } catch (error) {
    const code = codeOf(error);
    const failure = code
      ? { code, message: (error as AppError).message, details: { ...(error as AppError).details } }
      : { code: 'INTERNAL_ERROR' as const, message: 'opening a page of templates failed', details: { cause: String(error) } };
    return { templateIds: [], userIds: [], galleries: [], galleryOf: new Uint16Array(0), descriptors: new Float32Array(0), opened: new Uint8Array(0), unwrapMs, openMs: 0, failure };
  }
  return { templateIds, userIds, galleries, galleryOf, descriptors, opened, unwrapMs, openMs: clock() - started - unwrapMs };
}
