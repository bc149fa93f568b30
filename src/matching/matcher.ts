import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { AppError } from '../errors/appError.ts';
import { loadKernel, sharedBounds, unpackCandidates, type Candidates, type CopyTask, type Kernel, type ScanKind, type ScanQuery, type ScanSegment, type ScanTask } from '../../workers/matcherKernel.ts';
import { DIMENSIONS, HEAD_DIMENSIONS, quantizeQuery, similarityOf, squaredBoundOf, squaredDistance, squaredNorm } from './distance.ts';
import { createGallery, type Gallery } from './gallery.ts';
import { QUERY_SLOTS, storedPrefix, storedRows, type Shard, type ShardRegions, type SlotQuery, type StoredRows } from './shard.ts';

/** One tenant's gallery in one mode; galleries never see each other. */
export interface GalleryKey {
  readonly tenantId: string;
  readonly mode: 'live' | 'test';
}

export interface GalleryEntry {
  readonly templateId: string;
  readonly userId: string;
  readonly descriptor: Float32Array;
}

export interface MatchCandidate {
  readonly userId: string;
  readonly templateId: string;
  readonly similarity: number;
}

export interface IdentifyOptions {
  /** Number of distinct users wanted (1..50). */
  readonly maxResults: number;
  /** Only candidates with similarity >= this. */
  readonly minSimilarity: number;
  /** Skip this user's templates (duplicate-face check on re-register). */
  readonly excludeUserId?: string;
  /**
   * Also answer `nearest`: the best user whatever their similarity (how close a miss came). The
   * scan then reads no more than for `minSimilarity` alone once someone is within it; while no one
   * is, it either scans with `minSimilarity` alone and for the nearest only after a miss, or only
   * what could be nearer than the nearest so far (see NEAREST_LATER_BELOW). Not with `excludeUserId`.
   */
  readonly nearest?: boolean;
  readonly signal?: AbortSignal;
}

export interface IdentifyResult {
  readonly matches: MatchCandidate[];
  readonly totalCompared: number;
  /** With `nearest`: the best user and template of the gallery (the first match when there is one); absent for an empty gallery. */
  readonly nearest?: MatchCandidate;
}

/** The in-memory 1:N and 1:1 matcher over descriptors of 128 float32; similarity = max(0, 1 − L2 distance). */
export interface Matcher {
  /** Idempotent per templateId: a second add of a live templateId is ignored. */
  add(key: GalleryKey, entry: GalleryEntry): void;
  /** `add` for many entries of one gallery (the feed's load); every entry is checked before any is added. Returns how many were new. */
  addMany(key: GalleryKey, entries: readonly GalleryEntry[]): number;
  /**
   * Adds what `slices` gave (of a matcher of this build: see CODES_FINGERPRINT), its codes and
   * terms copied instead of computed; checked like addMany. Returns how many were new.
   */
  addSlice(slice: GallerySlice): number;
  /** Tombstones one template; false if it is not there. */
  removeTemplate(key: GalleryKey, templateId: string): boolean;
  /** Tombstones all of a user's templates and returns how many. */
  removeUser(key: GalleryKey, userId: string): number;
  /** Best template per user, best first, at most maxResults users, all with similarity >= minSimilarity. Exact. */
  identify(key: GalleryKey, query: Float32Array, options: IdentifyOptions): Promise<IdentifyResult>;
  /** Compares against every live template of one user on the calling thread; best first; [] if the user has none. */
  verify(key: GalleryKey, userId: string, query: Float32Array): MatchCandidate[];
  /** Live (not removed) template count of a gallery, or of all galleries. */
  size(key?: GalleryKey): number;
  /** Users with a live template in a gallery (what identify compares a face with). */
  users(key: GalleryKey): number;
  /** Bytes held by descriptor storage (for the bench and metrics). */
  memoryBytes(): number;
  /** Bytes of the typed arrays holding the galleries' template and user ids (for the bench). */
  idBytes(): number;
  /** Counters of the pool's scans since the matcher was created (for the bench, metrics and tests). */
  scanStats(): ScanStats;
  /**
   * The live templates of every gallery in slices of at most `rows`, each read when the caller asks
   * for it (the gallery image writes them between other work); templates of users `keep` refuses
   * are left out. A template added or removed meanwhile may or may not be in the slices.
   */
  slices(rows: number, keep?: (userId: string) => boolean): Generator<GallerySlice>;
  /** Forgets every gallery (a gallery image that failed half-way through its restore). */
  clear(): void;
  close(): Promise<void>;
}

