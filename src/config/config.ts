import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const positiveInt = (fallback: number) => z.coerce.number({ message: 'must be a number' }).int('must be a whole number').positive('must be greater than 0').default(fallback);

const postgresUrl = z
  .string()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// or postgresql:// URL');

const masterKey = z
  .string()
  .refine((value) => Buffer.from(value, 'base64').length === 32 && /^[A-Za-z0-9+/]+={0,2}$/.test(value), 'must be base64 of exactly 32 bytes');

/** The environment, as one schema. Names are fixed by design.md's configuration table. */
export const configSchema = z
  .object({
    PORT: z.coerce.number({ message: 'must be a number' }).int().min(0).max(65535, 'must be a port number (0-65535)').default(3000),
    HOST: z.string().min(1).default('0.0.0.0'),
    DATA_DIR: z.string().min(1).default('./data'),
    DATABASE_URL: postgresUrl.optional(),
    EMBEDDED_DB_DIR: z.string().min(1).optional(),
    KURRENTDB_URL: z.string().refine((value) => /^(kurrentdb|kdb|esdb|kurrent)(\+discover)?:\/\//.test(value), 'must be a kurrentdb:// (or esdb://) connection string').optional(),
    MASTER_KEY: masterKey.optional(),
    ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').regex(/^\S+$/, 'must not contain spaces').optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    MATCHER_THREADS: positiveInt(Math.max(1, os.availableParallelism())),
    DETECT_THREADS: positiveInt(1),
    MATCHER_IMAGE: booleanString.default(true),
    MATCHER_IMAGE_INTERVAL_MS: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(0, 'must be 0 or more').default(600_000),
    WEBHOOK_ALLOW_PRIVATE: booleanString.default(false),
    WEBHOOK_RETRY_DELAYS_MS: z
      .string()
      .regex(/^\d+(,\d+)*$/, 'must be a comma-separated list of milliseconds')
      .default('60000,300000,1800000,7200000'),
    PROJECTION_BATCH_SIZE: positiveInt(500),
    READY_MAX_LAG: z.coerce.number({ message: 'must be a number' }).int().min(0, 'must be 0 or more').default(1000),
    FOLLOWER_CYCLE_MS: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(0, 'must be 0 or more').max(1000, 'must be at most 1000').default(10),
    SHUTDOWN_TIMEOUT_MS: positiveInt(10_000),
    SHUTDOWN_IDLE_GRACE_MS: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(0, 'must be 0 or more').max(60_000, 'must be at most 60000').default(250),
    RETENTION_INTERVAL_MS: positiveInt(3_600_000),
    HTTP_HEADERS_TIMEOUT_MS: positiveInt(10_000),
    HTTP_REQUEST_TIMEOUT_MS: positiveInt(30_000),
    HTTP_KEEP_ALIVE_TIMEOUT_MS: positiveInt(5_000),
    HTTP_MAX_HEADER_BYTES: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1024, 'must be at least 1024').max(1_048_576, 'must be at most 1048576').default(16_384),
  })
  .superRefine((env, ctx) => {
    if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
      ctx.addIssue({ code: 'custom', path: ['HTTP_HEADERS_TIMEOUT_MS'], message: 'must not be larger than HTTP_REQUEST_TIMEOUT_MS (the headers are part of the request)' });
    }
    if (env.DATABASE_URL !== undefined && env.MASTER_KEY === undefined) {
      ctx.addIssue({ code: 'custom', path: ['MASTER_KEY'], message: 'is required when DATABASE_URL is set (it is generated only for the embedded default)' });
    }
  });

export type RawConfig = z.infer<typeof configSchema>;

