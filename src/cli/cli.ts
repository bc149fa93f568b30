import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/config.ts';
import { composeService } from '../composition/root.ts';
import { createLogger } from '../logging/logger.ts';
import { createProgressReporter } from '../../projections/progress.ts';
import { rebuildProjections } from '../../projections/rebuild.ts';
import { runServe } from './serveCommand.ts';
import { readChain, verifyChain } from '../compliance/receiptChain.ts';
import { open } from 'node:fs/promises';
import { userHistory } from '../compliance/history.ts';
import { isSealedField } from '../crypto/fieldCipher.ts';
import type { EventStore, RecordedEvent } from '../eventStore/eventStore.ts';
import { userIdSchema } from '../http/v1/schemas.ts';
import { z } from 'zod';
import { AppError, codeOf } from '../errors/appError.ts';
import { parseInput } from '../http/validation.ts';
import { cliOutput, exitCode, type CliIo, type CliOutput } from './cliOutput.ts';
import { inFlagTerms, settingNames } from './cliArguments.ts';
import { createTenantHint, table, tenantCommand } from './tenantCommands.ts';

export type { CliIo } from './cliOutput.ts';

export const usage = `facesmash <command> [--json]

Commands:
  serve                              run the HTTP API (what npm start does)
  projections status                 each projection's checkpoint, the store's head and the lag
  projections rebuild [--projection NAME]... [--batch-size N]
                                     replay every event into fresh tables and swap them in
  status, rebuild                    short for the two above
  tenants create --name NAME [--plan free|pro|enterprise] [--setting NAME=VALUE]...
                                     create a tenant; prints its first live and test keys, once
  tenants list                       tenants with plan and creation time
  tenants update TENANT_ID [--plan free|pro|enterprise] [--setting NAME=VALUE]...
                                     change a tenant's plan and settings (NAME: ${settingNames.join(', ')};
                                     VALUE a number, or null for inactiveUserErasureMonths)
  keys issue --tenant ID --mode live|test [--name NAME] [--scope SCOPE]... [--expires-at ISO-8601]
             [--allowed-origin ORIGIN]...
                                     issue a key (default scopes: all the mode allows); printed once
  keys origins KEY_ID [--allowed-origin ORIGIN]...
                                     set the origins a browser may use the key from (none: no browser)
  keys list --tenant ID              a tenant's keys, without their secret part
  keys revoke KEY_ID                 revoke a key (rotation: issue a new key, then revoke the old)
  receipts verify [--tenant ID]      check each tenant's chain of erasure receipts; exit 1 if one
                                     was changed, removed or reordered
  retention run                      apply every tenant's retention settings now (the server does
                                     it every RETENTION_INTERVAL_MS)
  audit replay --user USER_ID [--at ISO-8601]
                                     a user's history (and state at a time), as JSON
  audit export --tenant ID [--out FILE]
                                     every event of a tenant as JSON lines, personal fields left out
  help                               this text

--json (every command): stdout carries one JSON document, the result or {"error": {code, message}}.
Exit codes: 0 done, 1 could not start or changed nothing, 2 bad arguments or nothing to act on,
78 bad configuration.

Configuration comes from the environment (see README). With the embedded default the
service must be stopped while a CLI command opens the same DATA_DIR.`;

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  isTTY: process.stderr.isTTY === true,
};

const groups = new Set(['tenants', 'keys', 'receipts', 'audit', 'retention']);
/** Each command, the options it takes (besides --json and --help) and whether it takes an id after its name. */
const commands: Readonly<Record<string, { readonly options: readonly string[]; readonly id?: string }>> = {
  status: { options: [] },
  rebuild: { options: ['projection', 'batch-size'] },
  'tenants create': { options: ['name', 'plan', 'setting'] },
  'tenants list': { options: [] },
  'tenants update': { options: ['plan', 'setting', 'tenant'], id: 'TENANT_ID' },
  'keys issue': { options: ['tenant', 'mode', 'name', 'scope', 'expires-at', 'allowed-origin'] },
  'keys list': { options: ['tenant'] },
  'keys revoke': { options: [], id: 'KEY_ID' },
  'keys origins': { options: ['allowed-origin'], id: 'KEY_ID' },
  'receipts verify': { options: ['tenant'] },
  'audit replay': { options: ['user', 'at'] },
  'audit export': { options: ['tenant', 'out'] },
  'retention run': { options: [] },
};

