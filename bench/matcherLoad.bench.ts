// npm run bench:load [-- --templates 1000000 --runs 3 --store postgres|pglite|all]
// The matcher's start-up load (MatcherFeed.load) from the templates read model, on a fresh
// database seeded directly (sealed with the real key store and field cipher code, written with
// multi-row INSERTs, not through the API) with a realistic mix: most users with one template,
// some with two or three, six tenants of very different sizes, a tenth of the templates in test
// mode, 2% of users erased (their keys destroyed, their rows not yet deleted by the projection).
// Each load starts cold (a new key store, so no cached data key, and a new matcher) and is checked
// exact (every loadable template in its gallery, nothing of an erased user, a sample of templates
// identified as themselves). Printed: the median load time (and per 1M templates), templates/s,
// the split the feed reports, the matcher's memory and, from the same run, two baselines: a plain
// keyset SELECT of the same rows with the driver, and the matcher's addMany alone given the same
// descriptors in the clear (what a load costs with no database and no cryptography). Then the
// start from a gallery image (src/matching/galleryImage.ts): its write, and cold restores of it,
// checked exact the same way. Seeding is timed separately and not counted.
// PostgreSQL: DATABASE_URL (default the local server), in a scratch database dropped afterwards;
// PGlite: a data directory on disk, removed afterwards.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runInNewContext } from 'node:vm';
import v8 from 'node:v8';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { createFieldCipher, openField, sealField } from '../src/crypto/fieldCipher.ts';
import { unwrapDataKey, wrapDataKey } from '../src/crypto/dataKeys.ts';
import { createSqlSubjectKeyStore, type SubjectKeyStore } from '../src/crypto/subjectKeys.ts';
import { openDatabase, type Database } from '../src/database/database.ts';
import { createScratchDatabase } from '../src/database/scratchDatabase.ts';
import { descriptorToBytes } from '../src/faces/descriptor.ts';
import { createMatcher, type GalleryEntry, type GalleryKey, type Matcher } from '../src/matching/matcher.ts';
import { createGalleryImageFile, type ImageWritten } from '../src/matching/galleryImage.ts';
import { createMatcherFeed, type MatcherLoad } from '../src/matching/matcherFeed.ts';
import { createTemplateOpener } from '../src/matching/templateOpener.ts';
import { aad } from '../src/users/userEvents.ts';
import { createProjectionSchema } from '../projections/checkpoint.ts';
import { usersProjection } from '../projections/users/usersProjection.ts';
import { gaussian, seededRandom } from '../test/support/faces.ts';
import { flag, fmt, median, rate, timed } from './support.ts';

const templateCount = Number(flag('templates', '1000000'));
const runs = Number(flag('runs', '3'));
const stores = flag('store', 'postgres');
const serverUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const D = 128;
const SEED_CHUNK = 5000;
const BASELINE_PAGE = 5000;
const PROBES = 200;
const CHECKPOINT = 987_654n;
const TENANTS: ReadonlyArray<{ id: string; share: number }> = [
  { id: 'ten_large', share: 0.55 },
  { id: 'ten_medium', share: 0.25 },
  { id: 'ten_small', share: 0.12 },
  { id: 'ten_smaller', share: 0.06 },
  { id: 'ten_tiny', share: 0.015 },
  { id: 'ten_new', share: 0.005 },
];

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Probe {
  readonly key: GalleryKey;
  readonly templateId: string;
  readonly descriptor: Float32Array;
}

/** What the seeded read model holds, to check every load against. */
interface Seeded {
  readonly rows: number;
  readonly users: number;
  readonly erasedUsers: number;
  /** Templates of users whose key is live: what a load must add. */
  readonly loadable: number;
  readonly perGallery: Map<string, number>;
  readonly probes: Probe[];
}

const galleryName = (key: GalleryKey) => `${key.mode}:${key.tenantId}`;

function hexId(prefix: string, random: () => number): string {
  let hex = '';
  for (let i = 0; i < 4; i++) hex += Math.floor(random() * 2 ** 32).toString(16).padStart(8, '0');
  return `${prefix}_${hex}`;
}

