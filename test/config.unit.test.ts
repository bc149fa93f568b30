import { randomBytes } from 'node:crypto';
import path from 'node:path';
import test from 'ava';
import { ConfigError, loadConfig } from '../src/config/config.ts';

test('with nothing set the service runs on the embedded default', (t) => {
  const config = loadConfig({});
  t.is(config.port, 3000);
  t.is(config.host, '0.0.0.0');
  t.is(config.dataDir, path.resolve('./data'));
  t.deepEqual(config.database, { kind: 'pglite', dir: path.resolve('./data/pglite') });
  t.deepEqual(config.eventStore, { kind: 'sql' });
  t.is(config.masterKey, undefined);
  t.is(config.adminToken, undefined);
  t.is(config.logLevel, 'info');
  t.is(config.detectThreads, 1);
  t.true(config.matcherThreads >= 1);
  t.false(config.webhookAllowPrivate);
  t.true(Object.isFrozen(config));
});

test('empty variables count as unset', (t) => {
  t.is(loadConfig({ PORT: '', DATABASE_URL: '' }).database.kind, 'pglite');
});

test('PostgreSQL and KurrentDB are chosen by their variables', (t) => {
  const key = randomBytes(32).toString('base64');
  const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/app', MASTER_KEY: key, KURRENTDB_URL: 'kurrentdb://kdb:2113?tls=false', WEBHOOK_ALLOW_PRIVATE: 'true', PORT: '8080' });
  t.deepEqual(config.database, { kind: 'postgres', url: 'postgres://u@db:5432/app' });
  t.deepEqual(config.eventStore, { kind: 'kurrentdb', url: 'kurrentdb://kdb:2113?tls=false' });
  t.is(config.masterKey?.toString('base64'), key);
  t.true(config.webhookAllowPrivate);
  t.is(config.port, 8080);
});

const refused: Array<[string, Record<string, string>, RegExp]> = [
  ['a port that is not a number', { PORT: 'eighty' }, /^PORT: /m],
  ['a port out of range', { PORT: '70000' }, /^PORT: /m],
  ['a database URL of another scheme', { DATABASE_URL: 'mysql://x', MASTER_KEY: randomBytes(32).toString('base64') }, /^DATABASE_URL: /m],
  ['PostgreSQL without a master key', { DATABASE_URL: 'postgres://x/y' }, /^MASTER_KEY: is required/m],
  ['a master key of the wrong length', { MASTER_KEY: randomBytes(16).toString('base64') }, /^MASTER_KEY: must be base64 of exactly 32 bytes/m],
  ['an unknown log level', { LOG_LEVEL: 'loud' }, /^LOG_LEVEL: /m],
  ['a zero thread count', { MATCHER_THREADS: '0' }, /^MATCHER_THREADS: /m],
  ['a non-boolean flag', { WEBHOOK_ALLOW_PRIVATE: 'maybe' }, /^WEBHOOK_ALLOW_PRIVATE: /m],
  ['a short admin token', { ADMIN_TOKEN: 'short' }, /^ADMIN_TOKEN: /m],
  ['a KurrentDB URL of another scheme', { KURRENTDB_URL: 'http://x' }, /^KURRENTDB_URL: /m],
  ['a gallery image flag that is not a boolean', { MATCHER_IMAGE: 'sometimes' }, /^MATCHER_IMAGE: must be true or false/m],
  ['a negative gallery image interval', { MATCHER_IMAGE_INTERVAL_MS: '-5' }, /^MATCHER_IMAGE_INTERVAL_MS: must be 0 or more/m],
];

test('the gallery image is on by default, every 10 minutes; MATCHER_IMAGE=false and an interval of 0 are taken', (t) => {
  t.deepEqual(loadConfig({}).matcherImage, { enabled: true, intervalMs: 600_000 });
  t.deepEqual(loadConfig({ MATCHER_IMAGE: 'false', MATCHER_IMAGE_INTERVAL_MS: '0' }).matcherImage, { enabled: false, intervalMs: 0 });
});

for (const [what, env, message] of refused) {
  test(`refuses ${what}, naming the variable`, (t) => {
    const error = t.throws(() => loadConfig(env), { instanceOf: ConfigError });
    t.regex(error.message.split('\n').slice(1).map((line) => line.trim()).join('\n'), message);
  });
}