/** An option the command does not take, or an argument too many: said, instead of ignored. */
function misuse(command: string, values: Readonly<Record<string, unknown>>, positionals: readonly string[]): string | undefined {
  const spec = commands[command]!;
  const given = Object.keys(values).filter((name) => values[name] !== undefined && name !== 'json' && name !== 'help');
  const foreign = given.filter((name) => !spec.options.includes(name));
  const takes = [...spec.options.map((name) => `--${name}`), '--json'].join(', ');
  if (foreign.length > 0) return `${command} does not take ${foreign.map((name) => `--${name}`).join(', ')} (it takes ${takes})`;
  const words = command === 'status' || command === 'rebuild' ? (positionals[0] === 'projections' ? 2 : 1) : 2;
  const extra = positionals.slice(words + (spec.id ? 1 : 0));
  if (extra.length > 0) return `${command}: unexpected argument ${JSON.stringify(extra[0])}${spec.id ? ` (it takes one ${spec.id})` : ''}`;
  return undefined;
}

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
        name: { type: 'string' },
        plan: { type: 'string' },
        setting: { type: 'string', multiple: true },
        tenant: { type: 'string' },
        mode: { type: 'string' },
        scope: { type: 'string', multiple: true },
        'expires-at': { type: 'string' },
        'allowed-origin': { type: 'string', multiple: true },
        user: { type: 'string' },
        at: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    const output = cliOutput(io, argv.includes('--json'));
    return output.fail(new AppError('VALIDATION_ERROR', (error as Error).message), `${(error as Error).message}\n\n${usage}`, exitCode.usage);
  }
  const output = cliOutput(io, parsed.values.json);
  const [first, second, third] = parsed.positionals;
  const command = first === 'projections' ? second : first !== undefined && groups.has(first) ? `${first} ${second ?? ''}`.trim() : first;
  if (parsed.values.help || command === 'help' || command === undefined) {
    io.out(`${usage}\n`);
    return command === undefined && !parsed.values.help ? exitCode.usage : exitCode.done;
  }

  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return output.fail({ code: 'CONFIG_ERROR', message: error.message }, error.message, exitCode.config);
    throw error;
  }

  if (command === 'serve') return runServe(env);
  if (!Object.hasOwn(commands, command)) {
    return output.fail(new AppError('VALIDATION_ERROR', `unknown command: ${argv.join(' ')}`), `unknown command: ${argv.join(' ')}\n\n${usage}`, exitCode.usage);
  }
  const wrong = misuse(command, parsed.values, parsed.positionals);
  if (wrong !== undefined) return output.fail(new AppError('VALIDATION_ERROR', wrong), wrong, exitCode.usage);

  // One-shot commands log only warnings, on stderr, so their stdout stays readable.
  const logger = createLogger(config.logLevel === 'silent' ? 'silent' : 'warn', { write: (line: string) => io.err(line) });
  let service;
  try {
    service = await composeService(config, logger, { startProjections: false });
  } catch (error) {
    const message = `cannot start: ${error instanceof Error ? error.message : String(error)}`;
    return output.fail({ code: 'CANNOT_START', message }, message, exitCode.cannotStart);
  }
  try {
    // Commands that read the read models bring them up to date first: on a new database that
    // also creates them (reading before that failed with a missing table).
    if (command !== 'status' && command !== 'rebuild' && !command.startsWith('audit ')) await service.runner.catchUp();
    if (command === 'retention run') {
      const report = await service.applyRetention();
      const none = report.tenants === 0 ? ` (no tenants yet: create one with ${createTenantHint})` : '';
      return output.done(report, `retention: ${report.tenants} tenants, ${report.logsPruned} log prunes, ${report.monthKeysDestroyed} sign-in month keys destroyed, ${report.usersErased} users erased${none}\n`);
    }
    if (command === 'audit replay' || command === 'audit export') {
      return await audit(service.store, command, parsed.values, output, io);
    }
    if (command === 'receipts verify') {
      let tenantIds;
      try {
        if (parsed.values.tenant !== undefined) {
          const tenantId = parseInput(z.uuid({ error: 'must be a tenant id (a uuid, as facesmash tenants list shows it)' }), parsed.values.tenant, 'body', '--tenant');
          await service.tenants.getTenant(tenantId);
          tenantIds = [tenantId];
        } else {
          tenantIds = (await service.tenants.listTenants()).map((tenant) => tenant.id);
        }
      } catch (error) {
        if (codeOf(error) === 'NOT_FOUND') {
          const none = (await service.tenants.listTenants()).length === 0;
          return output.fail(error, none ? `no tenants yet: create one with ${createTenantHint}` : `no tenant ${parsed.values.tenant}: facesmash tenants list shows the tenants`);
        }
        if (codeOf(error) === 'VALIDATION_ERROR') return output.fail(error);
        throw error;
      }
      let broken = 0;
      const verdicts = [];
      const lines = [];
      for (const tenantId of tenantIds) {
        const verdict = verifyChain(await readChain(service.store, tenantId));
        verdicts.push({ tenantId, ...verdict });
        if (!verdict.ok) broken += 1;
        lines.push(verdict.ok ? `ok      ${tenantId}: ${verdict.receipts} receipts, head ${verdict.head}\n` : `BROKEN  ${tenantId}: ${verdict.problem}\n`);
      }
      const text = tenantIds.length === 0 ? `No tenants yet, so no receipts to verify. Create one with ${createTenantHint}\n` : lines.join('');
      if (broken === 0) return output.done(verdicts, text);
      if (!output.json) io.out(text);
      return output.refused(verdicts, `${broken} of ${tenantIds.length} receipt chains are broken`);
    }
    if (command.startsWith('tenants ') || command.startsWith('keys ')) {
      return await tenantCommand(service.tenants, command, parsed.values, third, output);
    }
    if (command === 'status') {
      const statuses = await service.runner.status();
      const rows = statuses.map((s) => [s.name, String(s.version), s.checkpoint.toString(), s.head.toString(), s.lag.toString(), s.updatedAt.toISOString()]);
      return output.done(
        statuses.map((s) => ({ ...s, checkpoint: s.checkpoint.toString(), head: s.head.toString(), lag: s.lag.toString() })),
        table(['projection', 'version', 'checkpoint', 'head', 'lag', 'updated'], rows),
      );
    }
    const wanted = parsed.values.projection;
    const unknown = (wanted ?? []).filter((name) => !service.projections.some((p) => p.name === name));
    if (unknown.length > 0) {
      return output.fail(new AppError('VALIDATION_ERROR', `unknown projection: ${unknown.join(', ')} (known: ${service.projections.map((p) => p.name).join(', ')})`, { field: '--projection' }));
    }
    const batchText = parsed.values['batch-size'];
    const batchSize = batchText === undefined ? 5000 : Number(batchText);
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      return output.fail(new AppError('VALIDATION_ERROR', '--batch-size must be a whole number greater than 0', { field: '--batch-size' }));
    }
    const chosen = service.projections.filter((p) => wanted === undefined || wanted.includes(p.name));
    const progress = createProgressReporter({ label: `rebuild ${chosen.map((p) => p.name).join(', ')}`, write: io.err, isTTY: io.isTTY });
    const results = await rebuildProjections(service.database.db, service.store, chosen, { batchSize, progress });
    return output.done(
      results.map((r) => ({ projection: r.projection, events: r.events, position: r.position.toString(), durationMs: r.durationMs })),
      results.map((result) => `rebuilt ${result.projection}: ${result.events} events up to position ${result.position} in ${(result.durationMs / 1000).toFixed(1)} s\n`).join(''),
    );
  } finally {
    await service.close();
  }
}

