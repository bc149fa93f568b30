import { createCipheriv, createDecipheriv } from 'node:crypto';

// The sealed chunks of a gallery image (see galleryImage.ts): its cryptography, apart from its layout.

const IV_BYTES = 12;
export const TAG_BYTES = 16;

/** Chunk i's nonce: the image's key is used for this image only, so a counter never repeats. */
function ivOf(index: number): Buffer {
  const iv = Buffer.alloc(IV_BYTES);
  iv.writeUInt32BE(index, IV_BYTES - 4);
  return iv;
}

/** Binds a chunk to its image, its place and the image's position, so chunks cannot be moved, dropped or replayed. */
function aadOf(header: Uint8Array, index: number): Buffer {
  const at = Buffer.alloc(4);
  at.writeUInt32BE(index);
  return Buffer.concat([header, at]);
}

/** A chunk as written: its length and tag, then its ciphertext (two buffers, so that the ciphertext is not copied). */
export function sealChunk(key: Uint8Array, header: Uint8Array, index: number, plain: Uint8Array): [Buffer, Buffer] {
  const cipher = createCipheriv('aes-256-gcm', key, ivOf(index));
  cipher.setAAD(aadOf(header, index));
  const body = cipher.update(plain);
  // GCM's final() computes the tag and adds no bytes.
  if (cipher.final().length !== 0) throw new Error('unexpected bytes at the end of a chunk');
  const framed = Buffer.alloc(4 + TAG_BYTES);
  framed.writeUInt32LE(TAG_BYTES + body.length, 0);
  cipher.getAuthTag().copy(framed, 4);
  return [framed, body];
}

/** The plaintext of chunk `index` (`sealed`: its tag and ciphertext, what follows its length), or undefined when it fails its integrity check. */
export function openChunk(key: Uint8Array, header: Uint8Array, index: number, sealed: Uint8Array): Buffer | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, ivOf(index));
    decipher.setAAD(aadOf(header, index));
    decipher.setAuthTag(sealed.subarray(0, TAG_BYTES));
    const plain = decipher.update(sealed.subarray(TAG_BYTES));
    // GCM's final() checks the tag and adds no bytes, so the update's buffer is the whole plaintext.
    if (decipher.final().length !== 0) return undefined;
    return plain;
  } catch {
    return undefined;
  }
}
