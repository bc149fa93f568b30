import { createLogger, type Logger } from '../../src/logging/logger.ts';

/** A logger that writes nowhere unless TEST_LOG_LEVEL asks for it. */
export function quietLogger(): Logger {
  return createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
}
