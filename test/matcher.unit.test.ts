import { bruteForce as referenceBruteForce } from './support/bruteForce.ts';
import test, { type ExecutionContext } from 'ava';
import { hasCode } from '../src/errors/appError.ts';
import { BATCH_BLOCK, compileKernel, loadKernel, relaxedSimd, sharedBounds, SLOT_BYTE_CODES, SLOT_WIDE_CODES, unpackCandidates } from '../workers/matcherKernel.ts';
import { wasm } from '../src/matching/wasm.ts';
import { QUERY_HEAD_CODE_SCALE, quantizeQuery, quantizeRow, squaredDistance, squaredNorm } from '../src/matching/distance.ts';
import { copyRows, createShard, type RowIds } from '../src/matching/shard.ts';
import { createGallery } from '../src/matching/gallery.ts';
import { createMatcher, type GalleryEntry, type GalleryKey, type IdentifyOptions, type MatchCandidate, type Matcher, type MatcherOptions } from '../src/matching/matcher.ts';

import { gaussian, seededRandom } from './support/faces.ts';

const D = 128;
// For the kernel tests that fill a shard directly: row i was appended with handle i.
const rowIds: RowIds = { live: () => true, templateId: (handle) => `t${handle}`, userId: (handle) => `u${handle}` };

interface Person {
  readonly userId: string;
  readonly center: Float32Array;
}

/** People whose centers share a direction (so strangers sit ~1 apart) and 1–6 noisy templates each. */
function clustered(seed: number, people: number): { entries: GalleryEntry[]; persons: Person[]; near: (random: () => number) => Float32Array } {
  const random = seededRandom(seed);
  const base = Array.from({ length: D }, () => gaussian(random) / Math.sqrt(D));
  const persons: Person[] = [];
  const entries: GalleryEntry[] = [];
  const noisy = (center: Float32Array, noise: number) => center.map((x) => x + (noise * gaussian(random)) / Math.sqrt(D));
  for (let p = 0; p < people; p++) {
    const center = new Float32Array(D).map((_, j) => (base[j]! + gaussian(random) / Math.sqrt(D)) / Math.SQRT2);
    const person = { userId: `user-${seed}-${p}`, center };
    persons.push(person);
    const templates = 1 + Math.floor(random() * 6);
    for (let t = 0; t < templates; t++) entries.push({ templateId: `tpl-${seed}-${p}-${t}`, userId: person.userId, descriptor: noisy(center, 0.25) });
  }
  const near = (r: () => number) => noisy(persons[Math.floor(r() * persons.length)]!.center, 0.3);
  return { entries, persons, near };
}

/** Squared distance in float32, summed one float at a time. */
function naiveSquared(a: Float32Array, b: Float32Array): number {
  const f = Math.fround;
  let squared = 0;
  for (let i = 0; i < D; i++) {
    const e = f(a[i]! - b[i]!);
    squared = f(squared + f(e * e));
  }
  return squared;
}

/** Squared distance in float32 in the kernel's summation order. */
const kernelOrderSquared = (a: Float32Array, b: Float32Array) => squaredDistance(a, 0, b);

/** The reference: every entry measured (naively, unless told), then the contract's rules. */
const bruteForce = (entries: readonly GalleryEntry[], query: Float32Array, options: IdentifyOptions, distance = naiveSquared): MatchCandidate[] => referenceBruteForce(entries, query, options, distance);

function sameMatches(t: ExecutionContext, actual: readonly MatchCandidate[], expected: readonly MatchCandidate[], label: string, tolerance = 1e-5): void {
  t.deepEqual(
    actual.map((m) => `${m.userId}/${m.templateId}`),
    expected.map((m) => `${m.userId}/${m.templateId}`),
    label,
  );
  actual.forEach((m, i) => t.true(Math.abs(m.similarity - expected[i]!.similarity) <= tolerance, `${label}: similarity of ${m.templateId}`));
}

const optionSets: IdentifyOptions[] = [
  { maxResults: 1, minSimilarity: 0 },
  { maxResults: 5, minSimilarity: 0 },
  { maxResults: 10, minSimilarity: 0.3 },
  { maxResults: 50, minSimilarity: 0 },
  { maxResults: 3, minSimilarity: 0.6 },
];

// Small shards so that every gallery spans many of them; inlineRows 0 sends every scan to the pool.
const configs: Record<string, MatcherOptions> = {
  'quantized scan, 1 thread': { threads: 1, rowsPerShard: 64, inlineRows: 0 },
  'quantized scan, 2 threads': { threads: 2, rowsPerShard: 64, inlineRows: 0 },
  'quantized scan on SIMD128 alone, 2 threads': { threads: 2, rowsPerShard: 64, inlineRows: 0, scan: 'quantized-simd128' },
  'float scan, 2 threads': { threads: 2, rowsPerShard: 64, inlineRows: 0, scan: 'float' },
  'inline on the calling thread': { threads: 1, rowsPerShard: 64, inlineRows: Number.POSITIVE_INFINITY },
};
const matchers = new Map<string, Matcher>();
const matcherFor = (name: string): Matcher => {
  let matcher = matchers.get(name);
  if (!matcher) {
    matcher = createMatcher(configs[name]!);
    matchers.set(name, matcher);
  }
  return matcher;
};
test.after.always(async () => {
  await Promise.all([...matchers.values()].map((matcher) => matcher.close()));
});

let galleries = 0;
const freshKey = (): GalleryKey => ({ tenantId: `tenant-${++galleries}`, mode: 'live' });

async function expectReference(t: ExecutionContext, matcher: Matcher, key: GalleryKey, live: readonly GalleryEntry[], queries: readonly Float32Array[], extra: Partial<IdentifyOptions> = {}, exact = false): Promise<void> {
  for (const [q, query] of queries.entries()) {
    for (const base of optionSets) {
      const options = { ...base, ...extra };
      const { matches, totalCompared } = await matcher.identify(key, query, options);
      const expected = bruteForce(live, query, options, exact ? kernelOrderSquared : naiveSquared);
      sameMatches(t, matches, expected, `query ${q}, ${JSON.stringify(options)}`, exact ? 0 : 1e-5);
      t.is(totalCompared, live.length);
    }
  }
}