/** Live templates of one gallery, as `slices` reads them: template i is row i of `descriptors` and of `stored`. */
export interface GallerySlice {
  readonly key: GalleryKey;
  readonly templateIds: readonly string[];
  readonly userIds: readonly string[];
  readonly descriptors: Float32Array;
  readonly stored: StoredRows;
}

export interface ScanStats {
  /** Passes over a gallery on the pool. */
  readonly scans: number;
  /** Identify calls those passes answered (or dropped); / scans = mean batch size. */
  readonly queries: number;
  readonly largestBatch: number;
  /** Worker threads created; stays at `threads` unless a worker died. */
  readonly threadsStarted: number;
  /** Compactions whose copy ran on a worker thread. */
  readonly offThreadCompactions: number;
  /** Calls with `nearest` scanned with their threshold first, the nearest only for a miss (see NEAREST_LATER_BELOW). */
  readonly nearestLater: number;
}

export interface MatcherOptions {
  /** Worker threads scanning in parallel. */
  readonly threads: number;
  /** Rows of a full shard (one shared WebAssembly memory; a gallery's first shards are smaller); default 131072 = 64 MiB of f32. */
  readonly rowsPerShard?: number;
  /**
   * Identify calls that may wait (for the scan of their gallery in flight, to join the next batch)
   * before identify answers SERVICE_UNAVAILABLE; also the scan tasks of all galleries that may wait
   * for a thread. Default 64 per thread.
   */
  readonly maxQueue?: number;
  /** Most identify calls of one gallery scanned together in one pass; default 32. */
  readonly maxBatch?: number;
  /** An identify still scanning after this long fails with TIMEOUT; default 10 s. */
  readonly taskTimeoutMs?: number;
  /** Galleries with fewer rows are scanned on the calling thread, same kernel, same result; default 20000. */
  readonly inlineRows?: number;
  /** A shard is compacted once its tombstones exceed this fraction of its rows; default 0.25. */
  readonly compactFraction?: number;
  /**
   * A compaction keeping at least this many rows is copied by a worker thread, off the event loop,
   * when the pool is running (else, and for smaller ones, on the calling thread); default 4096.
   */
  readonly compactOffThreadRows?: number;
  /** The scan's candidate test: int8 codes (default; with relaxed SIMD where the runtime has it), int8 codes on SIMD128 alone, or the f32 baseline; the results are the same. */
  readonly scan?: ScanKind;
}

const MAX_RESULTS = 50;

/**
 * A call with `nearest` is scanned with its threshold first, and for the nearest only if it finds
 * no one (ScanQuery.nearestLater), while fewer than this fraction of its gallery's recent such
 * calls missed; else the nearest so far bounds the scan from the start. Later is cheaper for a
 * match (bench:identify, kernel alone on 1M rows: an enrolled face's head test passes 0.33% of
 * rows instead of 47%, 1.7-2.1 instead of 2.5-3.2 ns per row and query in batches) and dearer for
 * a miss (5-7.8 instead of 3.1-5 ns), which scans twice: it pays while most calls find someone,
 * as sign-ins do. The fraction is a moving average over about the last NEAREST_WINDOW calls.
 */
const NEAREST_LATER_BELOW = 0.2;
const NEAREST_WINDOW = 32;
const MAX_ROWS_PER_SHARD = 4_000_000;

interface ScanPlan {
  /** The shard of each of the pass's segments, to map candidate rows back to ids. */
  readonly shards: readonly Shard[];
  readonly segments: readonly ScanSegment[];
}

/** An identify call on the pool, from its arrival to its answer. */
interface Ask {
  readonly prepared: PreparedQuery;
  readonly maxResults: number;
  readonly minSimilarity: number;
  readonly excludeUserId: string | undefined;
  readonly nearest: boolean;
  /** Settles the call once (later calls do nothing) and releases its timer and listener. */
  settle(outcome: IdentifyResult | AppError): void;
  readonly settled: () => boolean;
  /** Starts the call's timeout: when its scan starts on a ready pool, so that neither the wait for a batch nor the threads' start counts. */
  startClock(): void;
  /** Set when the call is in a scan: marks the query dropped for the kernel. */
  onDrop?: () => void;
}

