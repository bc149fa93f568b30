import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Paths redacted from every log line. Personal data never reaches a log by design; this list is
 * the safety net for secrets and for a personal field that slips into an object by mistake.
 */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.email',
  '*.descriptor',
  '*.ipAddress',
  '*.userAgent',
  '*.masterKey',
  '*.secret',
  '*.token',
  '*.key',
];

/** Creates the service logger (JSON lines on stdout). */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: redactedPaths, censor: '[redacted]' }, base: { service: 'facesmash' } }, destination);
}
