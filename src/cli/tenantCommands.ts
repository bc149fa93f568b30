import { z } from 'zod';
import { AppError, codeOf } from '../errors/appError.ts';
import { createTenantRequest, issueKeyRequest, keyIdParam, patchKeyRequest, patchTenantRequest, tenantIdParam } from '../http/admin/adminRoutes.ts';
import { parseInput } from '../http/validation.ts';
import type { TenantService } from '../tenancy/tenantService.ts';
import { inFlagTerms, parseSettingArguments, settingNames } from './cliArguments.ts';
import type { CliOutput } from './cliOutput.ts';

/** The options tenant and key commands read (parsed by `runCli`). */
export interface TenantCommandOptions {
  readonly name?: string;
  readonly plan?: string;
  readonly setting?: readonly string[];
  readonly tenant?: string;
  readonly mode?: string;
  readonly scope?: readonly string[];
  readonly 'expires-at'?: string;
  readonly 'allowed-origin'?: readonly string[];
}

export const createTenantHint = 'facesmash tenants create --name NAME [--plan free|pro|enterprise] (it prints the first live and test keys)';

/** Tenant and key commands: validated like the admin API, printed for people (or --json). */
export async function tenantCommand(tenants: TenantService, command: string, values: TenantCommandOptions, positional: string | undefined, output: CliOutput): Promise<number> {
  try {
    return await run(tenants, command, values, positional, output);
  } catch (error) {
    const code = codeOf(error);
    if (code === 'NOT_FOUND') return output.fail(error, notFoundHint(error as AppError));
    if (code === 'VALIDATION_ERROR') return output.fail(error);
    throw error;
  }
}

async function run(tenants: TenantService, command: string, values: TenantCommandOptions, positional: string | undefined, output: CliOutput): Promise<number> {
  // Every other command acts on a tenant or its keys: on a new database, say what comes first.
  if (command !== 'tenants create' && command !== 'tenants list' && (await tenants.listTenants()).length === 0) {
    throw new AppError('NOT_FOUND', `no tenants yet: create one with ${createTenantHint}`);
  }
  switch (command) {
    case 'tenants create': {
      if (values.name === undefined) throw new AppError('VALIDATION_ERROR', 'tenants create needs --name NAME', { field: '--name' });
      const request = { name: values.name, ...(values.plan !== undefined ? { plan: values.plan } : {}), ...(values.setting ? { settings: parseSettingArguments(values.setting) } : {}) };
      const input = validated(createTenantRequest, request);
      const created = await tenants.createTenant(input, 'cli');
      return output.done(created, `tenant    ${created.tenant.id} (${created.tenant.name}, ${created.tenant.plan})\nlive key  ${created.keys.live.key}\ntest key  ${created.keys.test.key}\nThe keys are shown this once; store them now.\n`);
    }
    case 'tenants list': {
      const list = await tenants.listTenants();
      return output.done(
        list,
        list.length === 0
          ? `No tenants yet. Create one with ${createTenantHint}\n`
          : table(['tenant', 'name', 'plan', 'created'], list.map((t) => [t.id, t.name, t.plan, t.createdAt])),
      );
    }
    case 'tenants update': {
      const tenantId = tenantArgument(command, positional ?? values.tenant);
      if (values.plan === undefined && values.setting === undefined) {
        throw new AppError('VALIDATION_ERROR', `tenants update needs --plan free|pro|enterprise and/or --setting NAME=VALUE (NAME one of ${settingNames.join(', ')})`, { field: '--plan' });
      }
      const request = { ...(values.plan !== undefined ? { plan: values.plan } : {}), ...(values.setting ? { settings: parseSettingArguments(values.setting) } : {}) };
      const input = validated(patchTenantRequest, request);
      const tenant = await tenants.changeSettings(tenantId, input, 'cli');
      const settings = Object.entries(tenant.settings).map(([name, value]) => `  ${name} = ${value === null ? 'null' : String(value)}`);
      return output.done(tenant, `tenant ${tenant.id} (${tenant.name}) is on the ${tenant.plan} plan\n${settings.join('\n')}\n`);
    }
    case 'keys issue': {
      const tenantId = tenantArgument(command, values.tenant);
      const request = {
        mode: values.mode,
        ...(values.name !== undefined ? { name: values.name } : {}),
        ...(values.scope ? { scopes: values.scope } : {}),
        ...(values['expires-at'] !== undefined ? { expiresAt: values['expires-at'] } : {}),
        ...(values['allowed-origin'] ? { allowedOrigins: values['allowed-origin'] } : {}),
      };
      if (request.mode === undefined) throw new AppError('VALIDATION_ERROR', 'keys issue needs --mode live|test', { field: '--mode' });
      const input = validated(issueKeyRequest, request);
      await tenants.getTenant(tenantId);
      const issued = await tenants.issueKey(tenantId, input, 'cli');
      const origins = issued.allowedOrigins.length > 0 ? `, origins ${issued.allowedOrigins.join(' ')}` : '';
      return output.done(issued, `key ${issued.id} (${issued.mode}, ${issued.scopes.join(' ')}${issued.expiresAt ? `, expires ${issued.expiresAt}` : ''}${origins})\n${issued.key}\nThe key is shown this once; store it now.\n`);
    }
    case 'keys list': {
      const tenantId = tenantArgument(command, values.tenant);
      const keys = await tenants.listKeys(tenantId);
      return output.done(
        keys,
        keys.length === 0
          ? `Tenant ${tenantId} has no keys. Issue one: facesmash keys issue --tenant ${tenantId} --mode live|test\n`
          : table(['key', 'prefix', 'mode', 'status', 'scopes', 'expires', 'origins', 'name'], keys.map((k) => [k.id, `${k.prefix}…`, k.mode, k.status, k.scopes.join(','), k.expiresAt ?? '-', k.allowedOrigins.join(',') || '-', k.name])),
      );
    }
    case 'keys origins': {
      const keyId = keyArgument(command, positional);
      const request = { allowedOrigins: values['allowed-origin'] ?? [] };
      const { allowedOrigins } = validated(patchKeyRequest, request);
      const key = await tenants.changeKeyOrigins(keyId, allowedOrigins, 'cli');
      return output.done(key, key.allowedOrigins.length > 0 ? `${keyId} may be used from ${key.allowedOrigins.join(', ')}\n` : `${keyId} may be used from no browser origin\n`);
    }
    case 'keys revoke': {
      const keyId = keyArgument(command, positional);
      const result = await tenants.revokeKey(keyId, 'cli');
      if (result.alreadyRevoked) {
        // Nothing changed: scripts that revoke a key they think is live should hear about it.
        return output.refused(result, `${keyId} was already revoked at ${result.revokedAt}; nothing changed\n`);
      }
      return output.done(result, `revoked ${keyId}\n`);
    }
    default:
      throw new AppError('VALIDATION_ERROR', `unknown command: ${command}`, { field: 'command' });
  }
}