/** The calls of one gallery: at most one batch scanning, the others waiting to form the next. */
interface Lane {
  scanning: boolean;
  /** Set from the end of a pass until the next batch may start (see scanBatch). */
  deferred: boolean;
  readonly waiting: Ask[];
}

/** Creates a matcher; its worker pool starts with the first gallery too large to scan inline. `close()` destroys it. */
export function createMatcher(options: MatcherOptions): Matcher {
  const threads = options.threads;
  const rowsPerShard = options.rowsPerShard ?? 131072;
  const maxQueue = options.maxQueue ?? 64 * threads;
  const taskTimeoutMs = options.taskTimeoutMs ?? 10_000;
  const inlineRows = options.inlineRows ?? 20_000;
  const compactFraction = options.compactFraction ?? 0.25;
  const compactOffThreadRows = options.compactOffThreadRows ?? 4096;
  const scanKind = options.scan ?? 'quantized';
  const maxBatch = options.maxBatch ?? 32;
  requireOption(Number.isInteger(threads) && threads >= 1, 'threads must be an integer >= 1', threads);
  requireOption(Number.isInteger(rowsPerShard) && rowsPerShard >= 1 && rowsPerShard <= MAX_ROWS_PER_SHARD, `rowsPerShard must be an integer in 1..${MAX_ROWS_PER_SHARD}`, rowsPerShard);
  requireOption(Number.isInteger(maxQueue) && maxQueue >= 0, 'maxQueue must be an integer >= 0', maxQueue);
  requireOption(taskTimeoutMs > 0, 'taskTimeoutMs must be > 0', taskTimeoutMs);
  requireOption(inlineRows >= 0, 'inlineRows must be >= 0', inlineRows);
  requireOption(compactFraction > 0 && compactFraction < 1, 'compactFraction must be in (0, 1)', compactFraction);
  requireOption(compactOffThreadRows >= 0, 'compactOffThreadRows must be >= 0', compactOffThreadRows);
  requireOption(Number.isInteger(maxBatch) && maxBatch >= 1 && maxBatch < QUERY_SLOTS, `maxBatch must be an integer in 1..${QUERY_SLOTS - 1}`, maxBatch);
  requireOption(scanKind === 'quantized' || scanKind === 'quantized-simd128' || scanKind === 'float', "scan must be 'quantized', 'quantized-simd128' or 'float'", scanKind);

  // Started when a gallery first grows past inlineRows, so that a service (or a test) with only
  // small galleries never pays for threads, and a large one warms them while it loads.
  let pool: Piscina | undefined;
  const poolOf = (): Piscina =>
    (pool ??= new Piscina({
      filename: fileURLToPath(new URL('../../workers/matcherWorker.mjs', import.meta.url)),
      name: 'scan',
      minThreads: threads,
      maxThreads: threads,
      maxQueue,
    }).on('workerCreate', () => {
      stats.threadsStarted++;
    }));
  // Resolves once a thread has answered an empty task, i.e. has loaded the kernel.
  let poolReady: Promise<void> | undefined;
  const readyPool = (): Promise<void> => {
    const started = poolOf();
    poolReady ??= Promise.all(Array.from({ length: threads }, () => started.run({ kind: scanKind, segments: [], queries: [] } satisfies ScanTask, { name: 'scan' }))).then(
      () => undefined,
      (error: unknown) => {
        poolReady = undefined;
        throw error;
      },
    );
    return poolReady;
  };
  const galleries = new Map<string, Gallery>();
  // Slot 0 belongs to inline scans, which run synchronously and so never overlap.
  const freeSlots = Array.from({ length: QUERY_SLOTS - 1 }, (_, i) => QUERY_SLOTS - 1 - i);
  let mainKernel: Promise<Kernel> | undefined;
  let closed = false;
  // Piscina 5 files tasks that carry an AbortSignal outside the queue that maxQueue limits, so
  // the limit is enforced here, over all tasks sent and not yet settled.
  let tasksInFlight = 0;

  // The mode never holds ':', so this name is unambiguous whatever the tenant id is.
  const nameOf = (key: GalleryKey) => `${key.mode}:${key.tenantId}`;
  const keyOfName = (name: string): GalleryKey => {
    const colon = name.indexOf(':');
    return { mode: name.slice(0, colon) as GalleryKey['mode'], tenantId: name.slice(colon + 1) };
  };
  const galleryOf = (key: GalleryKey) => galleries.get(nameOf(key));

  // A large compaction's copy runs on the pool (see createGallery); the pool runs it between scans.
  const copyElsewhere = (source: ShardRegions, target: ShardRegions, rows: Int32Array): Promise<void> | undefined => {
    if (!pool || closed || rows.length < compactOffThreadRows) return undefined;
    const task: CopyTask = { source: { memory: source.memory, layout: source.layout }, target: { memory: target.memory, layout: target.layout }, rows };
    stats.offThreadCompactions++;
    return pool.run(task, { name: 'copy' }) as Promise<void>;
  };

  const lanes = new Map<string, Lane>();
  const stats = { scans: 0, queries: 0, largestBatch: 0, threadsStarted: 0, offThreadCompactions: 0, nearestLater: 0 };
  // Per gallery, the moving average of its `nearest` calls that found no one (see NEAREST_LATER_BELOW).
  const nearestMisses = new WeakMap<Gallery, number>();
  /** Merges a call's candidates and counts, for a `nearest` call, whether it missed. */
  const answerOf = (gallery: Gallery, results: Parameters<typeof merge>[1], ask: Pick<Ask, 'maxResults' | 'minSimilarity' | 'excludeUserId' | 'nearest'>): Pick<IdentifyResult, 'matches' | 'nearest'> => {
    const answer = merge(gallery, results, ask);
    if (ask.nearest) {
      const missed = answer.matches.length === 0 ? 1 : 0;
      const rate = nearestMisses.get(gallery) ?? 0;
      nearestMisses.set(gallery, rate + (missed - rate) / NEAREST_WINDOW);
    }
    return answer;
  };
  let waitingAsks = 0;

  async function scanInline(gallery: Gallery, prepared: PreparedQuery, ask: Pick<Ask, 'maxResults' | 'minSimilarity' | 'excludeUserId' | 'nearest'>): Promise<IdentifyResult> {
    const kernel = await (mainKernel ??= loadKernel());
    // Taken after the await, so that the plan, k and the snapshot of shards agree.
    const shards = [...gallery.shards()];
    const query = scanQueryOf(gallery, prepared, ask, 0);
    const plan = planScan(shards, [{ slot: 0, prepared }]);
    const results = [{ plan, candidates: unpackCandidates(kernel.scan({ kind: scanKind, segments: plan.segments, queries: [query] }))[0]! }];
    return { ...answerOf(gallery, results, ask), totalCompared: gallery.size };
  }

  /** Starts the next batch of a lane's waiting calls, if it has any and no batch is scanning. */
  function pump(name: string, lane: Lane): void {
    if (lane.scanning || lane.deferred || closed) return;
    const gallery = galleries.get(name)!;
    while (lane.waiting.length > 0 && !lane.scanning) {
      const batch = lane.waiting.splice(0, Math.min(maxBatch, freeSlots.length)).filter((ask) => !ask.settled());
      waitingAsks -= batch.length;
      if (batch.length === 0) {
        if (freeSlots.length === 0) return;
        continue;
      }
      scanBatch(name, lane, gallery, batch);
    }
  }

  /**
   * One pass over the gallery for a batch of calls, split over the threads. Everything from the
   * snapshot of shards to the queries' k is taken synchronously here, so that they agree.
   */
  function scanBatch(name: string, lane: Lane, gallery: Gallery, batch: Ask[]): void {
    const shards = [...gallery.shards()];
    const rows = shards.reduce((sum, shard) => sum + shard.count, 0);
    const parts = Math.max(1, Math.min(threads, rows));
    if (tasksInFlight + parts > threads + maxQueue) {
      for (const ask of batch) ask.settle(new AppError('SERVICE_UNAVAILABLE', 'The matcher is saturated; retry later', { queued: tasksInFlight }));
      return;
    }
    const totalCompared = gallery.size;
    const slots = batch.map(() => freeSlots.pop()!);
    const queries = batch.map((ask, i) => scanQueryOf(gallery, ask.prepared, ask, slots[i]!));
    const plan = planScan(shards, batch.map((ask, i) => ({ slot: slots[i]!, prepared: ask.prepared })));
    const cancel = new Int32Array(new SharedArrayBuffer(4 * batch.length));
    // One task per thread, all over the whole gallery: each scans the blocks it claims from one
    // shared counter (so a thread that starts late or is slowed leaves its share to the others),
    // and they tighten each other's bounds as they go.
    const claim = parts > 1 ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
    const bounds = parts > 1 ? sharedBounds(batch.length) : undefined;
    batch.forEach((ask, i) => {
      ask.onDrop = () => Atomics.store(cancel, i, 1);
    });
    lane.scanning = true;
    tasksInFlight += parts;
    stats.scans++;
    stats.queries += batch.length;
    stats.largestBatch = Math.max(stats.largestBatch, batch.length);
    const run = async (): Promise<Array<PromiseSettledResult<ArrayBuffer>>> => {
      await readyPool();
      if (closed) throw new AppError('SERVICE_UNAVAILABLE', 'The matcher is closed');
      for (const ask of batch) ask.startClock();
      const pool = poolOf();
      // allSettled, not all: the slots must stay taken until no task of this batch can still read them.
      const task: ScanTask = { kind: scanKind, segments: plan.segments, queries, cancel, bounds, claim };
      return Promise.allSettled(Array.from({ length: parts }, () => pool.run(task, { name: 'scan' }) as Promise<ArrayBuffer>));
    };
    void run().catch((error: unknown): Array<PromiseSettledResult<ArrayBuffer>> => [{ status: 'rejected', reason: error }]).then((settled) => {
      tasksInFlight -= parts;
      freeSlots.push(...slots);
      lane.scanning = false;
      const failure = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      const unpacked = failure ? [] : settled.map((result) => (result.status === 'fulfilled' ? unpackCandidates(result.value) : []));
      batch.forEach((ask, i) => {
        ask.onDrop = undefined;
        if (ask.settled()) return;
        if (failure) return ask.settle(translateScanError(failure.reason));
        try {
          ask.settle({ ...answerOf(gallery, unpacked.map((candidates) => ({ plan, candidates: candidates[i]! })), ask), totalCompared });
        } catch (error) {
          ask.settle(translateScanError(error));
        }
      });
      // The next batch starts once the callers just answered have run (setImmediate comes after
      // their promise reactions and the I/O of this turn), so that those who ask again at once,
      // and requests that arrived meanwhile, join it instead of waiting a whole pass for the one
      // after. The slots freed here may be what another gallery's waiting calls lack.
      lane.deferred = true;
      setImmediate(() => {
        lane.deferred = false;
        pump(name, lane);
        for (const [other, waiting] of lanes) if (waiting !== lane && waiting.waiting.length > 0) pump(other, waiting);
      });
    });
  }

  function askPool(name: string, prepared: PreparedQuery, options: IdentifyOptions): Promise<IdentifyResult> {
    let lane = lanes.get(name);
    if (!lane) {
      lane = { scanning: false, deferred: false, waiting: [] };
      lanes.set(name, lane);
    }
    if ((lane.scanning || lane.deferred) && waitingAsks >= maxQueue) throw new AppError('SERVICE_UNAVAILABLE', 'The matcher is saturated; retry later', { queued: waitingAsks });
    const { signal } = options;
    return new Promise((resolve, reject) => {
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => drop(new AppError('TIMEOUT', 'Identify was aborted or timed out', {}, { cause: signal?.reason }));
      signal?.addEventListener('abort', onAbort, { once: true });
      const ask: Ask = {
        prepared,
        maxResults: options.maxResults,
        minSimilarity: options.minSimilarity,
        excludeUserId: options.excludeUserId,
        nearest: options.nearest === true,
        settled: () => done,
        startClock() {
          if (!done) timer ??= setTimeout(() => drop(new AppError('TIMEOUT', 'Identify was aborted or timed out')), taskTimeoutMs);
        },
        settle(outcome) {
          if (done) return;
          done = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          if (outcome instanceof AppError) reject(outcome);
          else resolve(outcome);
        },
      };
      // Answered at once; a scan under way skips the query from its next block on.
      function drop(error: AppError): void {
        ask.onDrop?.();
        ask.settle(error);
      }
      lane.waiting.push(ask);
      waitingAsks++;
      pump(name, lane);
    });
  }

  /** The kernel's view of a call: its slot, its codes' numbers, k and the distance bound. */
  function scanQueryOf(gallery: Gallery, prepared: PreparedQuery, ask: Pick<Ask, 'maxResults' | 'minSimilarity' | 'excludeUserId' | 'nearest'>, slot: number): ScanQuery {
    const excluding = ask.excludeUserId !== undefined && gallery.templatesOf(ask.excludeUserId).length > 0;
    // Exact per-user ranking: every row better than the best row of any of the top users belongs
    // to a better-ranked user (or the excluded one), each holding at most `perUser` rows.
    const k = (ask.maxResults + (excluding ? 1 : 0)) * gallery.maxTemplatesPerUser;
    const nearestLater = ask.nearest && (nearestMisses.get(gallery) ?? 0) < NEAREST_LATER_BELOW;
    if (nearestLater) stats.nearestLater++;
    return { slot, ...prepared.scan, k, bound: squaredBoundOf(ask.minSimilarity), nearest: ask.nearest, nearestLater };
  }

  /** The gallery of `key`, created empty on first use. */
  function galleryFor(key: GalleryKey): Gallery {
    const name = nameOf(key);
    let gallery = galleries.get(name);
    if (!gallery) {
      gallery = createGallery({ rowsPerShard, compactFraction, copyElsewhere });
      galleries.set(name, gallery);
    }
    return gallery;
  }

  /** After `added` new rows: the pool starts once a gallery grows past inlineRows. Returns `added`. */
  function warmIfLarge(gallery: Gallery, added: number): number {
    if (added > 0 && !pool && !closed && gallery.size >= inlineRows) void readyPool().catch(() => undefined);
    return added;
  }

  return {
    add(key, entry) {
      requireDescriptor(entry.descriptor, 'descriptor');
      requireId(entry.templateId, 'templateId');
      requireId(entry.userId, 'userId');
      const gallery = galleryFor(key);
      warmIfLarge(gallery, gallery.add(entry.templateId, entry.userId, entry.descriptor) ? 1 : 0);
    },

    addMany(key, entries) {
      for (const entry of entries) {
        requireDescriptor(entry.descriptor, 'descriptor');
        requireId(entry.templateId, 'templateId');
        requireId(entry.userId, 'userId');
      }
      if (entries.length === 0) return 0;
      const gallery = galleryFor(key);
      let added = 0;
      for (const entry of entries) if (gallery.add(entry.templateId, entry.userId, entry.descriptor)) added++;
      return warmIfLarge(gallery, added);
    },

    addSlice(slice) {
      const rows = slice.templateIds.length;
      const { stored } = slice;
      const short = [stored.head.length / HEAD_DIMENSIONS, stored.tail.length / (DIMENSIONS - HEAD_DIMENSIONS), stored.headBases.length, stored.fullBases.length, stored.residuals.length, stored.norms.length].some((length) => length !== rows);
      if (slice.userIds.length !== rows || slice.descriptors.length !== rows * DIMENSIONS || short) throw new AppError('VALIDATION_ERROR', 'a slice holds another number of rows in its parts', { rows });
      if (!allFinite(slice.descriptors)) throw new AppError('VALIDATION_ERROR', 'a descriptor of the slice holds a number that is not finite', { rows });
      for (let i = 0; i < rows; i++) {
        requireId(slice.templateIds[i]!, 'templateId');
        requireId(slice.userIds[i]!, 'userId');
      }
      if (rows === 0) return 0;
      const gallery = galleryFor(slice.key);
      return warmIfLarge(gallery, gallery.addRun(slice.templateIds, slice.userIds, slice.descriptors, stored));
    },

    removeTemplate: (key, templateId) => galleryOf(key)?.removeTemplate(templateId) ?? false,

    removeUser: (key, userId) => galleryOf(key)?.removeUser(userId) ?? 0,

    async identify(key, query, identifyOptions) {
      if (closed) throw new AppError('SERVICE_UNAVAILABLE', 'The matcher is closed');
      requireDescriptor(query, 'query');
      const { maxResults, minSimilarity, excludeUserId, signal } = identifyOptions;
      const nearest = identifyOptions.nearest === true;
      if (nearest && excludeUserId !== undefined) throw new AppError('VALIDATION_ERROR', 'nearest cannot be combined with excludeUserId', { excludeUserId });
      if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > MAX_RESULTS) {
        throw new AppError('VALIDATION_ERROR', `maxResults must be an integer in 1..${MAX_RESULTS}`, { maxResults });
      }
      if (typeof minSimilarity !== 'number' || !(minSimilarity >= 0 && minSimilarity <= 1)) {
        throw new AppError('VALIDATION_ERROR', 'minSimilarity must be a number in 0..1', { minSimilarity });
      }
      throwIfAborted(signal);
      const name = nameOf(key);
      const gallery = galleries.get(name);
      if (!gallery || gallery.size === 0) return { matches: [], totalCompared: 0 };
      const prepared = prepareQuery(query);
      const inline = gallery.shards().reduce((rows, shard) => rows + shard.count, 0) < inlineRows;
      if (!inline) return askPool(name, prepared, identifyOptions);
      const answer = await scanInline(gallery, prepared, { maxResults, minSimilarity, excludeUserId, nearest });
      throwIfAborted(signal);
      return answer;
    },

    verify(key, userId, query) {
      requireDescriptor(query, 'query');
      const gallery = galleryOf(key);
      if (!gallery) return [];
      return gallery
        .templatesOf(userId)
        .map((templateId) => {
          const { shard, row } = gallery.locate(templateId)!;
          return { templateId, distance: squaredDistance(shard.rowsView(), shard.rowOffset(row), query) };
        })
        .sort((a, b) => a.distance - b.distance || compareStrings(a.templateId, b.templateId))
        .map(({ templateId, distance }) => ({ userId, templateId, similarity: similarityOf(distance) }));
    },

    users(key) {
      return galleryOf(key)?.userCount ?? 0;
    },

    size(key) {
      if (key) return galleryOf(key)?.size ?? 0;
      let total = 0;
      for (const gallery of galleries.values()) total += gallery.size;
      return total;
    },

    memoryBytes() {
      let total = 0;
      for (const gallery of galleries.values()) total += gallery.bytes();
      return total;
    },

    idBytes() {
      let total = 0;
      for (const gallery of galleries.values()) total += gallery.idBytes();
      return total;
    },

    scanStats: () => ({ ...stats }),

    *slices(rows, keep = () => true) {
      requireOption(Number.isInteger(rows) && rows >= 1, 'slices: rows must be an integer >= 1', rows);
      for (const [name, gallery] of [...galleries]) {
        const key = keyOfName(name);
        // The shards of now: a compaction meanwhile swaps a shard in the gallery, not here, and
        // the retired one still answers for its live rows.
        for (const shard of [...gallery.shards()]) {
          for (let from = 0; from < shard.count; from += rows) {
            const to = Math.min(shard.count, from + rows);
            const templateIds: string[] = [];
            const userIds: string[] = [];
            const descriptors = new Float32Array((to - from) * DIMENSIONS);
            const stored = storedRows(to - from);
            // Runs of rows kept are copied a region at a time.
            let run = -1;
            const copyRun = (end: number) => {
              if (run >= 0) shard.readRun(run, end - run, descriptors, stored, templateIds.length - (end - run));
              run = -1;
            };
            for (let row = from; row < to; row++) {
              const templateId = shard.templateIdAt(row);
              const userId = shard.userIdAt(row);
              if (templateId === undefined || userId === undefined || !keep(userId)) {
                copyRun(row);
                continue;
              }
              if (run < 0) run = row;
              templateIds.push(templateId);
              userIds.push(userId);
            }
            copyRun(to);
            const n = templateIds.length;
            if (n > 0) yield { key, templateIds, userIds, descriptors: descriptors.subarray(0, n * DIMENSIONS), stored: storedPrefix(stored, n) };
          }
        }
      }
    },

    clear() {
      galleries.clear();
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const lane of lanes.values()) {
        for (const ask of lane.waiting.splice(0)) ask.settle(new AppError('SERVICE_UNAVAILABLE', 'The matcher is closed'));
      }
      waitingAsks = 0;
      await pool?.destroy();
    },
  };
}

