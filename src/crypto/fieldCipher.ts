import { AppError } from '../errors/appError.ts';
import { open, seal } from './aesGcm.ts';
import type { SubjectKeyStore } from './subjectKeys.ts';

const prefix = 'fse1:';

/** What an encrypted field decrypts to once its subject's key is destroyed. */
export interface Erased {
  readonly erased: true;
}

export const ERASED: Erased = Object.freeze({ erased: true as const });

export function isErased(value: unknown): value is Erased {
  return typeof value === 'object' && value !== null && (value as { erased?: unknown }).erased === true && !(value instanceof Uint8Array);
}

/** True when a string looks like one of our encrypted fields. */
export function isSealedField(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(prefix);
}

/**
 * Encrypts personal fields with their subject's own data key (AES-256-GCM, random IV). `aad` is
 * the record the field belongs to (e.g. `<event id>:email`) so a ciphertext cannot be moved to
 * another record. Decrypting after the key is destroyed yields ERASED, never an exception.
 */
export interface FieldCipher {
  encryptText(subjectId: string, plaintext: string, aad: string): Promise<string>;
  encryptBytes(subjectId: string, plaintext: Uint8Array, aad: string): Promise<string>;
  decryptText(subjectId: string, sealed: string, aad: string): Promise<string | Erased>;
  decryptBytes(subjectId: string, sealed: string, aad: string): Promise<Buffer | Erased>;
  /** A text field as readers show it: null when it was never set or its subject is erased. */
  openText(subjectId: string, sealed: string | null, aad: string): Promise<string | null>;
}

/** Seals one field under a data key already at hand (what `FieldCipher` does once it has the key). */
export function sealField(key: Buffer, subjectId: string, plaintext: Buffer, aad: string): string {
  return prefix + seal(key, plaintext, `${subjectId}|${aad}`).toString('base64');
}

/**
 * Opens one sealed field under a data key already at hand, synchronously (bulk readers). Throws
 * INTERNAL_ERROR when the value is not a sealed field or fails its integrity check.
 */
export function openField(key: Buffer, subjectId: string, sealed: string, aad: string): Buffer {
  if (!isSealedField(sealed)) throw new AppError('INTERNAL_ERROR', 'field is not an encrypted value', { subjectId, aad });
  try {
    return open(key, Buffer.from(sealed.slice(prefix.length), 'base64'), `${subjectId}|${aad}`);
  } catch (error) {
    // A wrong tag is tampering or a field moved between records: never silently "erased".
    throw new AppError('INTERNAL_ERROR', 'encrypted field failed its integrity check', { subjectId, aad }, { cause: error });
  }
}

export function createFieldCipher(keys: SubjectKeyStore): FieldCipher {
  async function encrypt(subjectId: string, plaintext: Buffer, aad: string): Promise<string> {
    const { key } = await keys.getOrCreate(subjectId);
    return sealField(key, subjectId, plaintext, aad);
  }

  async function decrypt(subjectId: string, sealed: string, aad: string): Promise<Buffer | Erased> {
    if (!isSealedField(sealed)) throw new AppError('INTERNAL_ERROR', 'field is not an encrypted value', { subjectId, aad });
    const key = await keys.find(subjectId);
    if (key === 'erased' || key === undefined) return ERASED;
    return openField(key.key, subjectId, sealed, aad);
  }

  return {
    encryptText: (subjectId, plaintext, aad) => encrypt(subjectId, Buffer.from(plaintext, 'utf8'), aad),
    encryptBytes: (subjectId, plaintext, aad) => encrypt(subjectId, Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength), aad),
    async decryptText(subjectId, sealed, aad) {
      const opened = await decrypt(subjectId, sealed, aad);
      return isErased(opened) ? opened : opened.toString('utf8');
    },
    decryptBytes: decrypt,
    async openText(subjectId, sealed, aad) {
      if (sealed === null) return null;
      const opened = await decrypt(subjectId, sealed, aad);
      return isErased(opened) ? null : opened.toString('utf8');
    },
  };
}
