import { copyRows, createShard, type Shard, type ShardRegions } from './shard.ts';

// A gallery's first shard is small and each next one twice the last, up to rowsPerShard, so that
// a tenant with a handful of templates does not hold a 64 MiB memory.
const FIRST_SHARD_ROWS = 4096;

/** Where a live template is stored. */
export interface TemplateLocation {
  readonly shard: Shard;
  readonly row: number;
}

/** The descriptors of one tenant and mode: shards, plus the maps between rows and ids. */
export interface Gallery {
  /** False when the template is already there. */
  add(templateId: string, userId: string, descriptor: Float32Array): boolean;
  removeTemplate(templateId: string): boolean;
  removeUser(userId: string): number;
  /** Live templates. */
  readonly size: number;
  /** Users with at least one live template. */
  readonly userCount: number;
  /** The largest number of live templates one user has. */
  readonly maxTemplatesPerUser: number;
  /** The current shards; a scan keeps the array it was given even if a compaction swaps one. */
  shards(): readonly Shard[];
  locate(templateId: string): TemplateLocation | undefined;
  templatesOf(userId: string): readonly string[];
  /** True when `row` of `shard` (possibly retired since a scan was sent) still stands for live `templateId`. */
  holds(shard: Shard, row: number, templateId: string): boolean;
  bytes(): number;
}

export interface GalleryOptions {
  /** Rows of a full shard. */
  readonly rowsPerShard: number;
  /** Compact a shard once its tombstones exceed this fraction of its rows. */
  readonly compactFraction: number;
  /**
   * Runs `copyRows` somewhere else (a worker thread), or answers undefined to have it run here.
   * A compaction copied elsewhere keeps serving the old shard until the copy is done; meanwhile
   * removals still tombstone it (and are carried over), and new rows go to other shards.
   */
  readonly copyElsewhere?: (source: ShardRegions, target: ShardRegions, rows: Int32Array) => Promise<void> | undefined;
}

/**
 * A user's live templates as the gallery keeps them: the one template's id, or (two or more) an
 * array of exactly their ids. Most users have one template, and an object with a growable array
 * per user cost ~200 bytes of heap each, more than the user's id and map entry together.
 */
type HeldTemplates = string | readonly string[];

const listOf = (held: HeldTemplates | undefined): readonly string[] => (held === undefined ? [] : typeof held === 'string' ? [held] : held);
const countOf = (held: HeldTemplates): number => (typeof held === 'string' ? 1 : held.length);