/** A query as the kernel takes it: what goes into a shard's slot, and the numbers that go with the scan task. */
export interface PreparedQuery {
  readonly slot: SlotQuery;
  readonly scan: Pick<ScanQuery, 'norm' | 'headBase' | 'fullBase' | 'residual' | 'headResidual'>;
}

export function prepareQuery(values: Float32Array): PreparedQuery {
  const wide = new Int16Array(DIMENSIONS);
  const bytes = new Uint8Array(DIMENSIONS);
  return { slot: { values, wide, bytes }, scan: { norm: squaredNorm(values), ...quantizeQuery(values, wide, bytes) } };
}

/** The best template per user among a call's candidates from every task, best first, by the contract's rules; and the nearest user, when asked. */
function merge(gallery: Gallery, results: ReadonlyArray<{ plan: ScanPlan; candidates: Candidates }>, ask: Pick<Ask, 'maxResults' | 'minSimilarity' | 'excludeUserId' | 'nearest'>): Pick<IdentifyResult, 'matches' | 'nearest'> {
  const best = new Map<string, { templateId: string; distance: number }>();
  for (const { plan, candidates } of results) {
    for (let i = 0; i < candidates.row.length; i++) {
      const shard = plan.shards[candidates.segment[i]!]!;
      const row = candidates.row[i]!;
      const distance = candidates.distance[i]!;
      const templateId = shard.templateIdAt(row);
      // Removed while the scan ran: the kernel read the row before its tombstone.
      if (templateId === undefined || !gallery.holds(shard, row, templateId)) continue;
      const userId = shard.userIdAt(row)!;
      if (userId === ask.excludeUserId) continue;
      const seen = best.get(userId);
      if (!seen || distance < seen.distance || (distance === seen.distance && templateId < seen.templateId)) best.set(userId, { templateId, distance });
    }
  }
  const ranked = [...best]
    .sort(([userA, a], [userB, b]) => a.distance - b.distance || compareStrings(userA, userB))
    .map(([userId, { templateId, distance }]) => ({ userId, templateId, similarity: similarityOf(distance) }));
  const matches = ranked.filter((candidate) => candidate.similarity >= ask.minSimilarity).slice(0, ask.maxResults);
  return ask.nearest && ranked[0] ? { matches, nearest: ranked[0] } : { matches };
}