for (const name of Object.keys(configs)) {
  test(`${name}: identify returns the best template of each user, best first, as a float32 brute force does`, async (t) => {
    const matcher = matcherFor(name);
    const key = freshKey();
    const { entries, near } = clustered(11, 120);
    for (const entry of entries) matcher.add(key, entry);
    const random = seededRandom(5);
    const queries = [...Array.from({ length: 4 }, () => near(random)), entries[7]!.descriptor];
    await expectReference(t, matcher, key, entries, queries);
  });

  test(`${name}: identify stays exact after removeTemplate, removeUser and compaction`, async (t) => {
    const matcher = matcherFor(name);
    const key = freshKey();
    const { entries, persons, near } = clustered(23, 120);
    for (const entry of entries) matcher.add(key, entry);
    const removedUsers = new Set(persons.filter((_, i) => i % 3 === 0).map((p) => p.userId));
    let removed = 0;
    for (const userId of removedUsers) removed += matcher.removeUser(key, userId);
    const removedTemplates = new Set(entries.filter((e, i) => !removedUsers.has(e.userId) && i % 4 === 1).map((e) => e.templateId));
    for (const templateId of removedTemplates) t.true(matcher.removeTemplate(key, templateId));
    t.false(matcher.removeTemplate(key, [...removedTemplates][0]!), 'a second removal finds nothing');
    const live = entries.filter((e) => !removedUsers.has(e.userId) && !removedTemplates.has(e.templateId));
    t.is(removed, entries.length - live.length - removedTemplates.size);
    t.is(matcher.size(key), live.length);
    const random = seededRandom(6);
    const queries = [near(random), near(random), entries[0]!.descriptor];
    await expectReference(t, matcher, key, live, queries);
    // Templates added after compaction land in the freed space and are found like any other.
    const { entries: more } = clustered(24, 20);
    for (const entry of more) matcher.add(key, entry);
    await expectReference(t, matcher, key, [...live, ...more], [more[0]!.descriptor, near(random)]);
  });

  test(`${name}: excludeUserId leaves out that user's templates and stays exact`, async (t) => {
    const matcher = matcherFor(name);
    const key = freshKey();
    const { entries } = clustered(31, 80);
    for (const entry of entries) matcher.add(key, entry);
    const self = entries[10]!;
    await expectReference(t, matcher, key, entries, [self.descriptor], { excludeUserId: self.userId });
    const { matches } = await matcher.identify(key, self.descriptor, { maxResults: 5, minSimilarity: 0, excludeUserId: self.userId });
    t.false(matches.some((m) => m.userId === self.userId));
  });

  test(`${name}: identify and verify report the same similarity to the last bit`, async (t) => {
    const matcher = matcherFor(name);
    const key = freshKey();
    const { entries, near } = clustered(41, 60);
    for (const entry of entries) matcher.add(key, entry);
    const query = near(seededRandom(9));
    const { matches } = await matcher.identify(key, query, { maxResults: 10, minSimilarity: 0 });
    for (const match of matches) t.is(matcher.verify(key, match.userId, query)[0]!.similarity, match.similarity);
  });
}

// With norms in the hundreds, strangers differ by fewer float32 ulps than two summation orders do,
// so this reference sums in the kernel's order: then even the last bit must agree.
test('duplicates, zero vectors and large norms rank exactly as a brute force in the same float order', async (t) => {
  const random = seededRandom(99);
  const { entries } = clustered(98, 60);
  const odd: GalleryEntry[] = [
    ...entries.slice(0, 5).map((e, i) => ({ templateId: `dup-${i}`, userId: `twin-${i}`, descriptor: e.descriptor.slice() })),
    { templateId: 'zero', userId: 'zero-user', descriptor: new Float32Array(D) },
    ...Array.from({ length: 5 }, (_, i) => ({ templateId: `big-${i}`, userId: `big-${i}`, descriptor: new Float32Array(D).map(() => 40 * gaussian(random)) })),
    { templateId: 'spike', userId: 'spike-user', descriptor: new Float32Array(D).map((_, j) => (j === 3 ? 2 : 0.001 * gaussian(random))) },
  ];
  const all = [...entries, ...odd];
  const queries = [entries[0]!.descriptor, entries[3]!.descriptor, new Float32Array(D), odd.at(-1)!.descriptor, odd[7]!.descriptor];
  for (const name of ['quantized scan, 2 threads', 'float scan, 2 threads', 'inline on the calling thread']) {
    const matcher = matcherFor(name);
    const key = freshKey();
    for (const entry of all) matcher.add(key, entry);
    await expectReference(t, matcher, key, all, queries, {}, true);
  }
});

test('verify compares against every live template of the user, best first', (t) => {
  const matcher = matcherFor('inline on the calling thread');
  const key = freshKey();
  const { entries } = clustered(51, 30);
  for (const entry of entries) matcher.add(key, entry);
  const owner = entries.find((e) => entries.filter((x) => x.userId === e.userId).length >= 3)!;
  const own = entries.filter((e) => e.userId === owner.userId);
  const expected = own
    .map((e) => ({ templateId: e.templateId, similarity: bruteForce([e], owner.descriptor, { maxResults: 1, minSimilarity: 0 })[0]!.similarity }))
    .sort((a, b) => b.similarity - a.similarity);
  const verified = matcher.verify(key, owner.userId, owner.descriptor);
  t.deepEqual(verified.map((m) => m.templateId), expected.map((m) => m.templateId));
  verified.forEach((m, i) => t.true(Math.abs(m.similarity - expected[i]!.similarity) <= 1e-5));
  t.true(verified.every((m) => m.userId === owner.userId));
  t.is(verified[0]!.similarity, 1);
  matcher.removeTemplate(key, own[1]!.templateId);
  t.is(matcher.verify(key, owner.userId, owner.descriptor).length, own.length - 1);
  matcher.removeUser(key, owner.userId);
  t.deepEqual(matcher.verify(key, owner.userId, owner.descriptor), []);
  t.deepEqual(matcher.verify(key, 'nobody', owner.descriptor), []);
  t.deepEqual(matcher.verify({ tenantId: 'no-such-tenant', mode: 'live' }, owner.userId, owner.descriptor), []);
});