/** The parsed, frozen configuration every adapter is built from. */
export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** The embedded database's directory; `memory://` keeps it in memory only (tests, demos). */
  readonly database: { readonly kind: 'postgres'; readonly url: string } | { readonly kind: 'pglite'; readonly dir: string };
  readonly eventStore: { readonly kind: 'kurrentdb'; readonly url: string } | { readonly kind: 'sql' };
  readonly masterKey: Buffer | undefined;
  readonly adminToken: string | undefined;
  /** When set, GET /metrics wants it as a bearer token; when not, /metrics is open. */
  readonly metricsToken: string | undefined;
  readonly logLevel: RawConfig['LOG_LEVEL'];
  readonly matcherThreads: number;
  readonly detectThreads: number;
  /**
   * The gallery image (matching/galleryImage.ts) in DATA_DIR: written after a load from the read
   * model, when stale or destroyed every `intervalMs` (0: never in between) and at shutdown, and
   * restored at start. Never with an in-memory embedded database.
   */
  readonly matcherImage: { readonly enabled: boolean; readonly intervalMs: number };
  readonly webhookAllowPrivate: boolean;
  /** Delays before each retry of a webhook delivery; after the last, the webhook is failing. */
  readonly webhookRetryDelaysMs: readonly number[];
  readonly projectionBatchSize: number;
  readonly readyMaxLag: number;
  /** Under load, the follower reads the store at most this often (events then come in batches). */
  readonly followerCycleMs: number;
  readonly shutdownTimeoutMs: number;
  /** After SIGTERM, idle kept-alive connections stay this long (a request already on its way gets 503, not a reset). */
  readonly shutdownIdleGraceMs: number;
  /** How often the retention job runs in the server. */
  readonly retentionIntervalMs: number;
  /** Limits of the HTTP server (http/httpServer.ts): how long a client may take to send a request, and its header size. */
  readonly http: {
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
    readonly maxHeaderBytes: number;
  };
}

export class ConfigError extends Error {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`Invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Parses the environment once; throws ConfigError whose lines each name the offending variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    // An empty variable means "unset", as in most twelve-factor services.
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`));
  }
  const raw = parsed.data;
  const dataDir = path.resolve(raw.DATA_DIR);
  return Object.freeze({
    port: raw.PORT,
    host: raw.HOST,
    dataDir,
    database: Object.freeze(raw.DATABASE_URL !== undefined ? { kind: 'postgres' as const, url: raw.DATABASE_URL } : { kind: 'pglite' as const, dir: embeddedDir(raw.EMBEDDED_DB_DIR, dataDir) }),
    eventStore: Object.freeze(raw.KURRENTDB_URL !== undefined ? { kind: 'kurrentdb' as const, url: raw.KURRENTDB_URL } : { kind: 'sql' as const }),
    masterKey: raw.MASTER_KEY !== undefined ? Buffer.from(raw.MASTER_KEY, 'base64') : undefined,
    adminToken: raw.ADMIN_TOKEN,
    metricsToken: raw.METRICS_TOKEN,
    logLevel: raw.LOG_LEVEL,
    matcherThreads: raw.MATCHER_THREADS,
    detectThreads: raw.DETECT_THREADS,
    matcherImage: Object.freeze({ enabled: raw.MATCHER_IMAGE, intervalMs: raw.MATCHER_IMAGE_INTERVAL_MS }),
    webhookAllowPrivate: raw.WEBHOOK_ALLOW_PRIVATE,
    webhookRetryDelaysMs: Object.freeze(raw.WEBHOOK_RETRY_DELAYS_MS.split(',').map(Number)),
    projectionBatchSize: raw.PROJECTION_BATCH_SIZE,
    readyMaxLag: raw.READY_MAX_LAG,
    followerCycleMs: raw.FOLLOWER_CYCLE_MS,
    shutdownTimeoutMs: raw.SHUTDOWN_TIMEOUT_MS,
    shutdownIdleGraceMs: raw.SHUTDOWN_IDLE_GRACE_MS,
    retentionIntervalMs: raw.RETENTION_INTERVAL_MS,
    http: Object.freeze({
      headersTimeoutMs: raw.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: raw.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: raw.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxHeaderBytes: raw.HTTP_MAX_HEADER_BYTES,
    }),
  });
}

function embeddedDir(configured: string | undefined, dataDir: string): string {
  if (configured === undefined) return path.join(dataDir, 'pglite');
  return configured === 'memory://' ? configured : path.resolve(configured);
}
