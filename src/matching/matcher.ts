import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { AppError } from '../errors/appError.ts';
import { loadKernel, unpackCandidates, type Kernel, type ScanKind, type ScanQuery, type ScanSegment, type ScanTask } from '../../workers/matcherKernel.ts';
import { DIMENSIONS, quantize, similarityOf, squaredBoundOf, squaredDistance, squaredNorm } from './distance.ts';
import { createGallery, type Gallery } from './gallery.ts';
import { QUERY_SLOTS, type Shard, type SlotQuery } from './shard.ts';

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
  readonly signal?: AbortSignal;
}

/** The in-memory 1:N and 1:1 matcher over descriptors of 128 float32; similarity = max(0, 1 − L2 distance). */
export interface Matcher {
  /** Idempotent per templateId: a second add of a live templateId is ignored. */
  add(key: GalleryKey, entry: GalleryEntry): void;
  /** Tombstones one template; false if it is not there. */
  removeTemplate(key: GalleryKey, templateId: string): boolean;
  /** Tombstones all of a user's templates and returns how many. */
  removeUser(key: GalleryKey, userId: string): number;
  /** Best template per user, best first, at most maxResults users, all with similarity >= minSimilarity. Exact. */
  identify(key: GalleryKey, query: Float32Array, options: IdentifyOptions): Promise<{ matches: MatchCandidate[]; totalCompared: number }>;
  /** Compares against every live template of one user on the calling thread; best first; [] if the user has none. */
  verify(key: GalleryKey, userId: string, query: Float32Array): MatchCandidate[];
  /** Live (not removed) template count of a gallery, or of all galleries. */
  size(key?: GalleryKey): number;
  /** Users with a live template in a gallery (what identify compares a face with). */
  users(key: GalleryKey): number;
  /** Bytes held by descriptor storage (for the bench and metrics). */
  memoryBytes(): number;
  close(): Promise<void>;
}

export interface MatcherOptions {
  /** Worker threads scanning in parallel. */
  readonly threads: number;
  /** Rows of a full shard (one shared WebAssembly memory; a gallery's first shards are smaller); default 131072 = 64 MiB of f32. */
  readonly rowsPerShard?: number;
  /** Scan tasks that may wait for a thread before identify answers SERVICE_UNAVAILABLE; default 64 per thread. */
  readonly maxQueue?: number;
  /** An identify still scanning after this long fails with TIMEOUT; default 10 s. */
  readonly taskTimeoutMs?: number;
  /** Galleries with fewer rows are scanned on the calling thread, same kernel, same result; default 20000. */
  readonly inlineRows?: number;
  /** A shard is compacted once its tombstones exceed this fraction of its rows; default 0.25. */
  readonly compactFraction?: number;
  /** The scan's candidate test: int8 codes (default) or the f32 baseline; the results are the same. */
  readonly scan?: ScanKind;
}

const MAX_RESULTS = 50;
const MAX_ROWS_PER_SHARD = 4_000_000;

interface ScanPlan {
  /** The shard of each of the task's segments, to map candidate rows back to ids. */
  readonly shards: readonly Shard[];
  readonly task: ScanTask;
}