test('addMany checks every entry before adding any, skips templates already there and answers like add', async (t) => {
  const matcher = matcherFor('quantized scan, 2 threads');
  const key = freshKey();
  const { entries, near } = clustered(131, 60);
  const bad = { templateId: 'bad', userId: 'u', descriptor: new Float32Array(D).fill(Number.NaN) };
  t.true(throwsCode(() => matcher.addMany(key, [...entries.slice(0, 10), bad]), 'VALIDATION_ERROR'));
  t.is(matcher.size(key), 0, 'nothing was added');
  t.is(matcher.addMany(key, entries.slice(0, 20)), 20);
  t.is(matcher.addMany(key, entries), entries.length - 20);
  t.is(matcher.size(key), entries.length);
  await expectReference(t, matcher, key, entries, [near(seededRandom(3)), entries[5]!.descriptor]);
});

test("slices give every live template once with the codes its shard stores; addMany of them with those codes builds the same shards as computing them, and answers like a brute force", async (t) => {
  // Matchers of its own: this test clears one.
  const source = createMatcher(configs['inline on the calling thread']!);
  const key = freshKey();
  const other: GalleryKey = { tenantId: `${key.tenantId}-other`, mode: 'test' };
  const random = seededRandom(77);
  const { entries, near } = clustered(171, 120);
  // Odd rows too: clamped codes and a head past the residual cap.
  const odd: GalleryEntry[] = [
    { templateId: 'big', userId: 'big-user', descriptor: new Float32Array(D).map(() => 3 * gaussian(random)) },
    { templateId: 'spike', userId: 'spike-user', descriptor: new Float32Array(D).map((_, j) => (j === 3 ? 1.4 : 0.001 * gaussian(random))) },
  ];
  const all = [...entries, ...odd];
  source.addMany(key, all);
  source.addMany(other, entries.slice(0, 30));
  const removed = all.filter((_, i) => i % 9 === 4);
  for (const entry of removed) source.removeTemplate(key, entry.templateId);
  const live = all.filter((entry) => !removed.includes(entry));
  const leftOut = live[0]!.userId;

  const slices = [...source.slices(17, (userId) => userId !== leftOut)];
  t.true(slices.every((slice) => slice.templateIds.length <= 17));
  const ofKey = slices.filter((slice) => slice.key.tenantId === key.tenantId && slice.key.mode === key.mode);
  const sliced = ofKey.flatMap((slice) => slice.templateIds);
  t.deepEqual([...sliced].sort(), live.filter((entry) => entry.userId !== leftOut).map((entry) => entry.templateId).sort(), 'each live template once, none of the refused user');
  t.is(slices.filter((slice) => slice.key.mode === 'test').flatMap((slice) => slice.templateIds).length, entries.slice(0, 30).filter((entry) => entry.userId !== leftOut).length);

  // What a slice says is stored is what the quantization gives its descriptor.
  const codes = new Int8Array(D);
  for (const slice of slices) {
    slice.templateIds.forEach((templateId, i) => {
      const descriptor = slice.descriptors.subarray(i * D, (i + 1) * D);
      const terms = quantizeRow(descriptor, codes, 0);
      const { stored } = slice;
      t.deepEqual([...stored.head.subarray(i * 64, (i + 1) * 64), ...stored.tail.subarray(i * 64, (i + 1) * 64)], [...codes], `codes of ${templateId}`);
      t.deepEqual(
        [stored.headBases[i], stored.fullBases[i], stored.residuals[i], stored.norms[i]],
        [terms.headBase, terms.fullBase, Math.fround(terms.residual), Math.fround(squaredNorm(descriptor))],
        `terms of ${templateId}`,
      );
    });
  }
  const copied = createMatcher(configs['quantized scan, 2 threads']!);
  const computed = createMatcher(configs['quantized scan, 2 threads']!);
  t.teardown(() => Promise.all([source.close(), copied.close(), computed.close()]).then(() => undefined));
  for (const slice of slices) {
    const sliceEntries = slice.templateIds.map((templateId, i) => ({ templateId, userId: slice.userIds[i]!, descriptor: slice.descriptors.subarray(i * D, (i + 1) * D) }));
    t.is(copied.addSlice(slice), sliceEntries.length);
    computed.addMany(slice.key, sliceEntries);
  }
  const again = (matcher: Matcher) => [...matcher.slices(1000)];
  t.deepEqual(again(copied), again(computed), 'the same descriptors, codes and terms either way');
  const kept = live.filter((entry) => entry.userId !== leftOut);
  await expectReference(t, copied, key, kept, [near(seededRandom(5)), kept[3]!.descriptor, odd[1]!.descriptor, odd[0]!.descriptor]);
  // Twice the same slice adds nothing; a slice whose parts disagree, or with a NaN, is refused whole.
  t.is(copied.addSlice(ofKey[0]!), 0);
  const [first] = ofKey;
  t.true(throwsCode(() => copied.addSlice({ ...first!, templateIds: first!.templateIds.map((id) => `${id}-x`), userIds: first!.userIds.slice(1) }), 'VALIDATION_ERROR'), 'ids of fewer rows');
  const nan = first!.descriptors.slice();
  nan[D + 3] = Number.NaN;
  t.true(throwsCode(() => copied.addSlice({ ...first!, templateIds: first!.templateIds.map((id) => `${id}-y`), descriptors: nan }), 'VALIDATION_ERROR'), 'a NaN');
  t.is(copied.size(key), kept.length);
  source.clear();
  t.is(source.size(), 0);
  t.deepEqual([...source.slices(10)], []);
});

test('a second add of the same templateId is ignored', async (t) => {
  const matcher = matcherFor('inline on the calling thread');
  const key = freshKey();
  const { entries } = clustered(61, 10);
  for (const entry of entries) matcher.add(key, entry);
  const first = entries[0]!;
  matcher.add(key, { templateId: first.templateId, userId: 'someone-else', descriptor: entries[1]!.descriptor });
  t.is(matcher.size(key), entries.length);
  const { matches } = await matcher.identify(key, first.descriptor, { maxResults: 1, minSimilarity: 0.99 });
  t.deepEqual(matches.map((m) => [m.userId, m.templateId]), [[first.userId, first.templateId]]);
  t.deepEqual(matcher.verify(key, 'someone-else', first.descriptor), []);
});

