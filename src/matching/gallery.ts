import { createIdArena } from './idArena.ts';
import { copyRows, createShard, type RowIds, type Shard, type ShardRegions, type StoredRows } from './shard.ts';

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
  /**
   * Adds row i of `descriptors` and `stored` for templateIds[i] of userIds[i], skipping templates
   * already there, with their codes and terms copied (Shard.appendRun) in runs as long as a shard
   * has room. Returns how many were new.
   */
  addRun(templateIds: readonly string[], userIds: readonly string[], descriptors: Float32Array, stored: StoredRows): number;
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
  /** Bytes of the shards' memories: the descriptors and their codes. */
  bytes(): number;
  /** Bytes of the typed arrays holding the ids (ids of other shapes than the arenas compact are strings, not counted). */
  idBytes(): number;
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

// Columns of the templates' arena: where the template's row is (shard index × rowsPerShard +
// row), the next template of its user (-1: none) and its user's handle.
const LOCATION = 0;
const NEXT = 1;
const USER = 2;
// Columns of the users' arena: the user's first template (the others follow through NEXT, in the
// order they were added) and how many live templates the user has.
const FIRST = 0;
const COUNT = 1;

/** Creates an empty gallery. */
export function createGallery(options: GalleryOptions): Gallery {
  const stride = options.rowsPerShard;
  const shards: Shard[] = [];
  // Ids as handles (see idArena.ts): a row holds its template's handle, a template its user's.
  const templates = createIdArena(3);
  const users = createIdArena(2);
  const rowIds: RowIds = {
    live: (handle, generation) => templates.generation(handle) === generation,
    templateId: (handle) => templates.text(handle),
    userId: (handle) => users.text(templates.get(USER, handle)),
  };
  // usersWith[n] = how many users have n live templates, so the maximum can also go down.
  const usersWith: number[] = [0];
  let maxPerUser = 0;

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
    shards.push(createShard(Math.min(stride, Math.max(FIRST_SHARD_ROWS, 2 * (shards[last]?.capacity ?? 0))), rowIds));
    return shards.length - 1;
  }

  /** A user's template handles, in the order they were added. */
  function handlesOf(user: number): number[] {
    const out: number[] = [];
    for (let t = users.get(FIRST, user); out.length < users.get(COUNT, user); t = templates.get(NEXT, t)) out.push(t);
    return out;
  }

  /** Tombstones a live template's row and forgets it (and its user, if that was the last one); answers its shard's index. */
  function tombstone(template: number): number {
    const location = templates.get(LOCATION, template);
    const index = Math.floor(location / stride);
    shards[index]!.tombstone(location % stride);
    const user = templates.get(USER, template);
    const count = users.get(COUNT, user);
    // Unlinked from the user's list.
    if (users.get(FIRST, user) === template) {
      users.set(FIRST, user, templates.get(NEXT, template));
    } else {
      let before = users.get(FIRST, user);
      for (let step = 1; templates.get(NEXT, before) !== template; step++) {
        // The list holds `count` templates: past them, the gallery's own bookkeeping is broken.
        if (step >= count) throw new Error(`gallery: template ${templates.text(template)} is not in its user's list`);
        before = templates.get(NEXT, before);
      }
      templates.set(NEXT, before, templates.get(NEXT, template));
    }
    users.set(COUNT, user, count - 1);
    recount(count, count - 1);
    if (count === 1) users.remove(user);
    templates.remove(template);
    return index;
  }

  // Shards being copied by a compaction elsewhere: they take no new rows until it is done.
  const copying = new Set<Shard>();

  // A fresh memory rather than an in-place shuffle: scans in flight keep reading the old one.
  function compactIfWorthIt(index: number): void {
    const old = shards[index]!;
    if (copying.has(old) || old.dead === 0 || old.dead <= options.compactFraction * old.count) return;
    const kept: number[] = [];
    for (let row = 0; row < old.count; row++) if (old.handleAt(row) >= 0) kept.push(row);
    const rows = Int32Array.from(kept);
    const next = createShard(old.capacity, rowIds, rows.length);
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
    const handles = rows.map((row) => old.handleAt(row));
    next.adopt(
      handles,
      rows.map((row) => old.generationAt(row)),
    );
    handles.forEach((template, row) => {
      if (template >= 0) templates.set(LOCATION, template, index * stride + row);
    });
    shards[index] = next;
    old.retire();
  }

  /** Links a new template's handle (a row at `location`, appended next) to its user, added if new. */
  function link(template: number, userId: string, location: number): void {
    const user = users.intern(userId);
    templates.set(LOCATION, template, location);
    templates.set(NEXT, template, -1);
    templates.set(USER, template, user);
    const count = users.get(COUNT, user);
    if (count === 0) {
      users.set(FIRST, user, template);
    } else {
      let last = users.get(FIRST, user);
      for (let i = 1; i < count; i++) last = templates.get(NEXT, last);
      templates.set(NEXT, last, template);
    }
    users.set(COUNT, user, count + 1);
    recount(count, count + 1);
  }

  return {
    add(templateId, userId, descriptor) {
      if (templates.find(templateId) >= 0) return false;
      // First what may fail (a new shard's memory), then the ids.
      const index = openShard();
      const shard = shards[index]!;
      shard.reserve(shard.count + 1);
      const template = templates.insert(templateId);
      link(template, userId, index * stride + shard.count);
      shard.append(template, templates.generation(template), descriptor);
      return true;
    },
    addRun(templateIds, userIds, descriptors, stored) {
      let added = 0;
      const handles: number[] = [];
      const generations: number[] = [];
      for (let i = 0; i < templateIds.length; ) {
        const index = openShard();
        const shard = shards[index]!;
        const room = Math.min(shard.capacity - shard.count, templateIds.length - i);
        shard.reserve(shard.count + room);
        handles.length = 0;
        generations.length = 0;
        // A run of new templates, as long as the shard has room; one already there ends it and is skipped.
        let skip = 0;
        while (handles.length < room) {
          const before = templates.size;
          const template = templates.intern(templateIds[i + handles.length]!);
          if (templates.size === before) {
            skip = 1;
            break;
          }
          link(template, userIds[i + handles.length]!, index * stride + shard.count + handles.length);
          handles.push(template);
          generations.push(templates.generation(template));
        }
        if (handles.length > 0) shard.appendRun(handles, generations, descriptors, stored, i, handles.length);
        added += handles.length;
        i += handles.length + skip;
      }
      return added;
    },
    removeTemplate(templateId) {
      const template = templates.find(templateId);
      if (template < 0) return false;
      compactIfWorthIt(tombstone(template));
      return true;
    },
    removeUser(userId) {
      const user = users.find(userId);
      if (user < 0) return 0;
      const touched = new Set<number>();
      const handles = handlesOf(user);
      for (const template of handles) touched.add(tombstone(template));
      for (const index of touched) compactIfWorthIt(index);
      return handles.length;
    },
    get size() {
      return templates.size;
    },
    get userCount() {
      return users.size;
    },
    get maxTemplatesPerUser() {
      return maxPerUser;
    },
    shards: () => shards,
    locate(templateId) {
      const template = templates.find(templateId);
      if (template < 0) return undefined;
      const location = templates.get(LOCATION, template);
      return { shard: shards[Math.floor(location / stride)]!, row: location % stride };
    },
    templatesOf(userId) {
      const user = users.find(userId);
      return user < 0 ? [] : handlesOf(user).map((template) => templates.text(template));
    },
    holds(shard, row, templateId) {
      const template = templates.find(templateId);
      if (template < 0) return false;
      // A retired shard's live rows were copied unchanged: its row still stands for the template
      // while the row's handle is the template's, of the same generation.
      if (shard.retired) return shard.handleAt(row) === template && shard.generationAt(row) === templates.generation(template);
      const location = templates.get(LOCATION, template);
      return shards[Math.floor(location / stride)] === shard && location % stride === row;
    },
    bytes: () => shards.reduce((sum, shard) => sum + shard.bytes(), 0),
    idBytes: () => templates.bytes() + users.bytes() + shards.reduce((sum, shard) => sum + shard.idBytes(), 0),
  };
}
