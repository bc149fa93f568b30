import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Mode } from './tenantEvents.ts';

const keyShape = /^fs_(live|test)_[A-Za-z0-9_-]{43}$/;

/** A new API key: `fs_live_`/`fs_test_` and 32 random bytes (base64url). */
export function generateApiKey(mode: Mode): string {
  return `fs_${mode}_${randomBytes(32).toString('base64url')}`;
}

/** The mode a key claims, or undefined when the text is not shaped like one of our keys. */
export function modeOfKey(key: string): Mode | undefined {
  const match = keyShape.exec(key);
  return match ? (match[1] as Mode) : undefined;
}

/** What people see of a key after creation: enough to recognise it, never enough to use it. */
export function displayPrefix(key: string): string {
  return key.slice(0, 12);
}

/**
 * Keys are stored only as a keyed hash (HMAC-SHA256 under a secret derived from the master key):
 * a leaked database alone cannot even confirm a guessed key.
 */
export interface KeyHasher {
  hash(key: string): string;
  /** Constant-time comparison of two hashes. */
  matches(hash: string, expected: string): boolean;
}

export function createKeyHasher(masterKey: Buffer): KeyHasher {
  const secret = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'facesmash api key hash v1', 32));
  return {
    hash: (key) => createHmac('sha256', secret).update(key, 'utf8').digest('base64url'),
    matches(hash, expected) {
      const a = Buffer.from(hash);
      const b = Buffer.from(expected);
      return a.length === b.length && timingSafeEqual(a, b);
    },
  };
}
