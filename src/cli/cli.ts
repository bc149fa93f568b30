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
import { codeOf } from '../errors/appError.ts';
import { createTenantRequest, issueKeyRequest, patchKeyRequest } from '../http/admin/adminRoutes.ts';
import { parseInput } from '../http/validation.ts';
import type { TenantService } from '../tenancy/tenantService.ts';

export const usage = `facesmash <command>

Commands:
  serve                              run the HTTP API (what npm start does)
  projections status [--json]        each projection's checkpoint, the store's head and the lag
  projections rebuild [--projection NAME]... [--batch-size N]
                                     replay every event into fresh tables and swap them in
  status, rebuild                    short for the two above
  tenants create --name NAME [--plan free|pro|enterprise]
                                     create a tenant; prints its first live and test keys, once
  tenants list                       tenants with plan and settings
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
        name: { type: 'string' },
        plan: { type: 'string' },
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
    io.err(`${(error as Error).message}\n\n${usage}\n`);
    return 2;
  }
  const [first, second, third] = parsed.positionals;
  const command = first === 'projections' ? second : first === 'tenants' || first === 'keys' || first === 'receipts' || first === 'audit' || first === 'retention' ? `${first} ${second ?? ''}`.trim() : first;
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

  if (command === 'serve') return runServe(env);
  const commands = ['status', 'rebuild', 'tenants create', 'tenants list', 'keys issue', 'keys list', 'keys revoke', 'keys origins', 'receipts verify', 'audit replay', 'audit export', 'retention run'];
  if (!commands.includes(command)) {
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
    // Commands that read the read models bring them up to date first: on a new database that
    // also creates them (reading before that failed with a missing table).
    if (command !== 'status' && command !== 'rebuild' && !command.startsWith('audit ')) await service.runner.catchUp();
    if (command === 'retention run') {
      const report = await service.applyRetention();
      io.out(parsed.values.json ? `${JSON.stringify(report, null, 2)}\n` : `retention: ${report.tenants} tenants, ${report.logsPruned} log prunes, ${report.monthKeysDestroyed} sign-in month keys destroyed, ${report.usersErased} users erased\n`);
      return 0;
    }
    if (command === 'audit replay' || command === 'audit export') {
      return await audit(service.store, command, parsed.values, io);
    }
    if (command === 'receipts verify') {
      const tenantIds = parsed.values.tenant !== undefined ? [parsed.values.tenant] : (await service.tenants.listTenants()).map((tenant) => tenant.id);
      let broken = 0;
      const verdicts = [];
      for (const tenantId of tenantIds) {
        const verdict = verifyChain(await readChain(service.store, tenantId));
        verdicts.push({ tenantId, ...verdict });
        if (!verdict.ok) broken += 1;
        if (!parsed.values.json) {
          io.out(verdict.ok ? `ok      ${tenantId}: ${verdict.receipts} receipts, head ${verdict.head}\n` : `BROKEN  ${tenantId}: ${verdict.problem}\n`);
        }
      }
      if (parsed.values.json) io.out(`${JSON.stringify(verdicts, null, 2)}\n`);
      return broken === 0 ? 0 : 1;
    }
    if (command.startsWith('tenants ') || command.startsWith('keys ')) {
      return await operate(service.tenants, command, parsed.values, third, io);
    }
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
    const results = await rebuildProjections(service.database.db, service.store, chosen, { batchSize, progress });
    if (parsed.values.json) {
      io.out(`${JSON.stringify(results.map((r) => ({ projection: r.projection, events: r.events, position: r.position.toString(), durationMs: r.durationMs })), null, 2)}\n`);
    } else {
      for (const result of results) io.out(`rebuilt ${result.projection}: ${result.events} events up to position ${result.position} in ${(result.durationMs / 1000).toFixed(1)} s\n`);
    }
    return 0;
  } finally {
    await service.close();
  }
}

/** Audit commands: a user's replayed history, or a tenant's whole history as JSON lines. */
async function audit(store: EventStore, command: string, values: { user?: string; at?: string; tenant?: string; out?: string }, io: CliIo): Promise<number> {
  try {
    if (command === 'audit replay') {
      const userId = parseInput(userIdSchema, values.user, 'body', 'user');
      const at = values.at === undefined ? undefined : new Date(parseInput(z.iso.datetime({ error: 'must be an ISO-8601 date-time' }), values.at, 'body', 'at'));
      io.out(`${JSON.stringify(await userHistory(store, undefined, userId, at), null, 2)}\n`);
      return 0;
    }
    const tenantId = parseInput(z.uuid({ error: 'must be a tenant id' }), values.tenant, 'body', 'tenant');
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
    io.err(`exported ${count} events of tenant ${tenantId}${values.out ? ` to ${values.out}` : ''}\n`);
    return 0;
  } catch (error) {
    if (codeOf(error) === 'VALIDATION_ERROR' || codeOf(error) === 'NOT_FOUND' || (error as NodeJS.ErrnoException).code === 'EEXIST') {
      io.err(`${(error as Error).message}\n`);
      return 2;
    }
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

/** Tenant and key commands: validated like the admin API, printed for people (or --json). */
async function operate(
  tenants: TenantService,
  command: string,
  values: { name?: string; plan?: string; tenant?: string; mode?: string; scope?: string[]; 'expires-at'?: string; 'allowed-origin'?: string[]; json?: boolean },
  positional: string | undefined,
  io: CliIo,
): Promise<number> {
  const print = (value: unknown, text: string) => io.out(values.json ? `${JSON.stringify(value, null, 2)}\n` : text);
  try {
    switch (command) {
      case 'tenants create': {
        const input = parseInput(createTenantRequest, { name: values.name, ...(values.plan !== undefined ? { plan: values.plan } : {}) }, 'body', 'name');
        const created = await tenants.createTenant(input, 'cli');
        print(created, `tenant    ${created.tenant.id} (${created.tenant.name}, ${created.tenant.plan})\nlive key  ${created.keys.live.key}\ntest key  ${created.keys.test.key}\nThe keys are shown this once; store them now.\n`);
        return 0;
      }
      case 'tenants list': {
        const list = await tenants.listTenants();
        print(
          list,
          list.length === 0
            ? 'No tenants yet. Create one (it prints its first keys): facesmash tenants create --name NAME [--plan free|pro|enterprise]\n'
            : table(['tenant', 'name', 'plan', 'created'], list.map((t) => [t.id, t.name, t.plan, t.createdAt])),
        );
        return 0;
      }
      case 'keys issue': {
        const tenantId = parseInput(z.uuid({ error: 'must be a tenant id' }), values.tenant, 'body', 'tenant');
        const input = parseInput(
          issueKeyRequest,
          {
            mode: values.mode,
            ...(values.name !== undefined ? { name: values.name } : {}),
            ...(values.scope ? { scopes: values.scope } : {}),
            ...(values['expires-at'] !== undefined ? { expiresAt: values['expires-at'] } : {}),
            ...(values['allowed-origin'] ? { allowedOrigins: values['allowed-origin'] } : {}),
          },
          'body',
        );
        await tenants.getTenant(tenantId);
        const issued = await tenants.issueKey(tenantId, input, 'cli');
        const origins = issued.allowedOrigins.length > 0 ? `, origins ${issued.allowedOrigins.join(' ')}` : '';
        print(issued, `key ${issued.id} (${issued.mode}, ${issued.scopes.join(' ')}${issued.expiresAt ? `, expires ${issued.expiresAt}` : ''}${origins})\n${issued.key}\nThe key is shown this once; store it now.\n`);
        return 0;
      }
      case 'keys list': {
        const tenantId = parseInput(z.uuid({ error: 'must be a tenant id' }), values.tenant, 'body', 'tenant');
        const keys = await tenants.listKeys(tenantId);
        print(keys, table(['key', 'prefix', 'mode', 'status', 'scopes', 'expires', 'origins', 'name'], keys.map((k) => [k.id, `${k.prefix}…`, k.mode, k.status, k.scopes.join(','), k.expiresAt ?? '-', k.allowedOrigins.join(',') || '-', k.name])));
        return 0;
      }
      case 'keys origins': {
        const keyId = parseInput(z.string().regex(/^key_[0-9a-f]{32}$/, 'must be a key id (key_…)'), positional, 'body', 'KEY_ID');
        const { allowedOrigins } = parseInput(patchKeyRequest, { allowedOrigins: values['allowed-origin'] ?? [] }, 'body', 'allowed-origin');
        const key = await tenants.changeKeyOrigins(keyId, allowedOrigins, 'cli');
        print(key, key.allowedOrigins.length > 0 ? `${keyId} may be used from ${key.allowedOrigins.join(', ')}\n` : `${keyId} may be used from no browser origin\n`);
        return 0;
      }
      case 'keys revoke': {
        const keyId = parseInput(z.string().regex(/^key_[0-9a-f]{32}$/, 'must be a key id (key_…)'), positional, 'body', 'KEY_ID');
        const result = await tenants.revokeKey(keyId, 'cli');
        if (result.alreadyRevoked) {
          // Nothing changed: scripts that revoke a key they think is live should hear about it.
          if (values.json) print(result, '');
          io.err(`${keyId} was already revoked at ${result.revokedAt}; nothing changed\n`);
          return 1;
        }
        print(result, `revoked ${keyId}\n`);
        return 0;
      }
      default:
        io.err(`unknown command: ${command}\n`);
        return 2;
    }
  } catch (error) {
    const code = codeOf(error);
    if (code === 'VALIDATION_ERROR' || code === 'NOT_FOUND') {
      io.err(`${(error as Error).message}\n`);
      return 2;
    }
    throw error;
  }
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