test('galleries of other tenants and modes never see each other; size counts each and all', async (t) => {
  const matcher = createMatcher({ threads: 1, rowsPerShard: 16, inlineRows: 0 });
  t.teardown(() => matcher.close());
  const a: GalleryKey = { tenantId: 'tenant-a', mode: 'live' };
  const aTest: GalleryKey = { tenantId: 'tenant-a', mode: 'test' };
  const b: GalleryKey = { tenantId: 'tenant-b', mode: 'live' };
  const { entries } = clustered(71, 20);
  const [forA, forATest, forB] = [entries.slice(0, 20), entries.slice(20, 35), entries.slice(35)];
  for (const entry of forA) matcher.add(a, entry);
  for (const entry of forATest) matcher.add(aTest, entry);
  for (const entry of forB) matcher.add(b, entry);
  t.is(matcher.size(a), forA.length);
  t.is(matcher.size(aTest), forATest.length);
  t.is(matcher.size(b), forB.length);
  t.is(matcher.size(), entries.length);
  t.is(matcher.size({ tenantId: 'tenant-c', mode: 'live' }), 0);
  for (const [key, own] of [[a, forA], [aTest, forATest], [b, forB]] as const) {
    const ids = new Set(own.map((e) => e.templateId));
    for (const probe of entries.slice(0, 40)) {
      const { matches } = await matcher.identify(key, probe.descriptor, { maxResults: 50, minSimilarity: 0 });
      t.true(matches.every((m) => ids.has(m.templateId)));
    }
  }
  t.is(matcher.removeUser(b, forA[0]!.userId), 0, "another gallery's user is not there");
  t.false(matcher.removeTemplate(aTest, forA[0]!.templateId));
  t.deepEqual(await matcher.identify({ tenantId: 'tenant-c', mode: 'live' }, entries[0]!.descriptor, { maxResults: 5, minSimilarity: 0 }), { matches: [], totalCompared: 0 });
  t.true(matcher.memoryBytes() > 0);
});

test('a shard with more than a quarter tombstoned is compacted into a new memory, keeping its live rows', (t) => {
  const gallery = createGallery({ rowsPerShard: 8, compactFraction: 0.25 });
  const descriptor = (i: number) => new Float32Array(D).fill(i / 100);
  for (let i = 0; i < 12; i++) gallery.add(`t${i}`, `u${i % 3}`, descriptor(i));
  const [first, second] = gallery.shards();
  t.is(gallery.maxTemplatesPerUser, 4);
  t.true(gallery.removeTemplate('t0'));
  t.true(gallery.removeTemplate('t1'));
  t.is(gallery.shards()[0], first, '2 of 8 tombstoned is not more than a quarter');
  t.true(gallery.removeTemplate('t2'));
  const compacted = gallery.shards()[0]!;
  t.not(compacted, first);
  t.true(first!.retired);
  t.not(compacted.memory, first!.memory);
  t.is(compacted.count, 5);
  t.is(compacted.dead, 0);
  t.is(gallery.shards()[1], second);
  for (let i = 3; i < 12; i++) {
    const { shard, row } = gallery.locate(`t${i}`)!;
    t.deepEqual([...shard.descriptor(row)], [...descriptor(i)]);
    t.true(gallery.holds(shard, row, `t${i}`));
  }
  t.false(gallery.holds(first!, 0, 't0'));
  t.is(gallery.size, 9);
  t.is(gallery.removeUser('u0'), 3);
  t.is(gallery.maxTemplatesPerUser, 3);
  t.true(gallery.add('t12', 'u1', descriptor(12)));
  t.is(gallery.maxTemplatesPerUser, 4);
});

test("a user's templates are kept in order through one, several and none, and every row of the user names them", (t) => {
  const gallery = createGallery({ rowsPerShard: 4, compactFraction: 0.5 });
  const descriptor = (i: number) => new Float32Array(D).fill(i / 100);
  // A fresh string for every call, as pages read at different times give them (the rows share the
  // first one's, which only memory shows).
  const user = () => ['u', 'ser'].join('');
  const rowsOf = (templateIds: readonly string[]) => templateIds.map((id) => gallery.locate(id)!);
  t.deepEqual(gallery.templatesOf('user'), []);
  t.true(gallery.add('a', user(), descriptor(1)));
  t.deepEqual(gallery.templatesOf('user'), ['a']);
  t.false(gallery.add('a', user(), descriptor(1)), 'a template already there');
  t.true(gallery.add('b', user(), descriptor(2)));
  t.true(gallery.add('other', 'someone', descriptor(3)));
  t.true(gallery.add('c', user(), descriptor(4)));
  t.deepEqual(gallery.templatesOf('user'), ['a', 'b', 'c']);
  t.is(gallery.maxTemplatesPerUser, 3);
  t.is(gallery.userCount, 2);
  const [first, ...rest] = rowsOf(['a', 'b', 'c']).map(({ shard, row }) => shard.userIdAt(row));
  t.is(first, 'user');
  t.true(rest.every((id) => id === first));
  t.true(gallery.removeTemplate('b'));
  t.deepEqual(gallery.templatesOf('user'), ['a', 'c']);
  t.is(gallery.maxTemplatesPerUser, 2);
  t.true(gallery.removeTemplate('a'));
  t.deepEqual(gallery.templatesOf('user'), ['c']);
  t.is(gallery.maxTemplatesPerUser, 1);
  t.true(gallery.add('d', user(), descriptor(5)));
  t.deepEqual(gallery.templatesOf('user'), ['c', 'd']);
  t.is(gallery.removeUser('user'), 2);
  t.deepEqual(gallery.templatesOf('user'), []);
  t.is(gallery.userCount, 1);
  t.is(gallery.size, 1);
  t.is(gallery.removeUser('user'), 0);
  t.true(gallery.removeTemplate('other'));
  t.is(gallery.userCount, 0);
  t.is(gallery.maxTemplatesPerUser, 0);
  t.true(gallery.add('e', user(), descriptor(6)), 'a user can come back');
  t.deepEqual(gallery.templatesOf('user'), ['e']);
});

