import test from 'ava';
import Koa from 'koa';
import { loadConfig } from '../src/config/config.ts';
import { createHttpServer } from '../src/http/httpServer.ts';
import { assertRefusal, rawExchange } from './support/hostile.ts';
import { startService, type RunningService } from './support/service.ts';

/**
 * A slow client cannot hold a connection: the request line and headers must come within
 * HTTP_HEADERS_TIMEOUT_MS and the whole request within HTTP_REQUEST_TIMEOUT_MS, or the server
 * answers 408 REQUEST_TIMEOUT in the envelope and closes. (Node's defaults would wait 60 s for
 * headers and 300 s for a body; the 20 s bound below is far past these settings and far short of those.)
 */

let running: RunningService;
const bound = 20_000;

test.before(async () => {
  running = await startService({ HTTP_HEADERS_TIMEOUT_MS: '400', HTTP_REQUEST_TIMEOUT_MS: '800', HTTP_KEEP_ALIVE_TIMEOUT_MS: '300' });
});

test.after.always(async () => {
  await running?.stop();
});

const host = 'Host: timeouts.test\r\n';

test.serial('a body that never finishes is answered 408 and the connection closed', async (t) => {
  const before = await running.service.store.headPosition();
  const { answers, closed } = await rawExchange(
    running.baseUrl,
    `POST /v1/faces/identify HTTP/1.1\r\n${host}Authorization: Bearer ${running.liveKey}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"descriptor":[0.1,`,
    { waitMs: bound },
  );
  t.true(closed, 'closed by the server');
  t.is(answers.length, 1);
  t.is(assertRefusal(t, answers[0]!, '/v1/faces/identify'), 'REQUEST_TIMEOUT');
  t.is(answers[0]!.headers.connection, 'close');
  t.is(await running.service.store.headPosition(), before);
});

test.serial('headers that never finish are answered 408 and the connection closed', async (t) => {
  const { answers, closed } = await rawExchange(running.baseUrl, `GET /v1/users HTTP/1.1\r\n${host}X-Slow: `, { waitMs: bound });
  t.true(closed);
  t.is(answers.length, 1);
  t.is(assertRefusal(t, answers[0]!, '/v1/users'), 'REQUEST_TIMEOUT');
});

test.serial("an SDK request whose body never finishes gets the SDK's flat 408", async (t) => {
  const { answers, closed } = await rawExchange(
    running.baseUrl,
    `POST /api/devportal/match HTTP/1.1\r\n${host}X-API-Key: ${running.liveKey}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"descriptor":[`,
    { waitMs: bound },
  );
  t.true(closed);
  t.is(answers.length, 1);
  t.is(assertRefusal(t, answers[0]!, '/api/devportal/match'), 'REQUEST_TIMEOUT');
});

test.serial('a connection that sends nothing is closed', async (t) => {
  const { closed } = await rawExchange(running.baseUrl, '', { waitMs: bound });
  t.true(closed);
});

test.serial('an idle kept-alive connection is closed after its first answer', async (t) => {
  const { answers, closed } = await rawExchange(running.baseUrl, `GET /healthz HTTP/1.1\r\n${host}\r\n`, { waitMs: bound });
  t.deepEqual(answers.map((answer) => answer.status), [200]);
  t.regex(answers[0]!.headers['keep-alive'] ?? '', /timeout=0/, 'Keep-Alive advertises the 300 ms (rounded down to seconds)');
  t.true(closed);
});

test('the server takes every limit from the configuration', async (t) => {
  const config = loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '1234', HTTP_REQUEST_TIMEOUT_MS: '5678', HTTP_KEEP_ALIVE_TIMEOUT_MS: '910', HTTP_MAX_HEADER_BYTES: '4096' });
  const server = createHttpServer(new Koa(), config.http);
  t.is(server.headersTimeout, 1234);
  t.is(server.requestTimeout, 5678);
  t.is(server.keepAliveTimeout, 910);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const address = server.address() as { port: number };
    const { answers } = await rawExchange(`http://127.0.0.1:${address.port}`, `GET / HTTP/1.1\r\n${host}X-Pad: ${'p'.repeat(5000)}\r\n\r\n`);
    t.is(assertRefusal(t, answers[0]!, '/'), 'REQUEST_HEADER_FIELDS_TOO_LARGE');
    t.regex(answers[0]!.body.toString(), /larger than 4096 bytes/);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('the defaults bound a slow client to seconds, not minutes', (t) => {
  const { http } = loadConfig({});
  t.deepEqual(http, { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, maxHeaderBytes: 16_384 });
});

test('the header timeout may not exceed the request timeout, and the message names the variable', (t) => {
  const error = t.throws(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '60000', HTTP_REQUEST_TIMEOUT_MS: '30000' }));
  t.regex(error.message, /HTTP_HEADERS_TIMEOUT_MS: must not be larger than HTTP_REQUEST_TIMEOUT_MS/);
  t.regex(t.throws(() => loadConfig({ HTTP_MAX_HEADER_BYTES: '10' })).message, /HTTP_MAX_HEADER_BYTES: must be at least 1024/);
  t.regex(t.throws(() => loadConfig({ HTTP_REQUEST_TIMEOUT_MS: '0' })).message, /HTTP_REQUEST_TIMEOUT_MS: must be greater than 0/);
});