/** Parses a request with the admin API's schema; errors name the option, not the API field. */
function validated<S extends z.ZodType>(schema: S, request: Readonly<Record<string, unknown>>): z.infer<S> {
  try {
    return parseInput(schema, request, 'body');
  } catch (error) {
    throw inFlagTerms(error, request);
  }
}

function tenantArgument(command: string, value: string | undefined): string {
  const where = command === 'tenants update' ? 'TENANT_ID' : '--tenant ID';
  if (value === undefined) throw new AppError('VALIDATION_ERROR', `${command} needs ${where} (facesmash tenants list shows the tenants)`, { field: where });
  const parsed = tenantIdParam.safeParse(value);
  if (!parsed.success) throw new AppError('VALIDATION_ERROR', `${where}: must be a tenant id (a uuid, as facesmash tenants list shows it)`, { field: where });
  return parsed.data;
}

function keyArgument(command: string, value: string | undefined): string {
  if (value === undefined) throw new AppError('VALIDATION_ERROR', `${command} needs KEY_ID (facesmash keys list --tenant ID shows a tenant's keys)`, { field: 'KEY_ID' });
  const parsed = keyIdParam.safeParse(value);
  if (!parsed.success) throw new AppError('VALIDATION_ERROR', 'KEY_ID: must be a key id (key_ and 32 hex characters, as facesmash keys list shows it)', { field: 'KEY_ID' });
  return parsed.data;
}

/** What to do about a tenant or key that is not there: on a new database, create the first tenant. */
function notFoundHint(error: AppError): string {
  if (typeof error.details.keyId === 'string') return `no key ${error.details.keyId}: facesmash keys list --tenant ID shows a tenant's keys`;
  if (typeof error.details.tenantId === 'string') return `no tenant ${error.details.tenantId}: facesmash tenants list shows the tenants`;
  return error.message;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