/** Creates a matcher; its worker pool starts with the first gallery too large to scan inline. `close()` destroys it. */
export function createMatcher(options: MatcherOptions): Matcher {
  const threads = options.threads;
  const rowsPerShard = options.rowsPerShard ?? 131072;
  const maxQueue = options.maxQueue ?? 64 * threads;
  const taskTimeoutMs = options.taskTimeoutMs ?? 10_000;
  const inlineRows = options.inlineRows ?? 20_000;
  const compactFraction = options.compactFraction ?? 0.25;
  const scanKind = options.scan ?? 'quantized';
  requireOption(Number.isInteger(threads) && threads >= 1, 'threads must be an integer >= 1', threads);
  requireOption(Number.isInteger(rowsPerShard) && rowsPerShard >= 1 && rowsPerShard <= MAX_ROWS_PER_SHARD, `rowsPerShard must be an integer in 1..${MAX_ROWS_PER_SHARD}`, rowsPerShard);
  requireOption(Number.isInteger(maxQueue) && maxQueue >= 0, 'maxQueue must be an integer >= 0', maxQueue);
  requireOption(taskTimeoutMs > 0, 'taskTimeoutMs must be > 0', taskTimeoutMs);
  requireOption(inlineRows >= 0, 'inlineRows must be >= 0', inlineRows);
  requireOption(compactFraction > 0 && compactFraction < 1, 'compactFraction must be in (0, 1)', compactFraction);
  requireOption(scanKind === 'quantized' || scanKind === 'float', "scan must be 'quantized' or 'float'", scanKind);

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
    }));
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
  const galleryOf = (key: GalleryKey) => galleries.get(nameOf(key));

  async function scanInline(shards: readonly Shard[], query: PreparedQuery, k: number, bound: number): Promise<Array<{ plan: ScanPlan; buffer: ArrayBuffer }>> {
    const kernel = await (mainKernel ??= loadKernel());
    const plans = planScans(shards, 1, 0, query, k, bound);
    return plans.map((plan) => ({ plan, buffer: kernel.scan(plan.task) }));
  }

  async function scanInPool(shards: readonly Shard[], query: PreparedQuery, k: number, bound: number, callerSignal?: AbortSignal): Promise<Array<{ plan: ScanPlan; buffer: ArrayBuffer }>> {
    const parts = Math.min(threads, shards.reduce((sum, shard) => sum + shard.count, 0));
    if (tasksInFlight + parts > threads + maxQueue) throw new AppError('SERVICE_UNAVAILABLE', 'The matcher is saturated; retry later', { queued: tasksInFlight });
    const slot = freeSlots.pop();
    if (slot === undefined) throw new AppError('SERVICE_UNAVAILABLE', 'Too many identify calls in flight', { limit: QUERY_SLOTS - 1 });
    tasksInFlight += parts;
    try {
      const plans = planScans(shards, parts, slot, query, k, bound);
      const timeout = AbortSignal.timeout(taskTimeoutMs);
      const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
      // allSettled, not all: the slot must stay ours until no task of this call can still read it.
      const settled = await Promise.allSettled(plans.map((plan) => poolOf().run(plan.task, { name: 'scan', signal }) as Promise<ArrayBuffer>));
      return settled.map((result, i) => {
        if (result.status === 'rejected') throw translateScanError(result.reason);
        return { plan: plans[i]!, buffer: result.value };
      });
    } finally {
      tasksInFlight -= parts;
      freeSlots.push(slot);
    }
  }

  return {
    add(key, entry) {
      requireDescriptor(entry.descriptor, 'descriptor');
      requireId(entry.templateId, 'templateId');
      requireId(entry.userId, 'userId');
      const name = nameOf(key);
      let gallery = galleries.get(name);
      if (!gallery) {
        gallery = createGallery({ rowsPerShard, compactFraction });
        galleries.set(name, gallery);
      }
      if (gallery.add(entry.templateId, entry.userId, entry.descriptor) && !pool && !closed && gallery.size >= inlineRows) poolOf();
    },

    removeTemplate: (key, templateId) => galleryOf(key)?.removeTemplate(templateId) ?? false,

    removeUser: (key, userId) => galleryOf(key)?.removeUser(userId) ?? 0,

    async identify(key, query, identifyOptions) {
      if (closed) throw new AppError('SERVICE_UNAVAILABLE', 'The matcher is closed');
      requireDescriptor(query, 'query');
      const { maxResults, minSimilarity, excludeUserId, signal } = identifyOptions;
      if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > MAX_RESULTS) {
        throw new AppError('VALIDATION_ERROR', `maxResults must be an integer in 1..${MAX_RESULTS}`, { maxResults });
      }
      if (typeof minSimilarity !== 'number' || !(minSimilarity >= 0 && minSimilarity <= 1)) {
        throw new AppError('VALIDATION_ERROR', 'minSimilarity must be a number in 0..1', { minSimilarity });
      }
      throwIfAborted(signal);
      const gallery = galleryOf(key);
      if (!gallery || gallery.size === 0) return { matches: [], totalCompared: 0 };

      const inline = gallery.shards().reduce((rows, shard) => rows + shard.count, 0) < inlineRows;
      if (inline) {
        mainKernel ??= loadKernel();
        await mainKernel;
      }
      // Taken after any await, so that the plan, k and the snapshot of shards agree.
      const current = [...gallery.shards()];
      const totalCompared = gallery.size;
      const perUser = gallery.maxTemplatesPerUser;
      const excluding = excludeUserId !== undefined && gallery.templatesOf(excludeUserId).length > 0;
      // Exact per-user ranking: every row better than the best row of any of the top users belongs
      // to a better-ranked user (or the excluded one), each holding at most `perUser` rows.
      const k = (maxResults + (excluding ? 1 : 0)) * perUser;
      const bound = squaredBoundOf(minSimilarity);
      const prepared = prepareQuery(query, scanKind);
      const results = inline ? await scanInline(current, prepared, k, bound) : await scanInPool(current, prepared, k, bound, signal);
      throwIfAborted(signal);

      const best = new Map<string, { templateId: string; distance: number }>();
      for (const { plan, buffer } of results) {
        const candidates = unpackCandidates(buffer);
        for (let i = 0; i < candidates.row.length; i++) {
          const shard = plan.shards[candidates.segment[i]!]!;
          const row = candidates.row[i]!;
          const distance = candidates.distance[i]!;
          const templateId = shard.templateIdAt(row);
          // Removed while the scan ran: the kernel read the row before its tombstone.
          if (templateId === undefined || !gallery.holds(shard, row, templateId)) continue;
          const userId = shard.userIdAt(row)!;
          if (userId === excludeUserId || similarityOf(distance) < minSimilarity) continue;
          const seen = best.get(userId);
          if (!seen || distance < seen.distance || (distance === seen.distance && templateId < seen.templateId)) best.set(userId, { templateId, distance });
        }
      }
      const matches = [...best]
        .sort(([userA, a], [userB, b]) => a.distance - b.distance || compareStrings(userA, userB))
        .slice(0, maxResults)
        .map(([userId, { templateId, distance }]) => ({ userId, templateId, similarity: similarityOf(distance) }));
      return { matches, totalCompared };
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

    async close() {
      if (closed) return;
      closed = true;
      await pool?.destroy();
    },
  };
}