function pickTenant(random: () => number): string {
  let r = random();
  for (const tenant of TENANTS) {
    if (r < tenant.share) return tenant.id;
    r -= tenant.share;
  }
  return TENANTS[0]!.id;
}

function randomDescriptor(random: () => number): Float32Array {
  const values = new Float32Array(D);
  let norm = 0;
  for (let j = 0; j < D; j++) {
    values[j] = gaussian(random);
    norm += values[j]! * values[j]!;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let j = 0; j < D; j++) values[j] = values[j]! * scale;
  return values;
}

/** One seeded user: their key, gallery and templates; the same sequence for the same count. */
interface SeedUser {
  readonly userId: string;
  readonly keyId: string;
  readonly key: Buffer;
  readonly erased: boolean;
  readonly gallery: GalleryKey;
  readonly templates: ReadonlyArray<{ readonly templateId: string; readonly descriptor: Float32Array }>;
}

function* seedUsers(count: number): Generator<SeedUser> {
  const random = seededRandom(count);
  for (let rows = 0; rows < count; ) {
    const userId = hexId('usr', random);
    const keyId = hexId('dk', random);
    const key = Buffer.from(Array.from({ length: 32 }, () => Math.floor(random() * 256)));
    const erased = random() < 0.02;
    const r = random();
    const own = Math.min(count - rows, r < 0.7 ? 1 : r < 0.92 ? 2 : 3);
    const gallery: GalleryKey = { tenantId: pickTenant(random), mode: random() < 0.9 ? 'live' : 'test' };
    const templates = Array.from({ length: own }, () => ({ templateId: hexId('tpl', random), descriptor: randomDescriptor(random) }));
    rows += own;
    yield { userId, keyId, key, erased, gallery, templates };
  }
}

interface SeedChunk {
  readonly templates: { id: string[]; user: string[]; tenant: string[]; mode: string[]; sealed: string[] };
  readonly keys: { subject: string[]; keyId: string[]; wrappedHex: Array<string | null> };
}

const emptyChunk = (): SeedChunk => ({ templates: { id: [], user: [], tenant: [], mode: [], sealed: [] }, keys: { subject: [], keyId: [], wrappedHex: [] } });

async function writeChunk(db: Kysely<any>, chunk: SeedChunk): Promise<void> {
  const { templates, keys } = chunk;
  if (keys.subject.length > 0) {
    await sql`
      insert into crypto.subject_keys (subject_id, key_id, wrapped_key, destroyed_at)
      select s, k, decode(w, 'hex'), case when w is null then now() end
      from unnest(${keys.subject}::text[], ${keys.keyId}::text[], ${keys.wrappedHex}::text[]) as x(s, k, w)`.execute(db);
  }
  if (templates.id.length > 0) {
    await sql`
      insert into rm_users.templates (template_id, user_id, tenant_id, mode, descriptor_sealed, quality, source, model, created_at)
      select t, u, te, m, d, 0.8, 'descriptor', 'faceRecognitionNet', now()
      from unnest(${templates.id}::text[], ${templates.user}::text[], ${templates.tenant}::text[], ${templates.mode}::text[], ${templates.sealed}::text[]) as x(t, u, te, m, d)`.execute(db);
  }
}

