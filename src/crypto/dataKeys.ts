import { AppError } from '../errors/appError.ts';
import { open, seal } from './aesGcm.ts';

// The wrapped form of subjects' data keys (crypto.subject_keys.wrapped_key), apart from the key
// store so that worker threads can open keys without loading the database layer.

const wrapAad = (subjectId: string, keyId: string) => `subject-key:${subjectId}:${keyId}`;

/** Seals a data key under the master key, bound to its subject and key id: the stored `wrapped_key`. */
export function wrapDataKey(masterKey: Buffer, subjectId: string, keyId: string, key: Buffer): Buffer {
  return seal(masterKey, key, wrapAad(subjectId, keyId));
}

/** Opens a stored `wrapped_key`; throws when the master key, the subject, the key id or any byte is wrong. */
export function unwrapDataKey(masterKey: Buffer, subjectId: string, keyId: string, wrapped: Uint8Array): Buffer {
  return open(masterKey, Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength), wrapAad(subjectId, keyId));
}

/**
 * Unwraps what `sealedKeys` answered (`<subject>,<key id>,<wrapped key in hex>`, joined by commas;
 * the hex is empty for a destroyed key): subject → data key, destroyed keys left out. Throws
 * INTERNAL_ERROR naming the subject when a key fails its integrity check (another master key?).
 */
export function unwrapSealedKeys(masterKey: Buffer, sealedKeys: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  if (sealedKeys === '') return keys;
  const parts = sealedKeys.split(',');
  if (parts.length % 3 !== 0) throw new AppError('INTERNAL_ERROR', 'sealed keys are not in threes (subject, key id, wrapped key)', { parts: parts.length });
  for (let i = 0; i < parts.length; i += 3) {
    const subjectId = parts[i]!;
    if (parts[i + 2] === '') continue;
    try {
      keys.set(subjectId, unwrapDataKey(masterKey, subjectId, parts[i + 1]!, Buffer.from(parts[i + 2]!, 'hex')));
    } catch (error) {
      throw new AppError('INTERNAL_ERROR', 'a data key failed its integrity check (was it wrapped under another master key?)', { subjectId }, { cause: error });
    }
  }
  return keys;
}