/**
 * Each row's template is found, by every kind of scan, with the threshold set at the similarity
 * it has to the query: the edge cases of the head test's allowance.
 */
async function foundAtTheirThresholds(t: ExecutionContext, query: Float32Array, rows: readonly Float32Array[], name: string): Promise<void> {
  const entries = rows.map((descriptor, u) => ({ templateId: `${name}-${u}`, userId: `${name}-user-${u}`, descriptor }));
  for (const scan of ['quantized scan, 2 threads', 'quantized scan on SIMD128 alone, 2 threads', 'inline on the calling thread']) {
    const matcher = matcherFor(scan);
    const key = freshKey();
    matcher.addMany(key, entries);
    for (const { templateId, descriptor } of entries) {
      const minSimilarity = Math.max(0, 1 - Math.sqrt(squaredDistance(descriptor, 0, query)));
      const { matches } = await matcher.identify(key, query, { maxResults: 50, minSimilarity });
      t.true(matches.some((match) => match.templateId === templateId), `${scan}: ${templateId} at similarity ${minSimilarity}`);
    }
  }
}

// The worst case of the head test's allowance for the rows: the query sits on its code grid (no
// residual), and every head value of the row is half a code step off, rounded away from the query,
// so that its codes are farther from the query than the row itself by its whole residual.
test('a row whose rounding points straight away from the query is still found at a threshold it just meets', async (t) => {
  const random = seededRandom(404);
  const query = new Float32Array(D).map(() => Math.round((0.06 * gaussian(random)) / 2 ** -7) * 2 ** -7);
  const rows = Array.from({ length: 40 }, () => {
    const row = Float32Array.from(query);
    for (let i = 0; i < 64; i++) {
      const sign = random() < 0.5 ? -1 : 1;
      // A value half a step (2⁻⁹, less a hair) short of the grid point it rounds to, on the far side.
      const grid = Math.round((query[i]! + (sign * 0.45) / 8) / 2 ** -8) * 2 ** -8;
      row[i] = grid - sign * (2 ** -9 - 2 ** -20);
    }
    return row;
  });
  await foundAtTheirThresholds(t, query, rows, 'edge');
});

// And for the query: every row is on its code grid (no residual), and every head value of the
// query is half a query head step (2⁻⁷, less a hair) off the grid point it rounds to, on the side
// away from the rows, so that its codes are farther from each row than the query itself by its
// whole residual over the head (a head test without r_qh misses these).
test('a query whose rounding points straight away from the rows still finds each at a threshold it just meets', async (t) => {
  const random = seededRandom(405);
  const grid = new Float32Array(D).map(() => Math.round((0.06 * gaussian(random)) / QUERY_HEAD_CODE_SCALE) * QUERY_HEAD_CODE_SCALE);
  const signs = Array.from({ length: 64 }, () => (random() < 0.5 ? -1 : 1));
  const query = Float32Array.from(grid, (g, i) => (i < 64 ? g - signs[i]! * (QUERY_HEAD_CODE_SCALE / 2 - 2 ** -20) : g));
  // Beyond the query from its grid point by a whole number of row steps (on the row grid), 1-3 half query steps.
  const rows = Array.from({ length: 40 }, () => Float32Array.from(grid, (g, i) => (i < 64 ? g - signs[i]! * (1 + Math.floor(random() * 3)) * (QUERY_HEAD_CODE_SCALE / 2) : g)));
  await foundAtTheirThresholds(t, query, rows, 'far');
});

test('a compaction copied elsewhere keeps the old shard until the copy is done, carries over removals made meanwhile and sends new rows to another shard', async (t) => {
  let release: () => void = () => undefined;
  const copies: Array<Promise<void>> = [];
  const gallery = createGallery({
    rowsPerShard: 8,
    compactFraction: 0.25,
    copyElsewhere(source, target, rows) {
      const copy = new Promise<void>((resolve) => {
        release = () => {
          copyRows(source, target, rows);
          resolve();
        };
      });
      copies.push(copy);
      return copy;
    },
  });
  const descriptor = (i: number) => new Float32Array(D).fill(i / 100);
  for (let i = 0; i < 8; i++) gallery.add(`t${i}`, `u${i}`, descriptor(i));
  const [first] = gallery.shards();
  for (const id of ['t0', 't1', 't2']) gallery.removeTemplate(id);
  t.is(copies.length, 1, 'the third removal starts a compaction');
  t.is(gallery.shards()[0], first, 'the old shard serves until the copy is done');
  t.true(gallery.removeTemplate('t5'), 'a removal during the copy');
  t.true(gallery.add('t8', 'u8', descriptor(8)));
  t.is(gallery.locate('t8')!.shard, gallery.shards()[1]!, 'a new row goes to another shard, not the one being copied');
  t.is(gallery.shards()[0]!.count, 8);
  release();
  await copies[0];
  const compacted = gallery.shards()[0]!;
  t.not(compacted, first);
  t.true(first!.retired);
  t.is(compacted.count, 5, 'the five rows live when the copy started');
  t.is(compacted.dead, 1, 't5, removed during the copy, is a tombstone of the copy');
  t.is(gallery.locate('t5'), undefined);
  for (const i of [3, 4, 6, 7]) {
    const { shard, row } = gallery.locate(`t${i}`)!;
    t.is(shard, compacted);
    t.deepEqual([...shard.descriptor(row)], [...descriptor(i)]);
    t.true(gallery.holds(shard, row, `t${i}`));
    t.true(gallery.holds(first!, i, `t${i}`), 'a scan that read the old shard still resolves live templates');
    t.is(first!.templateIdAt(i), `t${i}`);
  }
  t.false(gallery.holds(first!, 5, 't5'), 'nor one removed since');
  t.is(first!.templateIdAt(5), undefined);
  t.false(gallery.holds(first!, 4, 't3'), 'nor another row');
  // Removed after the copy: its row in the old shard still names its handle, which a new template
  // may be given; that row then resolves to nothing, not to the new template.
  t.true(gallery.removeTemplate('t3'));
  t.true(gallery.add('t9', 'u9', descriptor(9)));
  t.is(first!.templateIdAt(3), undefined);
  t.is(first!.userIdAt(3), undefined);
  t.false(gallery.holds(first!, 3, 't3'));
  t.false(gallery.holds(first!, 3, 't9'));
  t.true(gallery.holds(gallery.locate('t9')!.shard, gallery.locate('t9')!.row, 't9'));
  t.is(gallery.size, 5);
});

