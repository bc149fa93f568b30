import test from 'ava';
import type { ErrorCode } from '../src/errors/appError.ts';
import { assertRefusal, rawExchange, startHostileService, type HostileTargets } from './support/hostile.ts';

/**
 * Bytes that are not (quite) HTTP, over a raw socket: what Node's parser refuses must still be
 * answered in the envelope (the SDK's flat shape on /api/devportal), with a 4xx, a small body,
 * `Connection: close`, and nothing appended. Generated: each framing fault on several paths.
 */

let targets: HostileTargets;

test.before(async () => {
  targets = await startHostileService();
});

test.after.always(async () => {
  await targets?.running.stop();
});

interface FramingFault {
  readonly title: string;
  /** The request's bytes for a path; `auth` is the header line of a valid key. */
  readonly bytes: (path: string, auth: string) => string | Buffer;
  readonly halfClose?: boolean;
  readonly code: ErrorCode;
  /** Whether the server must close the connection after its answer. */
  readonly closes: boolean;
  /**
   * The refusal does not come with the request line (the connection ended mid-head): the server
   * cannot tell an SDK route, so it answers the envelope everywhere.
   */
  readonly targetUnknown?: boolean;
}

const host = 'Host: hostile.test\r\n';
const json = 'Content-Type: application/json\r\n';