/** Seeds `count` templates (and their users' keys) and the read model's checkpoint. */
async function seed(db: Kysely<any>, masterKey: Buffer, count: number): Promise<Seeded> {
  await createSqlSubjectKeyStore(db, masterKey);
  await createProjectionSchema(db, usersProjection, 'rm_users', { indexes: false });
  const perGallery = new Map<string, number>();
  const probes: Probe[] = [];
  const probeEvery = Math.max(1, Math.floor(count / PROBES));
  let rows = 0;
  let users = 0;
  let erasedUsers = 0;
  let loadable = 0;
  let chunk = emptyChunk();
  for (const user of seedUsers(count)) {
    users++;
    if (user.erased) erasedUsers++;
    chunk.keys.subject.push(user.userId);
    chunk.keys.keyId.push(user.keyId);
    chunk.keys.wrappedHex.push(user.erased ? null : wrapDataKey(masterKey, user.userId, user.keyId, user.key).toString('hex'));
    for (const { templateId, descriptor } of user.templates) {
      chunk.templates.id.push(templateId);
      chunk.templates.user.push(user.userId);
      chunk.templates.tenant.push(user.gallery.tenantId);
      chunk.templates.mode.push(user.gallery.mode);
      chunk.templates.sealed.push(sealField(user.key, user.userId, Buffer.from(descriptorToBytes(descriptor)), aad.descriptor(templateId)));
      if (!user.erased) {
        loadable++;
        perGallery.set(galleryName(user.gallery), (perGallery.get(galleryName(user.gallery)) ?? 0) + 1);
        if (rows % probeEvery === 0) probes.push({ key: user.gallery, templateId, descriptor });
      }
      rows++;
    }
    if (chunk.templates.id.length >= SEED_CHUNK) {
      await writeChunk(db, chunk);
      chunk = emptyChunk();
    }
  }
  await writeChunk(db, chunk);
  await usersProjection.createIndexes?.(db.withSchema('rm_users'));
  await sql`update rm_users.checkpoint set position = ${CHECKPOINT.toString()}::bigint`.execute(db);
  await sql`vacuum analyze rm_users.templates`.execute(db);
  await sql`vacuum analyze crypto.subject_keys`.execute(db);
  return { rows, users, erasedUsers, loadable, perGallery, probes };
}

/** Throws unless the matcher holds exactly the loadable templates, each probe finding itself. */
async function checkExact(matcher: Matcher, seeded: Seeded, loaded: number, position: bigint): Promise<void> {
  if (loaded !== seeded.loadable || matcher.size() !== seeded.loadable) throw new Error(`loaded ${loaded} (matcher holds ${matcher.size()}), expected ${seeded.loadable}`);
  if (position !== CHECKPOINT) throw new Error(`the feed's position is ${position}, expected the checkpoint ${CHECKPOINT}`);
  for (const [name, expected] of seeded.perGallery) {
    const [mode, tenantId] = [name.slice(0, name.indexOf(':')), name.slice(name.indexOf(':') + 1)];
    const size = matcher.size({ tenantId, mode: mode as 'live' | 'test' });
    if (size !== expected) throw new Error(`gallery ${name} holds ${size}, expected ${expected}`);
  }
  for (const probe of seeded.probes) {
    const { matches } = await matcher.identify(probe.key, probe.descriptor, { maxResults: 1, minSimilarity: 0.99 });
    if (matches[0]?.templateId !== probe.templateId) throw new Error(`identify of template ${probe.templateId} found ${matches[0]?.templateId ?? 'nothing'}`);
  }
}

interface LoadRun {
  readonly ms: number;
  readonly split: MatcherLoad['split'];
  readonly matcherBytes: number;
  /** The matcher's typed arrays of ids after the load. */
  readonly idBytes: number;
  /** CPU time of this process (all its threads) and of the local PostgreSQL server's processes during the load. */
  readonly nodeCpuMs: number;
  readonly postgresCpuMs: number | undefined;
}

