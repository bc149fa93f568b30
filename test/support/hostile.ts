import net from 'node:net';
import type { ExecutionContext } from 'ava';
import { errorStatus, type ErrorCode } from '../../src/errors/appError.ts';
import { maxErrorBodyBytes } from '../../src/http/envelope.ts';
import { groupOf } from '../../src/http/routes/groups.ts';
import { randomVector, seededRandom } from './faces.ts';
import { startService, type RunningService } from './service.ts';

/** An HTTP answer as the hostile-input tests read it: the raw bytes of its body too. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** Sends bytes over a fresh TCP connection and parses every HTTP/1.1 answer until the server closes it (or `waitMs`). */
export function rawExchange(baseUrl: string, request: string | Buffer, options: { halfClose?: boolean; waitMs?: number; answers?: number } = {}): Promise<{ answers: RawAnswer[]; closed: boolean }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(request);
      if (options.halfClose) socket.end();
    });
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ answers: parseAnswers(Buffer.concat(chunks)), closed });
    };
    const timer = setTimeout(() => finish(false), options.waitMs ?? 5000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (options.answers !== undefined && parseAnswers(Buffer.concat(chunks)).length >= options.answers) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });
}

/** Complete answers in a byte stream (Content-Length or chunked bodies). */
export function parseAnswers(bytes: Buffer): RawAnswer[] {
  const answers: RawAnswer[] = [];
  let offset = 0;
  for (;;) {
    const end = bytes.indexOf('\r\n\r\n', offset);
    if (end === -1) return answers;
    const [statusLine, ...lines] = bytes.subarray(offset, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let bodyStart = end + 4;
    let body: Buffer;
    if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = bytes.indexOf('\r\n', bodyStart);
        if (lineEnd === -1) return answers;
        const size = parseInt(bytes.subarray(bodyStart, lineEnd).toString('latin1'), 16);
        if (bytes.length < lineEnd + 2 + size + 2) return answers;
        parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
        bodyStart = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(parts);
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (bytes.length < bodyStart + length) return answers;
      body = bytes.subarray(bodyStart, bodyStart + length);
      bodyStart += length;
    }
    answers.push({ status, headers, body });
    offset = bodyStart;
  }
}

/** Reads a fetch Response as a RawAnswer. */
export async function fetchedAnswer(response: Response): Promise<RawAnswer> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, key) => (headers[key] = value));
  return { status: response.status, headers, body: Buffer.from(await response.arrayBuffer()) };
}

/**
 * What every refusal must be: a 4xx whose code maps to that status, a small JSON body in the
 * envelope (the SDK's flat shape under /api/devportal), and X-Request-Id equal to its request id.
 * Returns the error code.
 */
export function assertRefusal(t: ExecutionContext, answer: RawAnswer, path: string): ErrorCode | undefined {
  t.true(answer.status >= 400 && answer.status < 500, `a 4xx, not ${answer.status}: ${answer.body.subarray(0, 300).toString()}`);
  t.regex(answer.headers['content-type'] ?? '', /^application\/json; charset=utf-8/, 'JSON');
  t.true(answer.body.length < maxErrorBodyBytes, `a small body (${answer.body.length} bytes)`);
  let body: any;
  try {
    body = JSON.parse(answer.body.toString('utf8'));
  } catch {
    t.fail(`the body is JSON: ${answer.body.subarray(0, 200).toString()}`);
    return undefined;
  }
  t.is(body.success, false);
  let code: unknown;
  let requestId: unknown;
  if (groupOf(path).errorShape === 'sdk') {
    t.is(typeof body.error, 'string', "the SDK's flat shape: error is the message");
    t.true(typeof body.details === 'object' && body.details !== null);
    code = body.code;
    requestId = body.requestId;
  } else {
    t.is(typeof body.error?.message, 'string', 'the envelope: error.message');
    t.true(typeof body.error?.details === 'object' && body.error.details !== null, 'the envelope: error.details');
    t.false(Number.isNaN(Date.parse(body.meta?.timestamp)), 'the envelope: meta.timestamp');
    code = body.error?.code;
    requestId = body.meta?.requestId;
  }
  t.true(typeof code === 'string' && code in errorStatus, `a known code (${String(code)})`);
  t.is<number, number>(errorStatus[code as ErrorCode], answer.status, `${String(code)} answers its own status`);
  t.regex(String(requestId), /^req_[0-9a-f]{20}$/);
  t.is<unknown, unknown>(answer.headers['x-request-id'], requestId, 'X-Request-Id is the request id');
  return code as ErrorCode;
}

/** The admin token of the hostile-input services. */
export const hostileAdminToken = 'hostile-admin-token-0123456789';

/** Ids of real resources, so hostile requests reach the code behind valid ids. */
export interface HostileTargets {
  readonly running: RunningService;
  readonly descriptor: readonly number[];
  readonly email: string;
  readonly userId: string;
  readonly templateId: string;
  readonly webhookId: string;
  readonly tenantId: string;
  readonly keyId: string;
  /** Replaces `{user}`, `{template}`, `{webhook}`, `{tenant}`, `{key}` in a path. */
  path(template: string): string;
  /** Headers for a route's kind of caller. */
  auth(kind: CallerKind): Record<string, string>;
}

/** Who calls a route: an API key (Bearer, or X-API-Key as the SDK sends it), the admin token, or nobody. */
export type CallerKind = 'key' | 'sdk' | 'admin' | 'none';

/** The face the hostile-input services register (the same every run). */
export const hostileDescriptor: readonly number[] = randomVector(seededRandom(9));

/** The service with the admin API and a user, a template, a webhook and a key to aim at. */
export async function startHostileService(): Promise<HostileTargets> {
  const running = await startService({ ADMIN_TOKEN: hostileAdminToken, WEBHOOK_ALLOW_PRIVATE: 'true' });
  const call = async (method: string, path: string, headers: Record<string, string>, body: unknown) => {
    const response = await fetch(`${running.baseUrl}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const json = (await response.json()) as { data: Record<string, any> };
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json.data;
  };
  const descriptor = hostileDescriptor;
  const email = 'hostile@example.com';
  const registered = await call('POST', '/v1/faces/register', running.auth, { email, descriptor });
  const webhook = await call('POST', '/v1/webhooks', running.auth, { url: 'http://127.0.0.1:9/hook' });
  const key = await call('POST', `/admin/tenants/${running.tenantId}/keys`, { authorization: `Bearer ${hostileAdminToken}` }, { mode: 'test', name: 'hostile' });
  const ids: Record<string, string> = { user: registered.userId, template: registered.templateId, webhook: webhook.id, tenant: running.tenantId, key: key.id };
  return {
    running,
    descriptor,
    email,
    userId: registered.userId,
    templateId: registered.templateId,
    webhookId: webhook.id,
    tenantId: running.tenantId,
    keyId: key.id,
    path: (template) => template.replace(/\{(\w+)\}/g, (_, name: string) => ids[name] ?? `{${name}}`),
    auth: (kind): Record<string, string> =>
      kind === 'key' ? { authorization: `Bearer ${running.liveKey}` } : kind === 'sdk' ? { 'x-api-key': running.liveKey } : kind === 'admin' ? { authorization: `Bearer ${hostileAdminToken}` } : {},
  };
}
