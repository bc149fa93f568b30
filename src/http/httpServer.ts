import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type Koa from 'koa';
import type { ErrorCode } from '../errors/appError.ts';
import { statusOf } from '../errors/appError.ts';
import { errorBody } from './envelope.ts';
import { groupOf } from './routes/groups.ts';
import { newRequestId } from './requestId.ts';

/** The HTTP server's limits (config.ts: HTTP_*). */
export interface HttpServerSettings {
  /** A client must send the request line and headers within this. */
  readonly headersTimeoutMs: number;
  /** A client must send the whole request, body included, within this (from its first byte). */
  readonly requestTimeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** Request line plus headers; larger is 431. */
  readonly maxHeaderBytes: number;
}

/** How long a socket we answered and ended may still drain what the client was sending. */
const lingerMs = 1000;

/**
 * The node:http server of the Koa app. It bounds how long a client may take to send a request, and
 * answers what Node's HTTP parser refuses (oversized headers or URL, malformed framing, a request
 * that never finished) with the JSON envelope instead of Node's bare status lines, on a connection
 * it then closes.
 */
export function createHttpServer(app: Pick<Koa, 'callback'>, settings: HttpServerSettings): Server {
  const handle = app.callback();
  // The last request and response of each connection: the parser's error may concern bytes of a
  // request that was already answered (a 401 before its body came), and a second answer would corrupt it.
  const exchanges = new WeakMap<Duplex, { readonly req: IncomingMessage; readonly res: ServerResponse }>();
  const answered = new WeakSet<Duplex>();

  const server = http.createServer(
    {
      headersTimeout: settings.headersTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      keepAliveTimeout: settings.keepAliveTimeoutMs,
      maxHeaderSize: settings.maxHeaderBytes,
      // Node checks the two timeouts on this interval, so it bounds how late they fire.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(settings.headersTimeoutMs / 4))),
      // Node would answer a missing Host with a bare 400; the listener below answers it in the envelope.
      requireHostHeader: false,
    },
    (req: IncomingMessage, res: ServerResponse) => {
      exchanges.set(req.socket, { req, res });
      const hosts = hostHeaders(req.rawHeaders);
      // RFC 9112 §3.2: a request without Host (HTTP/1.1), or with several, is answered 400.
      if ((req.httpVersion === '1.1' && hosts === 0) || hosts > 1) {
        const message = hosts > 1 ? 'send one Host header, not several' : 'the Host header is required (HTTP/1.1)';
        const { status, text, requestId } = errorResponse(req.url ?? '/', 'MALFORMED_REQUEST', message, { field: 'Host', in: 'header' });
        res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'X-Request-Id': requestId, Connection: 'close' });
        res.end(text);
        return;
      }
      void handle(req, res);
    },
  );
  server.keepAliveTimeout = settings.keepAliveTimeoutMs;
  // Node closes a CONNECT connection without a word when nothing listens: this is not a proxy.
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    answered.add(socket);
    const { status, text, requestId } = errorResponse('/', 'METHOD_NOT_ALLOWED', 'CONNECT is not supported: this server is not a proxy', { method: 'CONNECT', allow: [] });
    endWith(socket, status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), 'X-Request-Id': requestId, Allow: '' }, text);
  });
  // Node answers an Expect other than 100-continue with a bare 417; the request goes to the app
  // instead, which answers it like any other (RFC 9110 lets a server ignore an expectation).
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => server.emit('request', req, res));

  server.on('clientError', (error: NodeJS.ErrnoException & { rawPacket?: Buffer; reason?: string }, socket: Duplex) => {
    // The parser may report the same broken connection more than once while it drains.
    if (answered.has(socket)) return;
    answered.add(socket);
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const refusal = refusalOf(error, settings);
    const last = exchanges.get(socket);
    // The target decides the error's shape (the SDK's routes have their own): the refused packet's
    // request line, or the request in progress. A request head refused in a later packet than its
    // request line gets the envelope (watching 'data' would cost Node's fast parsing path).
    const target = requestTarget(error.rawPacket) ?? (last !== undefined && !last.req.complete ? last.req.url : undefined) ?? '/';
    const answer = () => {
      const { status, text, requestId } = errorResponse(target, refusal.code, refusal.message, refusal.details);
      endWith(socket, status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), 'X-Request-Id': requestId }, text);
    };
    if (last === undefined || (last.req.complete && last.res.writableFinished) || (!last.req.complete && !last.res.headersSent)) {
      // A new request that is broken, or the request in progress that has no answer yet (a timeout, a cut body).
      answer();
    } else if (last.req.complete) {
      // Pipelined: the broken request came while the one before it is still being answered.
      last.res.once('finish', () => (socket.writable ? answer() : socket.destroy()));
      last.res.once('close', () => last.res.writableFinished || socket.destroy());
    } else {
      // The bytes belong to a request that was answered before its body came (a 401): no second answer.
      socket.destroy();
    }
  });
  return server;
}

/** Writes a whole HTTP/1.1 answer on a socket no response object owns, and closes the connection. */
function endWith(socket: Duplex, status: number, headers: Readonly<Record<string, string>>, body: string): void {
  const head = Object.entries({ ...headers, Date: new Date().toUTCString(), Connection: 'close' }).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n${head.join('')}\r\n${body}`);
  // Closing at once, with request bytes still unread, would send a reset that can destroy the
  // answer before the client reads it; the client closes first, or the socket goes after a second.
  const linger = setTimeout(() => socket.destroy(), lingerMs);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
}

function refusalOf(error: NodeJS.ErrnoException & { reason?: string }, settings: HttpServerSettings): { code: ErrorCode; message: string; details: Record<string, unknown> } {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'REQUEST_HEADER_FIELDS_TOO_LARGE', message: `the request line and headers are larger than ${settings.maxHeaderBytes} bytes`, details: { limitBytes: settings.maxHeaderBytes } };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { code: 'PAYLOAD_TOO_LARGE', message: 'the chunk extensions of the body are too large', details: {} };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        code: 'REQUEST_TIMEOUT',
        message: `the request was not received in time (headers within ${settings.headersTimeoutMs} ms, the whole request within ${settings.requestTimeoutMs} ms)`,
        details: { headersTimeoutMs: settings.headersTimeoutMs, requestTimeoutMs: settings.requestTimeoutMs },
      };
    case 'HPE_INVALID_EOF_STATE':
      return { code: 'MALFORMED_REQUEST', message: 'the connection ended before the request was complete', details: { parserError: error.code } };
    default:
      return { code: 'MALFORMED_REQUEST', message: `the request is not valid HTTP/1.1: ${error.reason ?? error.message}`, details: { parserError: error.code ?? 'unknown' } };
  }
}

function errorResponse(target: string, code: ErrorCode, message: string, details: Record<string, unknown>): { status: number; text: string; requestId: string } {
  const requestId = newRequestId();
  const path = target.split('?', 1)[0] ?? '/';
  const text = JSON.stringify(errorBody(groupOf(path).errorShape, code, message, details, { requestId, timestamp: new Date().toISOString() }));
  return { status: statusOf(code), text, requestId };
}

function hostHeaders(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'host') count++;
  return count;
}

/** The path of the request line a packet starts with, if it starts with one. */
function requestTarget(packet: Buffer | undefined): string | undefined {
  if (packet === undefined) return undefined;
  return /^[^\s/][^\r\n]*? (\/[^\s?]*)/.exec(packet.subarray(0, 256).toString('latin1'))?.[1];
}