interface PreparedQuery {
  readonly slot: SlotQuery;
  readonly scan: ScanQuery;
}

function prepareQuery(values: Float32Array, kind: ScanKind): PreparedQuery {
  const codes = new Int16Array(DIMENSIONS);
  const { scale, codeNorm, residual } = quantize(values, codes, 0);
  return { slot: { values, codes }, scan: { kind, norm: squaredNorm(values), scale, codeNorm, residual } };
}

/** Splits the shards' rows into `parts` tasks of nearly equal row counts, each a list of segments. */
function planScans(shards: readonly Shard[], parts: number, slot: number, query: PreparedQuery, k: number, bound: number): ScanPlan[] {
  const total = shards.reduce((sum, shard) => sum + shard.count, 0);
  const perPart = Math.max(1, Math.ceil(total / parts));
  const plans: ScanPlan[] = [];
  let planShards: Shard[] = [];
  let segments: ScanSegment[] = [];
  let room = perPart;
  const flush = () => {
    if (segments.length > 0) plans.push({ shards: planShards, task: { segments, query: query.scan, k, bound } });
    planShards = [];
    segments = [];
    room = perPart;
  };
  for (const shard of shards) {
    if (shard.count === 0) continue;
    shard.writeQuery(slot, query.slot);
    for (let from = 0; from < shard.count; ) {
      const to = Math.min(shard.count, from + room);
      planShards.push(shard);
      segments.push(shard.segment(slot, from, to));
      room -= to - from;
      from = to;
      if (room === 0) flush();
    }
  }
  flush();
  return plans;
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

function requireId(value: string, name: string): void {
  if (typeof value !== 'string' || value.length === 0) throw new AppError('VALIDATION_ERROR', `${name} must be a non-empty string`);
}

function requireOption(ok: boolean, message: string, value: unknown): void {
  if (!ok) throw new AppError('VALIDATION_ERROR', `Matcher option: ${message}`, { value });
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
