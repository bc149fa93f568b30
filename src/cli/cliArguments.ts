import { AppError, codeOf } from '../errors/appError.ts';
import { defaultTenantSettings, type TenantSettings } from '../tenancy/tenant.ts';

/** Names of the tenant settings, as `--setting NAME=VALUE` takes them (the admin API's `settings`). */
export const settingNames = Object.keys(defaultTenantSettings) as readonly (keyof TenantSettings)[];

/**
 * Turns `--setting NAME=VALUE` arguments into the admin API's `settings` object: a number for
 * a numeric value, `null` for `null`, the text otherwise (the schema then says what it wants).
 * A malformed argument, an unknown name or a name given twice is a VALIDATION_ERROR naming it;
 * the values themselves are checked by the same schema as `PATCH /admin/tenants/:id`.
 */
export function parseSettingArguments(args: readonly string[]): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const arg of args) {
    const equals = arg.indexOf('=');
    if (equals <= 0) throw new AppError('VALIDATION_ERROR', `--setting ${arg}: must be NAME=VALUE, NAME one of ${settingNames.join(', ')}`, { field: '--setting' });
    const name = arg.slice(0, equals);
    const text = arg.slice(equals + 1).trim();
    if (!(settingNames as readonly string[]).includes(name)) {
      throw new AppError('VALIDATION_ERROR', `--setting ${name}: unknown setting (known: ${settingNames.join(', ')})`, { field: '--setting', setting: name });
    }
    if (Object.hasOwn(settings, name)) throw new AppError('VALIDATION_ERROR', `--setting ${name}: given twice`, { field: '--setting', setting: name });
    settings[name] = text === 'null' ? null : text !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
  }
  return settings;
}

/** Request fields the CLI fills from options, by the option that carries them. */
const flags: Readonly<Record<string, string>> = {
  name: '--name',
  plan: '--plan',
  mode: '--mode',
  scopes: '--scope',
  expiresAt: '--expires-at',
  allowedOrigins: '--allowed-origin',
  tenant: '--tenant',
  user: '--user',
  at: '--at',
};

/**
 * Rewrites a request-schema VALIDATION_ERROR so that it names the command-line option that
 * carried the field (`--setting matchThreshold: …`, `--allowed-origin: …`) instead of the
 * admin API's field; other errors pass unchanged.
 */
export function inFlagTerms(error: unknown, request: Readonly<Record<string, unknown>> = {}): unknown {
  if (codeOf(error) !== 'VALIDATION_ERROR') return error;
  const appError = error as AppError;
  const field = typeof appError.details.field === 'string' ? appError.details.field : undefined;
  if (field === undefined || field.startsWith('-')) return error;
  const flag = optionFor(field);
  if (flag === undefined) return error;
  const message = appError.message.startsWith(`${field}: `) ? appError.message.slice(field.length + 2) : appError.message;
  // A repeatable option names the value at fault: `--allowed-origin https://a.example/: …`.
  const item = /^([A-Za-z]+)\[(\d+)\]$/.exec(field);
  const list = item ? request[item[1]!] : undefined;
  const value = item && Array.isArray(list) ? list[Number(item[2])] : undefined;
  const named = typeof value === 'string' ? `${flag} ${JSON.stringify(value)}` : flag;
  return new AppError('VALIDATION_ERROR', `${named}: ${message}`, { ...appError.details, field: flag }, { cause: error });
}

function optionFor(field: string): string | undefined {
  const setting = /^settings\.([A-Za-z]+)$/.exec(field);
  if (setting) return `--setting ${setting[1]}`;
  if (field === 'settings') return '--setting';
  const root = /^([A-Za-z]+)(?:\[\d+\])?$/.exec(field);
  return root ? flags[root[1]!] : undefined;
}