/** CPU time so far of every process named postgres (Linux /proc; undefined elsewhere): the server's share of a load on this machine. */
async function postgresCpuMs(): Promise<number | undefined> {
  let entries: string[];
  try {
    entries = await fs.readdir('/proc');
  } catch {
    return undefined;
  }
  // utime and stime are in clock ticks, 100 per second on Linux.
  let ticks = 0;
  for (const entry of entries) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const stat = await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const close = stat.lastIndexOf(')');
    if (close < 0 || stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
    const fields = stat.slice(close + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10;
}

/** How a cold start finds its templates: the read model, or a gallery image first (as the service does); `then` runs on the loaded matcher before it closes. */
interface Start {
  readonly imageFile?: string;
  readonly source: MatcherLoad['source'];
  readonly then?: (matcher: Matcher, position: bigint, keys: SubjectKeyStore) => Promise<void>;
}

/** One cold start (a new key store, matcher and feed), timed and checked exact. */
async function loadOnce(db: Kysely<any>, masterKey: Buffer, seeded: Seeded, server: boolean, start: Start = { source: 'read model' }): Promise<LoadRun> {
  const keys = await createSqlSubjectKeyStore(db, masterKey);
  const threads = os.availableParallelism();
  const matcher = createMatcher({ threads });
  const opener = createTemplateOpener({ masterKey, threads });
  const image = start.imageFile === undefined ? undefined : createGalleryImageFile({ file: start.imageFile, keys });
  const feed = createMatcherFeed({ db, matcher, cipher: createFieldCipher(keys), keys, opener, ...(image ? { image } : {}) });
  // The seeding's garbage is not the load's to collect.
  gc();
  try {
    const cpuBefore = process.cpuUsage();
    const postgresBefore = server ? await postgresCpuMs() : undefined;
    const { ms, value } = await timed(() => feed.load());
    const cpu = process.cpuUsage(cpuBefore);
    const postgresAfter = server ? await postgresCpuMs() : undefined;
    if (value.source !== start.source) throw new Error(`the start read the ${value.source}, not the ${start.source}: ${JSON.stringify(value.image)}`);
    await checkExact(matcher, seeded, value.templates, feed.position());
    await start.then?.(matcher, feed.position(), keys);
    return {
      ms,
      split: value.split,
      matcherBytes: matcher.memoryBytes(),
      idBytes: matcher.idBytes(),
      nodeCpuMs: (cpu.user + cpu.system) / 1000,
      postgresCpuMs: postgresBefore === undefined || postgresAfter === undefined ? undefined : postgresAfter - postgresBefore,
    };
  } finally {
    await opener.close();
    await matcher.close();
  }
}

interface ImageRuns {
  readonly writeMs: number;
  readonly bytes: number;
  readonly restores: readonly LoadRun[];
}

/**
 * The start from a gallery image: a matcher loaded from the read model writes its image (timed),
 * then each run restores it cold, checked exact like a load. The file was just written, so it is
 * read from the page cache, as after a graceful restart.
 */
async function imageRuns(db: Kysely<any>, masterKey: Buffer, seeded: Seeded): Promise<ImageRuns> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-bench-image-'));
  const file = path.join(dir, 'matcher.image');
  try {
    let written: ImageWritten | undefined;
    await loadOnce(db, masterKey, seeded, false, {
      source: 'read model',
      then: async (matcher, position, keys) => {
        written = await createGalleryImageFile({ file, keys }).write(matcher, position);
      },
    });
    const restores: LoadRun[] = [];
    for (let run = 0; run < runs; run++) restores.push(await loadOnce(db, masterKey, seeded, false, { imageFile: file, source: 'image' }));
    return { writeMs: written!.ms, bytes: written!.bytes, restores };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Baseline: addMany alone, in pages like the load's, given the seeded descriptors in the clear; only the addMany calls are timed. */
async function addManyOnce(count: number): Promise<number> {
  const matcher = createMatcher({ threads: os.availableParallelism() });
  let ms = 0;
  let page = new Map<string, { key: GalleryKey; entries: GalleryEntry[] }>();
  let pending = 0;
  const flush = () => {
    const started = performance.now();
    for (const { key, entries } of page.values()) matcher.addMany(key, entries);
    ms += performance.now() - started;
    page = new Map();
    pending = 0;
  };
  try {
    for (const user of seedUsers(count)) {
      if (user.erased) continue;
      const name = galleryName(user.gallery);
      let group = page.get(name);
      if (!group) page.set(name, (group = { key: user.gallery, entries: [] }));
      for (const { templateId, descriptor } of user.templates) group.entries.push({ templateId, userId: user.userId, descriptor });
      pending += user.templates.length;
      if (pending >= BASELINE_PAGE * 2) flush();
    }
    flush();
    return ms;
  } finally {
    await matcher.close();
  }
}

/**
 * Baseline: the load's cryptography alone, on this thread: opening sealed descriptors and
 * unwrapping data keys, each its own AES-256-GCM value (the stored form's cost per value, with
 * the same code as the load's opener). Answers microseconds per value of each.
 */
async function cryptoFloor(): Promise<{ descriptorUs: number; keyUs: number }> {
  const N = 50_000;
  const masterKey = randomBytes(32);
  const key = randomBytes(32);
  const sealed = sealField(key, 'usr_bench', Buffer.from(descriptorToBytes(new Float32Array(D).fill(0.01))), aad.descriptor('tpl_bench'));
  const wrapped = wrapDataKey(masterKey, 'usr_bench', 'key_bench', key);
  const perValue = async (open: () => void) => {
    for (let i = 0; i < 2000; i++) open();
    const { ms } = await timed(async () => {
      for (let i = 0; i < N; i++) open();
    });
    return (ms * 1000) / N;
  };
  return {
    descriptorUs: await perValue(() => openField(key, 'usr_bench', sealed, aad.descriptor('tpl_bench'))),
    keyUs: await perValue(() => unwrapDataKey(masterKey, 'usr_bench', 'key_bench', wrapped)),
  };
}

/** Baseline: the same rows in the same order, read in keyset pages of plain SELECTs, nothing done with them. */
async function baselineOnce(read: (after: string) => Promise<Array<{ template_id: string }>>): Promise<number> {
  const { ms } = await timed(async () => {
    let after = '';
    for (;;) {
      const rows = await read(after);
      if (rows.length === 0) return;
      after = rows.at(-1)!.template_id;
    }
  });
  return ms;
}

const baselineQuery = 'select template_id, user_id, tenant_id, mode, descriptor_sealed from rm_users.templates where template_id > $1 order by template_id limit $2';

/** `server`: the database is a local PostgreSQL server, whose processes' CPU time is counted (PGlite runs in this process). */
async function benchOne(label: string, database: Database, baselineRead: (after: string) => Promise<Array<{ template_id: string }>>, server: boolean): Promise<void> {
  const masterKey = randomBytes(32);
  const seeding = await timed(() => seed(database.db, masterKey, templateCount));
  const seeded = seeding.value;
  console.log(`\n## ${label}`);
  console.log(
    `seeded ${fmt(seeded.rows)} templates of ${fmt(seeded.users)} users (${fmt(seeded.erasedUsers)} erased: ${fmt(seeded.rows - seeded.loadable)} templates to skip), ${seeded.perGallery.size} galleries, in ${fmt(seeding.ms / 1000)} s (not counted)`,
  );
  const loads: LoadRun[] = [];
  const selects: number[] = [];
  const adds: number[] = [];
  for (let run = 0; run < runs; run++) {
    selects.push(await baselineOnce(baselineRead));
    adds.push(await addManyOnce(templateCount));
    loads.push(await loadOnce(database.db, masterKey, seeded, server));
  }
  const ms = median(loads.map((run) => run.ms));
  const select = median(selects);
  const add = median(adds);
  const part = (key: keyof LoadRun['split']) => fmt(median(loads.map((run) => run.split[key])));
  const perMillion = (value: number) => (value * 1_000_000) / seeded.rows;
  console.log(`load: ${fmt(ms)} ms = ${fmt(perMillion(ms))} ms per 1M templates, ${fmt(rate(seeded.loadable, ms))} templates/s (runs: ${loads.map((run) => fmt(run.ms)).join(', ')} ms)`);
  console.log(`  split: reads ${part('readMs')} ms (wall, overlapping), on the opener's threads unwrap ${part('unwrapMs')} ms and decrypt ${part('decryptMs')} ms, on the main thread addMany ${part('addMs')} ms and idle waiting for pages ${part('waitMs')} ms`);
  const pgCpu = loads.every((run) => run.postgresCpuMs !== undefined) ? median(loads.map((run) => run.postgresCpuMs!)) : undefined;
  console.log(
    `  CPU: this process (all threads) ${fmt(median(loads.map((run) => run.nodeCpuMs)))} ms, ${pgCpu === undefined ? 'PostgreSQL in this process' : `PostgreSQL's processes ${fmt(pgCpu)} ms`}; ${os.availableParallelism()} cores x the load's wall time = ${fmt(os.availableParallelism() * ms)} ms`,
  );
  console.log(`baseline, plain keyset SELECT of the same rows: ${fmt(select)} ms = ${fmt(perMillion(select))} ms per 1M; load / baseline = ${fmt(ms / select)}`);
  console.log(`baseline, addMany alone of the same descriptors in the clear: ${fmt(add)} ms = ${fmt(perMillion(add))} ms per 1M; load / baseline = ${fmt(ms / add)}`);
  const floor = await cryptoFloor();
  const keysOpened = seeded.users - seeded.erasedUsers;
  const cryptoMs = (seeded.loadable * floor.descriptorUs + keysOpened * floor.keyUs) / 1000;
  console.log(
    `baseline, the cryptography alone (this thread, the opener's code): ${floor.descriptorUs.toFixed(2)} µs per sealed descriptor, ${floor.keyUs.toFixed(2)} µs per wrapped key; ${fmt(seeded.loadable)} descriptors and ${fmt(keysOpened)} keys = ${fmt(cryptoMs)} ms of CPU (${fmt(perMillion(cryptoMs))} ms per 1M templates, half that on two threads at best)`,
  );
  console.log(`matcher memory: ${fmt(median(loads.map((run) => run.matcherBytes)) / 2 ** 20)} MiB of descriptor storage, ${fmt(median(loads.map((run) => run.idBytes)) / 2 ** 20)} MiB of ids (${fmt((median(loads.map((run) => run.matcherBytes + run.idBytes)) * 1_000_000) / seeded.rows / 2 ** 20)} MiB per 1M templates in all)`);
  console.log(`exact: ${fmt(seeded.loadable)} templates in ${seeded.perGallery.size} galleries, none of the erased users, ${seeded.probes.length} probes found themselves, position = the checkpoint read first`);
  const image = await imageRuns(database.db, masterKey, seeded);
  const restore = median(image.restores.map((run) => run.ms));
  console.log(
    `start from the gallery image: ${fmt(restore)} ms = ${fmt(perMillion(restore))} ms per 1M templates (runs: ${image.restores.map((run) => fmt(run.ms)).join(', ')} ms; CPU ${fmt(median(image.restores.map((run) => run.nodeCpuMs)))} ms), exact as above; restore / load = ${(restore / ms).toFixed(3)}, restore / addMany baseline = ${fmt(restore / add)}`,
  );
  console.log(`  the image: ${fmt(image.bytes / 2 ** 20)} MiB (${fmt((image.bytes * 1_000_000) / seeded.loadable / 2 ** 20)} MiB per 1M templates), written in ${fmt(image.writeMs)} ms`);
}

console.log(`# bench:load  templates=${templateCount} runs=${runs} (medians)  node ${process.version}, ${os.availableParallelism()} cores`);

if (stores === 'all' || stores === 'postgres') {
  const scratch = await createScratchDatabase(serverUrl, 'fs_bench_load');
  const database = await openDatabase({ kind: 'postgres', url: scratch.url });
  const client = new pg.Client({ connectionString: scratch.url });
  await client.connect();
  try {
    const read = async (after: string) => (await client.query<{ template_id: string }>(baselineQuery, [after, BASELINE_PAGE])).rows;
    await benchOne('PostgreSQL', database, read, true);
  } finally {
    await client.end();
    await database.close();
    await scratch.drop();
  }
}

if (stores === 'all' || stores === 'pglite') {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-bench-load-'));
  const database = await openDatabase({ kind: 'pglite', dir });
  try {
    const read = async (after: string) =>
      (await sql<{ template_id: string }>`select template_id, user_id, tenant_id, mode, descriptor_sealed from rm_users.templates where template_id > ${after} order by template_id limit ${BASELINE_PAGE}`.execute(database.db)).rows;
    await benchOne('embedded PGlite (data dir on disk)', database, read, false);
  } finally {
    await database.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}
