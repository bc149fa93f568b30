import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/config.ts';
import { composeService } from '../composition/root.ts';
import { createLogger } from '../logging/logger.ts';
import { createProgressReporter } from '../../projections/progress.ts';
import { rebuildProjections } from '../../projections/rebuild.ts';
import { serve } from './serve.ts';

export const usage = `facesmash <command>

Commands:
  serve                              run the HTTP API (what npm start does)
  projections status [--json]        each projection's checkpoint, the store's head and the lag
  projections rebuild [--projection NAME]... [--batch-size N]
                                     replay every event into fresh tables and swap them in
  status, rebuild                    short for the two above
  help                               this text

Configuration comes from the environment (see README). With the embedded default the
service must be stopped while a CLI command opens the same DATA_DIR.`;

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly isTTY: boolean;
}

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  isTTY: process.stderr.isTTY === true,
};

/** Runs one CLI command; resolves with the process exit code. */
export async function runCli(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: CliIo = defaultIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        projection: { type: 'string', multiple: true },
        'batch-size': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${usage}\n`);
    return 2;
  }
  const [first, second] = parsed.positionals;
  const command = first === 'projections' ? second : first;
  if (parsed.values.help || command === 'help' || command === undefined) {
    io.out(`${usage}\n`);
    return command === undefined && !parsed.values.help ? 2 : 0;
  }

  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`${error.message}\n`);
      return 78; // EX_CONFIG
    }
    throw error;
  }

  if (command === 'serve') {
    const logger = createLogger(config.logLevel);
    try {
      return await serve(config, logger);
    } catch (error) {
      logger.fatal({ err: error }, 'cannot start');
      return 1;
    }
  }
  if (command !== 'status' && command !== 'rebuild') {
    io.err(`unknown command: ${argv.join(' ')}\n\n${usage}\n`);
    return 2;
  }

  // One-shot commands log only warnings, on stderr, so their stdout stays readable.
  const logger = createLogger(config.logLevel === 'silent' ? 'silent' : 'warn', { write: (line: string) => io.err(line) });
  let service;
  try {
    service = await composeService(config, logger, { startProjections: false });
  } catch (error) {
    io.err(`cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  try {
    if (command === 'status') {
      const statuses = await service.runner.status();
      if (parsed.values.json) {
        io.out(`${JSON.stringify(statuses.map((s) => ({ ...s, checkpoint: s.checkpoint.toString(), head: s.head.toString(), lag: s.lag.toString() })), null, 2)}\n`);
      } else {
        const rows = statuses.map((s) => [s.name, String(s.version), s.checkpoint.toString(), s.head.toString(), s.lag.toString(), s.updatedAt.toISOString()]);
        io.out(table(['projection', 'version', 'checkpoint', 'head', 'lag', 'updated'], rows));
      }
      return 0;
    }
    const wanted = parsed.values.projection;
    const unknown = (wanted ?? []).filter((name) => !service.projections.some((p) => p.name === name));
    if (unknown.length > 0) {
      io.err(`unknown projection: ${unknown.join(', ')} (known: ${service.projections.map((p) => p.name).join(', ')})\n`);
      return 2;
    }
    const batchText = parsed.values['batch-size'];
    const batchSize = batchText === undefined ? 5000 : Number(batchText);
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      io.err(`--batch-size must be a whole number greater than 0\n`);
      return 2;
    }
    const chosen = service.projections.filter((p) => wanted === undefined || wanted.includes(p.name));
    const progress = createProgressReporter({ label: `rebuild ${chosen.map((p) => p.name).join(', ')}`, write: io.err, isTTY: io.isTTY });
    for (const result of await rebuildProjections(service.database.db, service.store, chosen, { batchSize, progress })) {
      io.out(`rebuilt ${result.projection}: ${result.events} events up to position ${result.position} in ${(result.durationMs / 1000).toFixed(1)} s\n`);
    }
    return 0;
  } finally {
    await service.close();
  }
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