test('a removal while a scan is in flight is honoured by the merge', async (t) => {
  const matcher = matcherFor('quantized scan, 2 threads');
  const key = freshKey();
  const { entries } = clustered(81, 100);
  for (const entry of entries) matcher.add(key, entry);
  const target = entries[3]!;
  const pending = matcher.identify(key, target.descriptor, { maxResults: 5, minSimilarity: 0 });
  t.true(matcher.removeUser(key, target.userId) > 0);
  // Enough removals to compact shards under the scan's feet.
  for (const entry of entries.slice(40, 90)) matcher.removeTemplate(key, entry.templateId);
  const { matches } = await pending;
  t.false(matches.some((m) => m.userId === target.userId));
  for (const match of matches) t.is(matcher.verify(key, match.userId, target.descriptor).find((v) => v.templateId === match.templateId)?.similarity, match.similarity);
});

test('bad input is refused with VALIDATION_ERROR', async (t) => {
  const matcher = matcherFor('inline on the calling thread');
  const key = freshKey();
  const good = new Float32Array(D).fill(0.1);
  t.true(throwsCode(() => matcher.add(key, { templateId: 't', userId: 'u', descriptor: new Float32Array(127) }), 'VALIDATION_ERROR'));
  t.true(throwsCode(() => matcher.add(key, { templateId: 't', userId: 'u', descriptor: new Float32Array(D).fill(Number.NaN) }), 'VALIDATION_ERROR'));
  t.true(throwsCode(() => matcher.add(key, { templateId: '', userId: 'u', descriptor: good }), 'VALIDATION_ERROR'));
  matcher.add(key, { templateId: 't', userId: 'u', descriptor: good });
  for (const options of [{ maxResults: 0, minSimilarity: 0 }, { maxResults: 51, minSimilarity: 0 }, { maxResults: 1.5, minSimilarity: 0 }, { maxResults: 1, minSimilarity: 1.1 }, { maxResults: 1, minSimilarity: Number.NaN }]) {
    const error = await t.throwsAsync(matcher.identify(key, good, options));
    t.true(hasCode(error, 'VALIDATION_ERROR'), JSON.stringify(options));
  }
  t.true(hasCode(await t.throwsAsync(matcher.identify(key, new Float32Array(3), { maxResults: 1, minSimilarity: 0 })), 'VALIDATION_ERROR'));
  t.true(throwsCode(() => createMatcher({ threads: 0 }), 'VALIDATION_ERROR'));
});

test('an aborted identify fails with TIMEOUT, on the pool and on the calling thread', async (t) => {
  const key = freshKey();
  const { entries } = clustered(91, 40);
  const query = entries[0]!.descriptor;
  for (const name of ['quantized scan, 2 threads', 'inline on the calling thread']) {
    const matcher = matcherFor(name);
    for (const entry of entries) matcher.add(key, entry);
    t.true(hasCode(await t.throwsAsync(matcher.identify(key, query, { maxResults: 1, minSimilarity: 0, signal: AbortSignal.abort() })), 'TIMEOUT'), name);
  }
  const pool = matcherFor('quantized scan, 2 threads');
  const controller = new AbortController();
  const pending = pool.identify(key, query, { maxResults: 1, minSimilarity: 0, signal: controller.signal });
  controller.abort();
  t.true(hasCode(await t.throwsAsync(pending), 'TIMEOUT'));
  // The pool recovers from the abort, and no worker was terminated for it.
  t.is((await pool.identify(key, query, { maxResults: 1, minSimilarity: 0 })).matches[0]?.templateId, entries[0]!.templateId);
  t.is(pool.scanStats().threadsStarted, 2);
});

test('calls arriving while a scan runs are scanned together in one pass, each getting its own exact answer', async (t) => {
  const matcher = createMatcher({ threads: 2, rowsPerShard: 64, inlineRows: 0 });
  t.teardown(() => matcher.close());
  const key = freshKey();
  const { entries, near } = clustered(111, 150);
  for (const entry of entries) matcher.add(key, entry);
  const random = seededRandom(12);
  const asks = Array.from({ length: 16 }, (_, i) => ({ query: i % 4 === 0 ? entries[i]!.descriptor : near(random), options: { ...optionSets[i % optionSets.length]!, ...(i % 3 === 0 ? { excludeUserId: entries[i]!.userId } : {}) } }));
  const answers = await Promise.all(asks.map(({ query, options }) => matcher.identify(key, query, options)));
  answers.forEach(({ matches }, i) => sameMatches(t, matches, bruteForce(entries, asks[i]!.query, asks[i]!.options, kernelOrderSquared), `ask ${i}`, 0));
  // The first call found the gallery idle and was scanned alone; the 15 others waited for it.
  t.like(matcher.scanStats(), { scans: 2, queries: 16, largestBatch: 15, threadsStarted: 2, offThreadCompactions: 0 });
});

test('callers who ask again as soon as they are answered join the next batch with those who waited, instead of alternating half batches', async (t) => {
  const matcher = createMatcher({ threads: 2, rowsPerShard: 64, inlineRows: 0 });
  t.teardown(() => matcher.close());
  const key = freshKey();
  const { entries, near } = clustered(112, 150);
  matcher.addMany(key, entries);
  const random = seededRandom(13);
  const options = { maxResults: 3, minSimilarity: 0.4, nearest: true };
  // Eight callers, each asking ten times in a row, every answer checked.
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 10; i++) {
        const query = near(random);
        const { matches } = await matcher.identify(key, query, options);
        sameMatches(t, matches, bruteForce(entries, query, options, kernelOrderSquared), 'answer', 0);
      }
    }),
  );
  // The first call is scanned alone and the seven others wait for it; from then on every pass
  // holds all eight (1 + 79 / 8 rounded up = 11 passes), where starting the waiting ones at once
  // would alternate batches of seven and one (or four and four), about twice as many passes.
  t.like(matcher.scanStats(), { scans: 11, queries: 80, largestBatch: 8 });
});