const faults: readonly FramingFault[] = [
  { title: 'an unknown method', bytes: (p) => `FROB ${p} HTTP/1.1\r\n${host}\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'a lower-case method', bytes: (p) => `get ${p} HTTP/1.1\r\n${host}\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'a space inside the method', bytes: (p) => `G ET ${p} HTTP/1.1\r\n${host}\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'HTTP/9.9', bytes: (p) => `GET ${p} HTTP/9.9\r\n${host}\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'words after the version', bytes: (p) => `GET ${p} HTTP/1.1 please\r\n${host}\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'NUL in the target', bytes: (p) => `GET ${p}\u0000x HTTP/1.1\r\n${host}\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'a header without a colon', bytes: (p) => `GET ${p} HTTP/1.1\r\n${host}X-Broken\r\n\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'a space before the colon', bytes: (p) => `GET ${p} HTTP/1.1\r\n${host}X-Spaced : 1\r\n\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'NUL in a header value', bytes: (p) => `GET ${p} HTTP/1.1\r\n${host}X-Nul: a\u0000b\r\n\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'a bare CR in a header value', bytes: (p) => `GET ${p} HTTP/1.1\r\n${host}X-Cr: a\rb\r\n\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'Content-Length abc', bytes: (p, a) => `POST ${p} HTTP/1.1\r\n${host}${a}${json}Content-Length: abc\r\n\r\n{}`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'Content-Length -1', bytes: (p, a) => `POST ${p} HTTP/1.1\r\n${host}${a}${json}Content-Length: -1\r\n\r\n{}`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'a Content-Length past 2^64', bytes: (p, a) => `POST ${p} HTTP/1.1\r\n${host}${a}${json}Content-Length: 99999999999999999999999\r\n\r\n{}`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'two different Content-Lengths', bytes: (p, a) => `POST ${p} HTTP/1.1\r\n${host}${a}${json}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'Content-Length and chunked together', bytes: (p, a) => `POST ${p} HTTP/1.1\r\n${host}${a}${json}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'a chunk size that is not hex', bytes: (p, a) => `POST ${p} HTTP/1.1\r\n${host}${a}${json}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'a chunk without its CRLF', bytes: (p, a) => `POST ${p} HTTP/1.1\r\n${host}${a}${json}Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'a transfer coding other than chunked', bytes: (p, a) => `POST ${p} HTTP/1.1\r\n${host}${a}${json}Transfer-Encoding: gzip\r\n\r\n{}`, code: 'MALFORMED_REQUEST', closes: true },
  { title: '20 KB of chunk extensions', bytes: (p, a) => `POST ${p} HTTP/1.1\r\n${host}${a}${json}Transfer-Encoding: chunked\r\n\r\n2;${'e'.repeat(20_000)}\r\n{}\r\n0\r\n\r\n`, code: 'PAYLOAD_TOO_LARGE', closes: true },
  { title: 'no Host header', bytes: (p) => `GET ${p} HTTP/1.1\r\n\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'two Host headers', bytes: (p) => `GET ${p} HTTP/1.1\r\n${host}${host}\r\n`, code: 'MALFORMED_REQUEST', closes: true },
  { title: 'a 20 KB request line', bytes: (p) => `GET ${p}?${'q'.repeat(20_000)} HTTP/1.1\r\n${host}\r\n`, code: 'REQUEST_HEADER_FIELDS_TOO_LARGE', closes: true },
  { title: 'a 20 KB header in two packets', bytes: (p) => `GET ${p} HTTP/1.1\r\n${host}X-Big: ${'b'.repeat(20_000)}\r\n\r\n`, code: 'REQUEST_HEADER_FIELDS_TOO_LARGE', closes: true },
  {
    title: 'a body cut short, then the client closes its side',
    bytes: (p, a) => `POST ${p} HTTP/1.1\r\n${host}${a}${json}Content-Length: 100\r\n\r\n{"descriptor":[`,
    halfClose: true,
    code: 'MALFORMED_REQUEST',
    closes: true,
  },
  {
    title: 'a chunked body cut short, then the client closes its side',
    bytes: (p, a) => `POST ${p} HTTP/1.1\r\n${host}${a}${json}Transfer-Encoding: chunked\r\n\r\n10\r\n{"descr`,
    halfClose: true,
    code: 'MALFORMED_REQUEST',
    closes: true,
  },
  { title: 'headers cut short, then the client closes its side', bytes: (p) => `GET ${p} HTTP/1.1\r\n${host}X-Half: `, halfClose: true, code: 'MALFORMED_REQUEST', closes: true, targetUnknown: true },
  { title: 'TRACE', bytes: (p) => `TRACE ${p} HTTP/1.1\r\n${host}\r\n`, code: 'METHOD_NOT_ALLOWED', closes: false },
  { title: 'an unknown Expect, and a body the route refuses', bytes: (p, a) => `POST ${p} HTTP/1.1\r\n${host}${a}${json}Expect: teapot\r\nContent-Length: 2\r\n\r\n[]`, code: 'VALIDATION_ERROR', closes: false },
  { title: 'a Content-Length of 100 MB', bytes: (p, a) => `POST ${p} HTTP/1.1\r\n${host}${a}${json}Content-Length: 104857600\r\n\r\n{}`, code: 'PAYLOAD_TOO_LARGE', closes: false },
];

/** Paths of every kind: a POST route of /v1, one of the SDK (flat errors), /admin, and the health check. */
const paths: readonly { readonly path: string; readonly auth: 'key' | 'sdk' | 'admin' }[] = [
  { path: '/v1/faces/identify', auth: 'key' },
  { path: '/api/devportal/match', auth: 'sdk' },
  { path: '/admin/tenants', auth: 'admin' },
];

const cases = paths.flatMap((target) => faults.map((fault) => ({ ...fault, ...target, title: `${target.path}: ${fault.title}` })));

for (const framing of cases) {
  test.serial(framing.title, async (t) => {
    const header = Object.entries(targets.auth(framing.auth)).map(([name, value]) => `${name}: ${value}\r\n`).join('');
    const before = await targets.running.service.store.headPosition();
    const { answers, closed } = await rawExchange(targets.running.baseUrl, framing.bytes(framing.path, header), { ...(framing.halfClose ? { halfClose: true } : {}), ...(framing.closes ? {} : { answers: 1 }) });
    t.is(answers.length, 1, 'exactly one answer');
    const [answer] = answers;
    if (!answer) return;
    t.is(assertRefusal(t, answer, framing.targetUnknown ? '/' : framing.path), framing.code, answer.body.toString());
    if (framing.closes) {
      t.is(answer.headers.connection, 'close');
      t.true(closed, 'the server closes the connection');
    }
    t.is(await targets.running.service.store.headPosition(), before, 'nothing appended');
  });
}

test.serial('CONNECT is refused in the envelope, not dropped', async (t) => {
  const { answers, closed } = await rawExchange(targets.running.baseUrl, `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`);
  t.is(answers.length, 1);
  t.is(assertRefusal(t, answers[0]!, '/'), 'METHOD_NOT_ALLOWED');
  t.true(closed);
});

test.serial('a good request and a broken one pipelined: the first is answered, then the second is refused', async (t) => {
  const { answers, closed } = await rawExchange(targets.running.baseUrl, `GET /healthz HTTP/1.1\r\n${host}\r\nFROB /healthz HTTP/1.1\r\n${host}\r\n`);
  t.deepEqual(answers.map((answer) => answer.status), [200, 400]);
  t.true(JSON.parse(answers[0]!.body.toString()).success);
  t.is(assertRefusal(t, answers[1]!, '/healthz'), 'MALFORMED_REQUEST');
  t.true(closed);
});

test.serial('a request answered before its body came (401) gets no second answer when its body breaks', async (t) => {
  const { answers, closed } = await rawExchange(targets.running.baseUrl, `POST /v1/faces/identify HTTP/1.1\r\n${host}${json}Content-Length: 100\r\n\r\n{"a"`, { halfClose: true });
  t.deepEqual(answers.map((answer) => answer.status), [401]);
  t.true(closed);
});
