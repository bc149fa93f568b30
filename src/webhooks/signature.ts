import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures (api-contract.md "Webhooks"). Every delivery carries:
 * - `X-FaceSmash-Signature`: hex HMAC-SHA256 of the raw body, keyed with the webhook's secret —
 *   what the FaceSmash docs' verification code computes (over `JSON.stringify(req.body)`, which
 *   equals the raw body: we send compact JSON.stringify output);
 * - `X-FaceSmash-Timestamp`: the Unix seconds it was signed at;
 * - `X-FaceSmash-Signature-256: t=<timestamp>,v1=<hex>`: HMAC-SHA256 of `<timestamp>.<raw body>`,
 *   the replay-safe scheme (`verifySignature`): a captured delivery cannot be replayed later.
 * The verifiers here are the snippets receivers copy, so they depend on node:crypto only.
 */

export const signatureHeader = 'X-FaceSmash-Signature';
export const timestampHeader = 'X-FaceSmash-Timestamp';
export const timestampedSignatureHeader = 'X-FaceSmash-Signature-256';

/** Hex HMAC-SHA256 of the raw body (`X-FaceSmash-Signature`). */
export function signBody(secret: string, rawBody: string): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

/** Hex HMAC-SHA256 of `${timestamp}.${rawBody}` (the `v1` of `X-FaceSmash-Signature-256`). */
export function signPayload(secret: string, timestamp: number, rawBody: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex');
}

/** The headers that sign one delivery. */
export function signatureHeaders(secret: string, timestamp: number, rawBody: string): Record<string, string> {
  return {
    [signatureHeader]: signBody(secret, rawBody),
    [timestampHeader]: String(timestamp),
    [timestampedSignatureHeader]: `t=${timestamp},v1=${signPayload(secret, timestamp, rawBody)}`,
  };
}

/**
 * The recommended check: true when `header` (the value of X-FaceSmash-Signature-256) signs this
 * exact body and its timestamp is within `toleranceSeconds` of `now` (Unix seconds). Pass the body
 * exactly as received, before parsing; also drop a repeated body `id`.
 */
export function verifyTimestampedSignature(
  secret: string,
  header: string,
  rawBody: string,
  { toleranceSeconds = 300, now = Math.floor(Date.now() / 1000) }: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  const parts = Object.fromEntries(
    String(header)
      .split(',')
      .map((part) => part.trim().split('=', 2) as [string, string | undefined]),
  );
  return verifySignature(secret, parts.t ?? '', rawBody, parts.v1 ?? '', { toleranceSeconds, now });
}

/**
 * True when `signature` (the v1 hex) signs this exact body at `timestamp` and the timestamp is
 * within `toleranceSeconds` of `now` (Unix seconds).
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
