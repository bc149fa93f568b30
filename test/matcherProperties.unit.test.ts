// Property tests of the matcher: seeded random histories of adds, removals (which compact small
// shards) and identify calls, sequential (one scan at a time) and concurrent (calls arriving while
// scans run are batched together), every answer compared with a float32 brute force in the
// kernel's summation order, so that similarities must agree to the last bit.
import test, { type ExecutionContext } from 'ava';
import { squaredDistance } from '../src/matching/distance.ts';
import { createMatcher, type GalleryEntry, type GalleryKey, type IdentifyOptions, type IdentifyResult, type MatchCandidate, type Matcher, type MatcherOptions } from '../src/matching/matcher.ts';
import { bruteForce as referenceBruteForce } from './support/bruteForce.ts';
import { gaussian, seededRandom } from './support/faces.ts';

const D = 128;
const STEPS = 10;

type Kind = 'random' | 'clustered' | 'scaled';

/**
 * A source of descriptors: isotropic unit vectors; people (a shared direction plus their own)
 * with noisy templates; or people whose descriptors are scaled by 0.3-4, so that many values lie
 * beyond the int8 codes' range (clamped codes, large residuals).
 */
function source(kind: Kind, seed: number) {
  const random = seededRandom(seed);
  const unit = () => {
    const v = new Float32Array(D).map(() => gaussian(random));
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  };
  const base = unit();
  const centers: Float32Array[] = [];
  const person = (): Float32Array => {
    const own = unit();
    const center = own.map((x, j) => (x + base[j]!) / Math.SQRT2);
    centers.push(center);
    return center;
  };
  const noisy = (center: Float32Array, noise: number) => {
    const scale = kind === 'scaled' ? 0.3 + 3.7 * random() : 1;
    return center.map((x) => scale * (x + (noise * gaussian(random)) / Math.sqrt(D)));
  };
  return {
    random,
    /** Templates of a new user. */
    templates(count: number): Float32Array[] {
      if (kind === 'random') return Array.from({ length: count }, unit);
      const center = person();
      return Array.from({ length: count }, () => noisy(center, 0.25));
    },
    /** A query: near a known person (clustered), or anywhere. */
    query(): Float32Array {
      if (kind === 'random' || centers.length === 0 || random() < 0.2) return unit();
      return noisy(centers[Math.floor(random() * centers.length)]!, 0.3);
    },
  };
}

/** Float32 brute force in the kernel's summation order. */
const bruteForce = (entries: Iterable<GalleryEntry>, query: Float32Array, options: IdentifyOptions): MatchCandidate[] => referenceBruteForce(entries, query, options, (a, b) => squaredDistance(a, 0, b));

// No scan may time out here: a loaded machine (or a cold pool) must not turn into a failure.
const patient = { taskTimeoutMs: 600_000 };
const configs: Record<string, MatcherOptions> = {
  'pool of 2 threads, small shards': { threads: 2, rowsPerShard: 48, inlineRows: 0, ...patient },
  'pool of 1 thread, one large shard': { threads: 1, rowsPerShard: 4096, inlineRows: 0, ...patient },
  'compactions copied on the pool, 2 threads': { threads: 2, rowsPerShard: 48, inlineRows: 0, compactOffThreadRows: 0, ...patient },
  'SIMD128 kernel alone, 2 threads': { threads: 2, rowsPerShard: 48, inlineRows: 0, scan: 'quantized-simd128', ...patient },
  'inline on the calling thread': { threads: 1, rowsPerShard: 48, inlineRows: Number.POSITIVE_INFINITY, ...patient },
  'float scan, 2 threads': { threads: 2, rowsPerShard: 48, inlineRows: 0, scan: 'float', ...patient },
};

const matchers: Matcher[] = [];
test.after.always(async () => {
  await Promise.all(matchers.map((matcher) => matcher.close()));
});

function randomOptions(random: () => number, users: readonly string[]): IdentifyOptions {
  const pick = random();
  const maxResults = pick < 0.3 ? 1 : pick < 0.6 ? 5 : 1 + Math.floor(random() * 50);
  const minSimilarity = random() < 0.5 ? 0 : Math.round(random() * 80) / 100;
  const excludeUserId = random() < 0.2 && users.length > 0 ? users[Math.floor(random() * users.length)] : undefined;
  if (excludeUserId !== undefined) return { maxResults, minSimilarity, excludeUserId };
  // What the service's identify asks: who is within the threshold, and the nearest user for a miss.
  return random() < 0.4 ? { maxResults, minSimilarity, nearest: true } : { maxResults, minSimilarity };
}