/** Audit commands: a user's replayed history, or a tenant's whole history as JSON lines. */
async function audit(store: EventStore, command: string, values: { user?: string; at?: string; tenant?: string; out?: string }, output: CliOutput, io: CliIo): Promise<number> {
  try {
    if (command === 'audit replay') {
      if (values.user === undefined) throw new AppError('VALIDATION_ERROR', 'audit replay needs --user USER_ID', { field: '--user' });
      const userId = parseInput(userIdSchema, values.user, 'body', 'user');
      const at = values.at === undefined ? undefined : new Date(parseInput(z.iso.datetime({ error: 'must be an ISO-8601 date-time' }), values.at, 'body', 'at'));
      // The history is JSON with or without --json.
      io.out(`${JSON.stringify(await userHistory(store, undefined, userId, at), null, 2)}\n`);
      return exitCode.done;
    }
    if (values.tenant === undefined) throw new AppError('VALIDATION_ERROR', 'audit export needs --tenant ID (facesmash tenants list shows the tenants)', { field: '--tenant' });
    const tenantId = parseInput(z.uuid({ error: 'must be a tenant id (a uuid, as facesmash tenants list shows it)' }), values.tenant, 'body', 'tenant');
    // 'wx': an existing file is never overwritten.
    const sink = values.out !== undefined ? await open(values.out, 'wx') : undefined;
    const write = async (line: string) => {
      if (sink) await sink.write(line);
      else io.out(line);
    };
    let after = 0n;
    let count = 0;
    for (;;) {
      const page = await store.readAll({ after, maxCount: 5000 });
      if (page.length === 0) break;
      after = page.at(-1)!.position;
      for (const event of page) {
        if (event.metadata.tenantId !== tenantId) continue;
        await write(`${JSON.stringify(exportLine(event))}\n`);
        count += 1;
      }
    }
    await sink?.close();
    const summary = { tenantId, events: count, ...(values.out !== undefined ? { out: values.out } : {}) };
    // Without --out the events are stdout (JSON lines), so the summary goes to stderr either way;
    // with --out and --json, stdout carries the summary as JSON.
    if (output.json && sink) output.done(summary, '');
    io.err(count === 0 ? `no events of tenant ${tenantId}: facesmash tenants list shows the tenants\n` : `exported ${count} events of tenant ${tenantId}${values.out ? ` to ${values.out}` : ''}\n`);
    return exitCode.done;
  } catch (error) {
    if (codeOf(error) === 'NOT_FOUND' && command === 'audit replay') {
      return output.fail(error, `no user ${values.user} in the event store (GET /v1/users lists a tenant's users)`);
    }
    if (codeOf(error) === 'VALIDATION_ERROR') return output.fail(inFlagTerms(error));
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return output.fail(error, `--out ${values.out}: the file exists; audit export never overwrites one`, exitCode.usage);
    throw error;
  }
}

/** One event for an auditor: sealed personal fields are left out, never opened. */
function exportLine(event: RecordedEvent): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event.data as Record<string, unknown>)) {
    if (!isSealedField(value)) data[key] = value;
  }
  return {
    position: event.position.toString(),
    stream: event.streamName,
    revision: event.revision.toString(),
    type: event.type,
    occurredAt: event.metadata.occurredAt,
    mode: event.metadata.mode ?? null,
    actorKeyId: event.metadata.actorKeyId ?? null,
    requestId: event.metadata.requestId ?? null,
    data,
  };
}