/** Creates an empty gallery. */
export function createGallery(options: GalleryOptions): Gallery {
  const stride = options.rowsPerShard;
  const shards: Shard[] = [];
  // templateId → shard index × rowsPerShard + row: a number per template instead of an object.
  const locations = new Map<string, number>();
  const users = new Map<string, HeldTemplates>();
  // usersWith[n] = how many users have n live templates, so the maximum can also go down.
  const usersWith: number[] = [0];
  let maxPerUser = 0;
  let live = 0;

  function recount(from: number, to: number): void {
    if (from > 0) usersWith[from]!--;
    if (to > 0) usersWith[to] = (usersWith[to] ?? 0) + 1;
    if (to > maxPerUser) maxPerUser = to;
    while (maxPerUser > 0 && !usersWith[maxPerUser]) maxPerUser--;
  }

  const open = (shard: Shard) => shard.count < shard.capacity && !copying.has(shard);

  function openShard(): number {
    const last = shards.length - 1;
    if (last >= 0 && open(shards[last]!)) return last;
    const index = shards.findIndex(open);
    if (index >= 0) return index;
    shards.push(createShard(Math.min(stride, Math.max(FIRST_SHARD_ROWS, 2 * (shards[last]?.capacity ?? 0)))));
    return shards.length - 1;
  }

  /** The user id instance stored with a live template's row. */
  function userIdOf(templateId: string): string {
    const location = locations.get(templateId)!;
    return shards[Math.floor(location / stride)]!.userIdAt(location % stride)!;
  }

  function tombstone(templateId: string, location: number): number {
    const index = Math.floor(location / stride);
    const shard = shards[index]!;
    const row = location % stride;
    const userId = shard.userIdAt(row)!;
    const held = users.get(userId)!;
    shard.tombstone(row);
    locations.delete(templateId);
    const rest = listOf(held).filter((id) => id !== templateId);
    recount(countOf(held), rest.length);
    if (rest.length === 0) users.delete(userId);
    else users.set(userId, rest.length === 1 ? rest[0]! : rest);
    live--;
    return index;
  }

  // Shards being copied by a compaction elsewhere: they take no new rows until it is done.
  const copying = new Set<Shard>();

  // A fresh memory rather than an in-place shuffle: scans in flight keep reading the old one.
  function compactIfWorthIt(index: number): void {
    const old = shards[index]!;
    if (copying.has(old) || old.dead === 0 || old.dead <= options.compactFraction * old.count) return;
    const kept: number[] = [];
    for (let row = 0; row < old.count; row++) if (old.templateIdAt(row) !== undefined) kept.push(row);
    const rows = Int32Array.from(kept);
    const next = createShard(old.capacity, rows.length);
    const elsewhere = options.copyElsewhere?.(old, next, rows);
    if (!elsewhere) {
      copyRows(old, next, rows);
      swap(index, old, next, rows);
      return;
    }
    copying.add(old);
    elsewhere.then(
      () => {
        copying.delete(old);
        swap(index, old, next, rows);
      },
      // Not compacted this time (the pool was closed, say): the next removal tries again.
      () => copying.delete(old),
    );
  }

  /** Puts a compacted copy in place of its shard; rows removed while it was copied become tombstones. */
  function swap(index: number, old: Shard, next: Shard, rows: Int32Array): void {
    const templateIds = Array.from(rows, (row) => old.templateIdAt(row));
    next.adopt(templateIds, Array.from(rows, (row) => old.userIdAt(row)));
    templateIds.forEach((templateId, row) => {
      if (templateId !== undefined) locations.set(templateId, index * stride + row);
    });
    shards[index] = next;
    old.retire();
  }

  return {
    add(templateId, userId, descriptor) {
      if (locations.has(templateId)) return false;
      const held = users.get(userId);
      // Every row of a user points to one string instance, that of the user's first row.
      const id = held === undefined ? userId : userIdOf(typeof held === 'string' ? held : held[0]!);
      const index = openShard();
      const row = shards[index]!.append(templateId, id, descriptor);
      locations.set(templateId, index * stride + row);
      users.set(id, held === undefined ? templateId : [...listOf(held), templateId]);
      recount(held === undefined ? 0 : countOf(held), held === undefined ? 1 : countOf(held) + 1);
      live++;
      return true;
    },
    removeTemplate(templateId) {
      const location = locations.get(templateId);
      if (location === undefined) return false;
      compactIfWorthIt(tombstone(templateId, location));
      return true;
    },
    removeUser(userId) {
      const held = users.get(userId);
      if (held === undefined) return 0;
      const touched = new Set<number>();
      const templates = [...listOf(held)];
      for (const templateId of templates) touched.add(tombstone(templateId, locations.get(templateId)!));
      for (const index of touched) compactIfWorthIt(index);
      return templates.length;
    },
    get size() {
      return live;
    },
    get userCount() {
      return users.size;
    },
    get maxTemplatesPerUser() {
      return maxPerUser;
    },
    shards: () => shards,
    locate(templateId) {
      const location = locations.get(templateId);
      return location === undefined ? undefined : { shard: shards[Math.floor(location / stride)]!, row: location % stride };
    },
    templatesOf: (userId) => listOf(users.get(userId)),
    holds(shard, row, templateId) {
      const location = locations.get(templateId);
      if (location === undefined) return false;
      // A retired shard's live rows were copied unchanged, so being located at all is enough.
      if (shard.retired) return true;
      return shards[Math.floor(location / stride)] === shard && location % stride === row;
    },
    bytes: () => shards.reduce((sum, shard) => sum + shard.bytes(), 0),
  };
}