test('calls asking for the nearest are scanned with their threshold first while their gallery\'s calls mostly find someone, for the nearest from the start once most miss, exact either way', async (t) => {
  const matcher = createMatcher({ threads: 1, inlineRows: 1_000_000 });
  t.teardown(() => matcher.close());
  const key = freshKey();
  const { entries, near } = clustered(113, 120);
  matcher.addMany(key, entries);
  const random = seededRandom(14);
  const ask = async (minSimilarity: number, times: number): Promise<number> => {
    const before = matcher.scanStats().nearestLater;
    for (let i = 0; i < times; i++) {
      const query = near(random);
      const options = { maxResults: 3, minSimilarity, nearest: true };
      const answer = await matcher.identify(key, query, options);
      sameMatches(t, answer.matches, bruteForce(entries, query, options, kernelOrderSquared), `at ${minSimilarity}`, 0);
      const nearest = bruteForce(entries, query, { maxResults: 1, minSimilarity: 0 }, kernelOrderSquared)[0]!;
      t.is(answer.nearest?.templateId, nearest.templateId);
    }
    return matcher.scanStats().nearestLater - before;
  };
  // Sign-ins: every call finds its person, and each is scanned with its threshold first.
  t.is(await ask(0.4, 40), 40);
  // Misses (no one that similar): after the first few the nearest bounds the scan from the start
  // (the moving average of misses passes 1 in 5 at the eighth).
  const deferredMisses = await ask(0.99, 40);
  t.true(deferredMisses >= 1 && deferredMisses <= 10, `${deferredMisses} of 40 misses scanned with the threshold first`);
  // Sign-ins again: once the misses have aged out of the average, threshold first again.
  t.true((await ask(0.4, 80)) >= 30);
});

test('the kernel drops a cancelled query of a batch and still answers the others', async (t) => {
  const kernel = await loadKernel();
  const shard = createShard(300, rowIds);
  const { entries } = clustered(121, 80);
  entries.slice(0, 300).forEach((entry, i) => shard.append(i, 0, entry.descriptor));
  const queries = [entries[1]!.descriptor, entries[2]!.descriptor].map((values, slot) => {
    const wide = new Int16Array(D);
    const bytes = new Uint8Array(D);
    const quantized = quantizeQuery(values, wide, bytes);
    shard.writeQuery(slot, { values, wide, bytes });
    return { slot, norm: squaredNorm(values), ...quantized, k: 3, bound: Number.POSITIVE_INFINITY };
  });
  const segments = [shard.segment(0, shard.count)];
  const alone = unpackCandidates(kernel.scan({ kind: 'quantized', segments, queries: [queries[0]!] }))[0]!;
  t.is(alone.row.length, 3);
  const cancel = new Int32Array(new SharedArrayBuffer(8));
  Atomics.store(cancel, 1, 1);
  const [kept, dropped] = unpackCandidates(kernel.scan({ kind: 'quantized', segments, queries, cancel }));
  t.deepEqual([...kept!.row], [...alone.row]);
  t.deepEqual([...kept!.distance], [...alone.distance]);
  t.is(dropped!.row.length, 0);
  Atomics.store(cancel, 0, 1);
  t.deepEqual(unpackCandidates(kernel.scan({ kind: 'quantized', segments, queries, cancel })).map((c) => c.row.length), [0, 0]);
});

test("the tasks of one pass share their bounds: a task keeps no row beyond another's published bound and publishes its own k-th", async (t) => {
  const kernel = await loadKernel();
  const shard = createShard(400, rowIds);
  const { entries } = clustered(131, 100);
  entries.slice(0, 400).forEach((entry, i) => shard.append(i, 0, entry.descriptor));
  const values = entries[7]!.descriptor;
  const wide = new Int16Array(D);
  const bytes = new Uint8Array(D);
  const query = { slot: 0, norm: squaredNorm(values), ...quantizeQuery(values, wide, bytes), k: 4, bound: Number.POSITIVE_INFINITY };
  shard.writeQuery(0, { values, wide, bytes });
  const [first, second] = [shard.segment(0, 200), shard.segment(200, 400)];
  const alone = (segment: typeof first) => unpackCandidates(kernel.scan({ kind: 'quantized', segments: [segment], queries: [query] }))[0]!;
  const secondAlone = alone(second);
  // The first half's 4th best, published as the second half's starting bound, cuts its candidates to the rows within it.
  const kth = Math.max(...alone(first).distance);
  const bounds = sharedBounds(1);
  const published = unpackCandidates(kernel.scan({ kind: 'quantized', segments: [first], queries: [query], bounds }))[0]!;
  t.is(Math.max(...published.distance), kth);
  t.is(new Float32Array(bounds.buffer)[0], kth);
  t.true([...secondAlone.distance].some((distance) => distance > kth), 'the second half alone keeps rows beyond the first half\'s k-th');
  const capped = unpackCandidates(kernel.scan({ kind: 'quantized', segments: [second], queries: [query], bounds }))[0]!;
  t.deepEqual([...capped.row], [...secondAlone.row].filter((_, i) => secondAlone.distance[i]! <= kth));
  t.true([...capped.distance].every((distance) => distance <= kth));
});

