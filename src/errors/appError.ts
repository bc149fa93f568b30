/** Error codes of the contract plus the internal ones the event store and runtime raise. */
export const errorStatus = {
  VALIDATION_ERROR: 400,
  /** The bytes are not a valid HTTP/1.1 request (framing, header syntax, missing Host). */
  MALFORMED_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  /** The client did not send its request within the server's header or request timeout. */
  REQUEST_TIMEOUT: 408,
  DUPLICATE_FACE: 409,
  IDEMPOTENCY_CONFLICT: 409,
  WRONG_EXPECTED_REVISION: 409,
  DUPLICATE_EVENT_ID: 409,
  STREAM_DELETED: 410,
  STREAM_CLOSED: 410,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  NO_FACE_DETECTED: 422,
  MULTIPLE_FACES: 422,
  LOW_QUALITY: 422,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  REQUEST_HEADER_FIELDS_TOO_LARGE: 431,
  INTERNAL_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
  TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** The one application error. Identify it by `code` (see `hasCode`), never by `instanceof`. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AppError';
    this.code = code;
    this.details = Object.freeze({ ...details });
  }
}

/** True when `error` carries the given code, whatever realm or thread it came from. */
export function hasCode(error: unknown, code: ErrorCode): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

/** The code of an error if it is one of ours, else undefined. */
export function codeOf(error: unknown): ErrorCode | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code in errorStatus ? (code as ErrorCode) : undefined;
}

export function statusOf(code: ErrorCode): number {
  return errorStatus[code];
}

/** Translates a value that crossed a thread or a timeout into a plain error description. */
export function toPlainError(error: unknown): { code: ErrorCode; message: string; details: Record<string, unknown> } {
  const code = codeOf(error) ?? 'INTERNAL_ERROR';
  const message = error instanceof Error ? error.message : String(error);
  const details = typeof error === 'object' && error !== null && 'details' in error && typeof (error as { details: unknown }).details === 'object'
    ? { ...((error as { details: Record<string, unknown> }).details) }
    : {};
  return { code, message, details };
}
