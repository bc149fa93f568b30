import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { codeOf } from '../errors/appError.ts';
import { assertDeliverableUrl, guardedLookup, type Resolver } from './addressPolicy.ts';
import type { WebhookBody } from './payload.ts';
import { signatureHeaders } from './signature.ts';

export interface DeliverOptions {
  readonly url: string;
  readonly secret: string;
  /** The body; an object is serialised once and that exact text is signed and sent. */
  readonly body: string | WebhookBody;
  /** The whole attempt (DNS, connect, TLS, answer) must fit in this; the contract says 10 s. */
  readonly timeoutMs?: number;
  /** WEBHOOK_ALLOW_PRIVATE: skip the address policy (tests, on-premise receivers). */
  readonly allowPrivate: boolean;
  readonly now?: () => Date;
  /** Injected in tests; defaults to the system resolver. Used for the URL check and at connect time. */
  readonly resolve?: Resolver;
  /** Bytes of the answer read (and discarded) before the connection is dropped. */
  readonly maxResponseBytes?: number;
  /** Abandons the attempt (the service is stopping); the result then reads as a timeout. */
  readonly signal?: AbortSignal;
}

/** One attempt's outcome. `ok` is a 2xx answer within the timeout. */
export interface DeliveryResult {
  readonly ok: boolean;
  readonly status?: number;
  readonly error?: string;
  readonly durationMs: number;
}

export const userAgent = 'FaceSmash-Webhooks/1';

/**
 * POSTs one signed webhook body. Never throws: every failure (refused address, DNS, connect,
 * TLS, timeout, non-2xx, redirect) is a result with `ok: false`, because a receiver's fault must
 * not take the delivery loop down. Redirects are never followed (a 3xx is a failure), and the
 * address policy is enforced again when the socket connects, so DNS rebinding cannot reach an
 * internal address.
 */
export async function deliver(options: DeliverOptions): Promise<DeliveryResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const abandon = () => controller.abort();
  options.signal?.addEventListener('abort', abandon, { once: true });
  if (options.signal?.aborted) controller.abort();
  const timedOut = () => ({ ok: false, error: `no answer within ${timeoutMs} ms`, durationMs: elapsed() });
  try {
    const policy = { allowPrivate: options.allowPrivate, ...(options.resolve ? { resolve: options.resolve } : {}) };
    const checked = await Promise.race([assertDeliverableUrl(options.url, policy), aborted(controller.signal)]);
    if (checked === 'aborted') return timedOut();
    const rawBody = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    const timestamp = Math.floor((options.now?.() ?? new Date()).getTime() / 1000);
    const answer = await post(checked, {
      rawBody,
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': userAgent,
        ...signatureHeaders(options.secret, timestamp, rawBody),
      },
      signal: controller.signal,
      lookup: options.allowPrivate ? (options.resolve ? guardedLookup(policy) : undefined) : guardedLookup(policy),
      maxResponseBytes: options.maxResponseBytes ?? 4096,
    });
    if (controller.signal.aborted && answer.status === undefined) return timedOut();
    if (answer.status === undefined) return { ok: false, error: answer.error ?? 'request failed', durationMs: elapsed() };
    const status = answer.status;
    if (status >= 200 && status < 300) return { ok: true, status, durationMs: elapsed() };
    const error = status >= 300 && status < 400 ? `redirect (HTTP ${status}) not followed` : `HTTP ${status}`;
    return { ok: false, status, error, durationMs: elapsed() };
  } catch (error) {
    if (controller.signal.aborted) return timedOut();
    return { ok: false, error: describe(error), durationMs: elapsed() };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', abandon);
  }
}

function aborted(signal: AbortSignal): Promise<'aborted'> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve('aborted');
    else signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    // Our own errors (the address policy) read as they are; system ones keep their code (ECONNREFUSED).
    return typeof code === 'string' && codeOf(error) === undefined && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

interface PostOptions {
  readonly rawBody: string;
  readonly headers: Record<string, string>;
  readonly signal: AbortSignal;
  readonly lookup: ReturnType<typeof guardedLookup> | undefined;
  readonly maxResponseBytes: number;
}

/** Resolves with the status once the answer's head arrives, or with an error; never rejects. */
function post(url: URL, options: PostOptions): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    const client = url.protocol === 'https:' ? https : http;
    const body = Buffer.from(options.rawBody, 'utf8');
    let settled = false;
    const settle = (value: { status?: number; error?: string }) => {
      if (!settled) {
        settled = true;
        resolve(value);
      }
    };
    const request = client.request(url, {
      method: 'POST',
      headers: { ...options.headers, 'Content-Length': String(body.byteLength) },
      // A fresh connection per attempt: a pooled socket would skip the connect-time address check.
      agent: false,
      signal: options.signal,
      ...(options.lookup ? { lookup: options.lookup } : {}),
    });
    request.on('error', (error) => settle({ error: describe(error) }));
    request.on('response', (response) => {
      settle({ status: response.statusCode ?? 0 });
      // The answer's body is read up to the cap and discarded; then the connection is dropped.
      // A receiver that trickles a body forever must not hold the socket: it gets a short grace.
      const drain = setTimeout(() => request.destroy(), 1000);
      drain.unref();
      request.on('close', () => clearTimeout(drain));
      let read = 0;
      response.on('data', (chunk: Buffer) => {
        read += chunk.byteLength;
        if (read >= options.maxResponseBytes) request.destroy();
      });
      response.on('end', () => request.destroy());
      response.on('error', () => {});
      response.on('aborted', () => {});
    });
    request.end(body);
  });
}