test('tasks sharing a claim counter scan each block once: the blocks left after the claims, and none once they are all claimed', async (t) => {
  const kernel = await loadKernel();
  // A batch is scanned in blocks of BATCH_BLOCK rows: three blocks here, the last one short.
  const rows = 3 * BATCH_BLOCK - 100;
  const shard = createShard(rows, rowIds);
  const { entries } = clustered(151, Math.ceil(rows / 3));
  entries.slice(0, rows).forEach((entry, i) => shard.append(i, 0, entry.descriptor));
  t.is(shard.count, rows);
  // Two queries; every row within the bound is kept, so what a task keeps is exactly the rows of
  // the blocks it scanned.
  const queries = [entries[1]!.descriptor, entries[rows - 1000]!.descriptor].map((values, slot) => {
    const wide = new Int16Array(D);
    const bytes = new Uint8Array(D);
    const quantized = quantizeQuery(values, wide, bytes);
    shard.writeQuery(slot, { values, wide, bytes });
    return { slot, norm: squaredNorm(values), ...quantized, k: rows, bound: 1.2 };
  });
  const segments = [shard.segment(0, shard.count)];
  const rowsOf = (buffer: ArrayBuffer) => unpackCandidates(buffer).map((candidates) => [...candidates.row].sort((a, b) => a - b));
  const alone = rowsOf(kernel.scan({ kind: 'quantized', segments, queries }));
  t.true(alone.every((kept) => kept.some((row) => row < BATCH_BLOCK) && kept.some((row) => row >= BATCH_BLOCK)));
  const claim = new Int32Array(new SharedArrayBuffer(4));
  Atomics.store(claim, 0, 1);
  // Block 0 was claimed by another task: this one scans blocks 1 and 2.
  t.deepEqual(rowsOf(kernel.scan({ kind: 'quantized', segments, queries, claim })), alone.map((kept) => kept.filter((row) => row >= BATCH_BLOCK)));
  t.is(Atomics.load(claim, 0), 4);
  t.deepEqual(rowsOf(kernel.scan({ kind: 'quantized', segments, queries, claim })), [[], []]);
  Atomics.store(claim, 0, 0);
  t.deepEqual(rowsOf(kernel.scan({ kind: 'quantized', segments, queries, claim })), alone);
});

// The full-codes scan exists only with relaxed SIMD (Node 22 and later); on Node 20 this shows as skipped.
(relaxedSimd() ? test : test.skip)('the full-codes scan emits the same rows as the head test, in the same order, and counts the same head passes', async (t) => {
  type Scan = (...args: number[]) => number;
  const shard = createShard(1000, rowIds);
  const { entries } = clustered(141, 320);
  // Rows of the same people as the query, and of others; the last block is not a multiple of four.
  entries.slice(0, 998).forEach((entry, i) => shard.append(i, 0, entry.descriptor));
  t.is(shard.count, 998);
  shard.tombstone(5);
  const values = entries[3]!.descriptor;
  const wide = new Int16Array(D);
  const bytes = new Uint8Array(D);
  const quantized = quantizeQuery(values, wide, bytes);
  shard.writeQuery(0, { values, wide, bytes });
  let emitted: Array<[number, number]> = [];
  const instance = new wasm.Instance(await compileKernel(), { env: { memory: shard.memory, emit: (row: number, distance: number) => (emitted.push([row, distance]), fixed) } });
  const exports = instance.exports as unknown as { scanQuantizedRelaxed: Scan; scanFullCodesRelaxed: Scan; passes: { value: number } };
  const s = shard.segment(0, shard.count);
  const slot = s.queries;
  let fixed = 0;
  const run = (scan: Scan, from: number, to: number, bound: number) => {
    emitted = [];
    fixed = bound;
    const returned = scan(from, to, s.flags, s.headBases, s.fullBases, s.residuals, s.head, s.tail, s.rows, slot, slot + SLOT_WIDE_CODES, slot + SLOT_BYTE_CODES, quantized.headBase, quantized.fullBase, quantized.residual, quantized.headResidual, bound);
    return { emitted, returned, passes: exports.passes.value };
  };
  const exact = Array.from({ length: shard.count }, (_, row) => squaredDistance(shard.rowsView(), shard.rowOffset(row), values)).sort((a, b) => a - b);
  // Every row, most rows (a bound that nearly every head passes), and a tight bound.
  for (const bound of [Number.POSITIVE_INFINITY, exact[900]!, exact[10]!]) {
    for (const [from, to] of [[0, shard.count], [3, 994]]) {
      const head = run(exports.scanQuantizedRelaxed, from!, to!, bound);
      const full = run(exports.scanFullCodesRelaxed, from!, to!, bound);
      t.deepEqual(full, head, `bound ${bound}, rows [${from}, ${to})`);
      t.true(head.emitted.every(([row, distance]) => row !== 5 && distance <= bound && row >= from! && row < to!));
    }
  }
  t.is(run(exports.scanFullCodesRelaxed, 0, shard.count, Number.POSITIVE_INFINITY).emitted.length, shard.count - 1);
  t.is(run(exports.scanFullCodesRelaxed, 0, shard.count, exact[10]!).emitted.length, 11);
});

test("a full queue answers SERVICE_UNAVAILABLE and close() stops the matcher", async (t) => {
  const matcher = createMatcher({ threads: 1, rowsPerShard: 256, inlineRows: 0, maxQueue: 1 });
  const key = freshKey();
  const { entries } = clustered(101, 100);
  for (const entry of entries) matcher.add(key, entry);
  // Piscina holds tasks aside without a limit while its threads start, so start them first.
  await matcher.identify(key, entries[0]!.descriptor, { maxResults: 1, minSimilarity: 0 });
  const results = await Promise.allSettled(Array.from({ length: 12 }, () => matcher.identify(key, entries[0]!.descriptor, { maxResults: 1, minSimilarity: 0 })));
  const rejected = results.filter((r) => r.status === 'rejected');
  t.true(rejected.length > 0);
  t.true(rejected.every((r) => hasCode(r.reason, 'SERVICE_UNAVAILABLE')));
  t.true(results.some((r) => r.status === 'fulfilled' && r.value.matches[0]?.templateId === entries[0]!.templateId));
  await matcher.close();
  await matcher.close();
  t.true(hasCode(await t.throwsAsync(matcher.identify(key, entries[0]!.descriptor, { maxResults: 1, minSimilarity: 0 })), 'SERVICE_UNAVAILABLE'));
  t.is(matcher.size(key), entries.length, 'the data stays readable after close');
});

function throwsCode(fn: () => unknown, code: Parameters<typeof hasCode>[1]): boolean {
  try {
    fn();
    return false;
  } catch (error) {
    return hasCode(error, code);
  }
}
