import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures (api-contract.md "Webhooks"): `X-FaceSmash-Signature` is the hex
 * HMAC-SHA256 of `<timestamp>.<raw body>` keyed with the webhook's secret, and
 * `X-FaceSmash-Timestamp` the Unix seconds it was signed at. `verifySignature` is the snippet
 * receivers copy, so it depends on node:crypto only.
 */

/** Hex HMAC-SHA256 of `${timestamp}.${rawBody}`. */
export function signPayload(secret: string, timestamp: number, rawBody: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex');
}

/**
 * True when `signature` signs this exact body at `timestamp` and the timestamp is within
 * `toleranceSeconds` of `now` (Unix seconds). Pass the body exactly as received, before parsing.
 */
export function verifySignature(
  secret: string,
  timestamp: number | string,
  rawBody: string,
  signature: string,
  { toleranceSeconds = 300, now = Math.floor(Date.now() / 1000) }: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  const ts = typeof timestamp === 'number' ? timestamp : /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : NaN;
  // Old timestamps are replays; far-future ones would stay valid for too long.
  if (!Number.isSafeInteger(ts) || Math.abs(now - ts) > toleranceSeconds) return false;
  if (typeof signature !== 'string' || !/^[0-9a-f]{64}$/i.test(signature)) return false;
  const expected = Buffer.from(signPayload(secret, ts, rawBody), 'hex');
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}
