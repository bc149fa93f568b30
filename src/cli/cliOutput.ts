import { codeOf } from '../errors/appError.ts';

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly isTTY: boolean;
}

/** Exit codes: 0 done, 1 could not start or refused, 2 bad arguments (or nothing to act on), 78 bad configuration. */
export const exitCode = { done: 0, refused: 1, cannotStart: 1, usage: 2, config: 78 } as const;

/**
 * How a command answers. Without `--json`: text for people on stdout, problems on stderr. With
 * `--json`: stdout carries exactly one JSON document whatever happens, the result or
 * `{"error": {"code", "message", "details"}}`, and the message still goes to stderr.
 */
export interface CliOutput {
  readonly json: boolean;
  /** The command did it: `value` as JSON, or `text`. Exit 0. */
  done(value: unknown, text: string): number;
  /** The command ran but changed nothing it was asked to (e.g. a key already revoked): `value` as JSON, `message` on stderr. Exit 1. */
  refused(value: unknown, message: string): number;
  /** The command could not run; exit 2 for bad arguments or something not there, 78 for configuration, 1 otherwise. */
  fail(error: unknown, message?: string, exit?: number): number;
}

export function cliOutput(io: CliIo, json: boolean): CliOutput {
  const document = (value: unknown) => io.out(`${JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item), 2)}\n`);
  return {
    json,
    done(value, text) {
      if (json) document(value);
      else io.out(text);
      return exitCode.done;
    },
    refused(value, message) {
      if (json) document(value);
      io.err(message.endsWith('\n') ? message : `${message}\n`);
      return exitCode.refused;
    },
    fail(error, message, exit) {
      const code = codeOf(error) ?? (typeof (error as { code?: unknown })?.code === 'string' ? String((error as { code: string }).code) : 'ERROR');
      const text = message ?? (error instanceof Error ? error.message : String(error));
      const details = codeOf(error) !== undefined ? (error as { details?: Readonly<Record<string, unknown>> }).details : undefined;
      if (json) document({ error: { code, message: text, ...(details && Object.keys(details).length > 0 ? { details } : {}) } });
      io.err(`${text}\n`);
      return exit ?? (code === 'VALIDATION_ERROR' || code === 'NOT_FOUND' || code === 'USAGE' ? exitCode.usage : code === 'CONFIG' ? exitCode.config : exitCode.cannotStart);
    },
  };
}