/** Writes the queries into every shard's slots: the plan of a pass, one segment per shard with rows. */
function planScan(shards: readonly Shard[], queries: ReadonlyArray<{ slot: number; prepared: PreparedQuery }>): ScanPlan {
  const plan: { shards: Shard[]; segments: ScanSegment[] } = { shards: [], segments: [] };
  for (const shard of shards) {
    if (shard.count === 0) continue;
    for (const { slot, prepared } of queries) shard.writeQuery(slot, prepared.slot);
    plan.shards.push(shard);
    plan.segments.push(shard.segment(0, shard.count));
  }
  return plan;
}

function translateScanError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const name = typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'AbortError') return new AppError('TIMEOUT', 'Identify was aborted or timed out', {}, { cause: error });
  // Piscina's wording for a full queue (maxQueue > 0) and for no queue at all (maxQueue 0).
  if (message === 'Task queue is at limit' || message.startsWith('No task queue available')) {
    return new AppError('SERVICE_UNAVAILABLE', 'The matcher is saturated; retry later', {}, { cause: error });
  }
  return new AppError('INTERNAL_ERROR', 'A matcher scan failed', {}, { cause: error });
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AppError('TIMEOUT', 'Identify was aborted or timed out', {}, { cause: signal.reason });
}

function requireDescriptor(value: Float32Array, name: string): void {
  if (!(value instanceof Float32Array) || value.length !== DIMENSIONS) {
    throw new AppError('VALIDATION_ERROR', `${name} must be a Float32Array of ${DIMENSIONS} numbers`, { length: (value as { length?: unknown })?.length });
  }
  for (let i = 0; i < DIMENSIONS; i++) {
    if (!Number.isFinite(value[i]!)) throw new AppError('VALIDATION_ERROR', `${name} must hold finite numbers`, { index: i });
  }
}

/** x · 0 is 0 for every finite x and NaN otherwise, so one sum answers for the whole array. */
function allFinite(values: Float32Array): boolean {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! * 0;
  return sum === 0;
}

function requireId(value: string, name: string): void {
  if (typeof value !== 'string' || value.length === 0) throw new AppError('VALIDATION_ERROR', `${name} must be a non-empty string`);
}

function requireOption(ok: boolean, message: string, value: unknown): void {
  if (!ok) throw new AppError('VALIDATION_ERROR', `Matcher option: ${message}`, { value });
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