async function history(t: ExecutionContext, matcher: Matcher, kind: Kind, seed: number): Promise<number> {
  const key: GalleryKey = { tenantId: `${kind}-${seed}`, mode: 'live' };
  const data = source(kind, seed);
  const { random } = data;
  const live = new Map<string, GalleryEntry>();
  const users = new Map<string, string[]>();
  let nextUser = 0;
  let checked = 0;
  const addUsers = (count: number) => {
    for (let u = 0; u < count; u++) {
      const userId = `u${seed}-${nextUser++}`;
      const templates = data.templates(1 + Math.floor(random() * 6));
      const ids = templates.map((descriptor, i) => {
        const entry = { templateId: `t${seed}-${nextUser}-${i}`, userId, descriptor };
        matcher.add(key, entry);
        live.set(entry.templateId, entry);
        return entry.templateId;
      });
      users.set(userId, ids);
    }
  };
  const check = async (concurrent: boolean) => {
    const userIds = [...users.keys()];
    const asks = Array.from({ length: concurrent ? 12 : 4 }, () => ({ query: data.query(), options: randomOptions(random, userIds) }));
    // Snapshotted before the calls: nothing changes the gallery until they have all answered.
    const expected = asks.map(({ query, options }) => bruteForce(live.values(), query, options));
    const nearest = asks.map(({ query, options }) => (options.nearest ? bruteForce(live.values(), query, { maxResults: 1, minSimilarity: 0 })[0] : undefined));
    const answers = concurrent
      ? await Promise.all(asks.map(({ query, options }) => matcher.identify(key, query, options)))
      : await asks.reduce<Promise<IdentifyResult[]>>(async (done, { query, options }) => [...(await done), await matcher.identify(key, query, options)], Promise.resolve([]));
    const name = (m: MatchCandidate | undefined) => (m ? `${m.userId}/${m.templateId}/${m.similarity}` : 'none');
    answers.forEach((answer, i) => {
      const { matches, totalCompared } = answer;
      const label = `${kind} seed ${seed}, ${concurrent ? 'concurrent' : 'sequential'} ask ${i} ${JSON.stringify(asks[i]!.options)}`;
      const got = matches.map(name);
      const want = expected[i]!.map(name);
      if (JSON.stringify(got) !== JSON.stringify(want)) t.deepEqual(got, want, label);
      if (asks[i]!.options.nearest && name(answer.nearest) !== name(nearest[i])) t.is(name(answer.nearest), name(nearest[i]), `${label}: nearest`);
      if (!asks[i]!.options.nearest && 'nearest' in answer) t.fail(`${label}: nearest was not asked for`);
      if (totalCompared !== live.size) t.is(totalCompared, live.size, label);
      checked++;
    });
  };

  addUsers(60);
  for (let step = 0; step < STEPS; step++) {
    const action = random();
    if (action < 0.3) addUsers(5 + Math.floor(random() * 40));
    else if (action < 0.6) {
      // Removing many templates makes shards cross the compaction fraction.
      for (const [templateId, entry] of [...live]) {
        if (random() < 0.15 && matcher.removeTemplate(key, templateId)) {
          live.delete(templateId);
          const left = users.get(entry.userId)!.filter((id) => id !== templateId);
          if (left.length === 0) users.delete(entry.userId);
          else users.set(entry.userId, left);
        }
      }
    } else if (action < 0.8) {
      for (const userId of [...users.keys()]) {
        if (random() < 0.2) {
          const count = matcher.removeUser(key, userId);
          if (count !== users.get(userId)!.length) t.is(count, users.get(userId)!.length, `removeUser ${userId}`);
          for (const templateId of users.get(userId)!) live.delete(templateId);
          users.delete(userId);
        }
      }
    } else if (action < 0.9) {
      // A restart from the gallery image: what slices gave, added back into a cleared matcher (its codes copied, not computed).
      const slices = [...matcher.slices(1 + Math.floor(random() * 100))];
      matcher.clear();
      for (const slice of slices) matcher.addSlice(slice);
    }
    if (matcher.size(key) !== live.size) t.is(matcher.size(key), live.size, 'size');
    await check(random() < 0.5);
  }
  await check(true);
  await check(false);
  return checked;
}

for (const [name, options] of Object.entries(configs)) {
  for (const kind of ['random', 'clustered', 'scaled'] as const) {
    test(`${name}, ${kind} galleries: every answer of a history of adds, removals, compactions and restores from slices equals the brute force`, async (t) => {
      const matcher = createMatcher(options);
      matchers.push(matcher);
      let checked = 0;
      for (const seed of [1, 2]) checked += await history(t, matcher, kind, seed + { random: 0, clustered: 100, scaled: 200 }[kind]);
      t.true(checked >= 2 * (STEPS * 4 + 16), `${checked} answers compared`);
      if (options.compactOffThreadRows === 0) t.true(matcher.scanStats().offThreadCompactions > 0, 'compactions were copied on the pool');
    });
  }
}

test('concurrent calls on several galleries of one matcher each get their own gallery\'s answer', async (t) => {
  const matcher = createMatcher({ threads: 2, rowsPerShard: 64, inlineRows: 0, ...patient });
  matchers.push(matcher);
  const galleries = [0, 1, 2].map((g) => {
    const data = source('clustered', 500 + g);
    const key: GalleryKey = { tenantId: `g${g}`, mode: g === 2 ? 'test' : 'live' };
    const entries: GalleryEntry[] = [];
    for (let u = 0; u < 80; u++) data.templates(1 + (u % 4)).forEach((descriptor, i) => entries.push({ templateId: `g${g}-t${u}-${i}`, userId: `g${g}-u${u}`, descriptor }));
    for (const entry of entries) matcher.add(key, entry);
    return { key, entries, data };
  });
  const asks = Array.from({ length: 30 }, (_, i) => {
    const gallery = galleries[i % 3]!;
    return { gallery, query: gallery.data.query(), options: { maxResults: 1 + (i % 7), minSimilarity: i % 2 === 0 ? 0 : 0.4 } };
  });
  const answers = await Promise.all(asks.map(({ gallery, query, options }) => matcher.identify(gallery.key, query, options)));
  answers.forEach(({ matches }, i) => {
    const { gallery, query, options } = asks[i]!;
    t.deepEqual(matches, bruteForce(gallery.entries, query, options), `ask ${i}`);
  });
});
