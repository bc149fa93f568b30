import { createHmac, hkdfSync } from 'node:crypto';

/** Normalises an email for exact, case-insensitive lookup. */
export function normaliseEmail(email: string): string {
  return email.trim().normalize('NFC').toLowerCase();
}

/**
 * Keyed blind indexes: HMAC-SHA256 of a normalised value under a per-tenant secret derived from
 * the master key, so an exact lookup works without the plaintext ever being stored.
 */
export interface BlindIndex {
  /** The index of an email within one tenant's data set of one mode (live and test never collide). */
  email(tenantId: string, mode: string, email: string): string;
}

export function createBlindIndex(masterKey: Buffer): BlindIndex {
  const secrets = new Map<string, Buffer>();
  const secretFor = (tenantId: string): Buffer => {
    let secret = secrets.get(tenantId);
    if (!secret) {
      secret = Buffer.from(hkdfSync('sha256', masterKey, Buffer.from(tenantId, 'utf8'), 'facesmash blind index v1', 32));
      secrets.set(tenantId, secret);
    }
    return secret;
  };
  return {
    email(tenantId, mode, email) {
      return createHmac('sha256', secretFor(tenantId)).update(`email\u0000${mode}\u0000${normaliseEmail(email)}`, 'utf8').digest('base64url');
    },
  };
}
