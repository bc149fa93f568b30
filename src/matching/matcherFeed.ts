import { sql, type Kysely } from 'kysely';
import { quiet } from '../concurrency/quiet.ts';
import { isErased, type FieldCipher } from '../crypto/fieldCipher.ts';
import type { SubjectKeyStore } from '../crypto/subjectKeys.ts';
import { inTransaction } from '../database/transactions.ts';
import { AppError } from '../errors/appError.ts';
import type { RecordedEvent } from '../eventStore/eventStore.ts';
import type { Consumer } from '../eventStore/follower.ts';
import { descriptorFromBytes, descriptorLength } from '../faces/descriptor.ts';
import { aad, type FaceTemplateAdded, type FaceTemplateRemoved, type UserErased } from '../users/userEvents.ts';
import type { GalleryEntry, Matcher } from './matcher.ts';
import type { GalleryImage, ImageRejected } from './galleryImage.ts';
import type { TemplateOpener } from './templateOpener.ts';
import { usersOf, type OpenedPage, type TemplatePage } from './templatePages.ts';

export interface MatcherFeed {
  /**
   * Loads every template, from the gallery image when there is a usable one, else from the read
   * model; `consumer` then follows the event stream from that point.
   */
  load(): Promise<MatcherLoad>;
  /** Keeps the matcher equal to the stream, for the service's follower (after `load`). */
  readonly consumer: Consumer;
  position(): bigint;
}

/** What a load did and where its time went (pages are read, opened and added at once, so the parts overlap). */
export interface MatcherLoad {
  /** Where the templates came from: the gallery image, or the read model (`image` then says why not the image). */
  readonly source: 'image' | 'read model';
  readonly image?: ImageRejected;
  readonly templates: number;
  readonly ms: number;
  readonly split: {
    /** Wall time of the reads of the template pages and their users' keys (overlapping the other parts). */
    readonly readMs: number;
    /** Thread time unwrapping users' keys and decrypting descriptors (on the opener's threads when it has them). */
    readonly unwrapMs: number;
    readonly decryptMs: number;
    /** Calling thread time in the matcher's addMany. */
    readonly addMs: number;
    /** Calling thread time waiting for opened pages, with nothing else to do. */
    readonly waitMs: number;
  };
}

export interface MatcherFeedOptions {
  readonly db: Kysely<any>;
  readonly matcher: Matcher;
  readonly cipher: FieldCipher;
  readonly keys: SubjectKeyStore;
  /** Opens the load's pages (unwraps keys, decrypts descriptors). */
  readonly opener: TemplateOpener;
  /** Heap blocks of the templates table per page of the load; default 1024 (8 MiB, ~10k templates). */
  readonly blocksPerPage?: number;
  /** Where a load looks first; without one, every load reads the read model. */
  readonly image?: GalleryImage;
  /** The stream's last position: an image past it (a database restored from an older backup) is not used. */
  readonly headPosition?: () => Promise<bigint>;
}

type FeedEvent = RecordedEvent & (FaceTemplateAdded | FaceTemplateRemoved | UserErased);

type Split = { -readonly [K in keyof MatcherLoad['split']]: number };


function roundAll(split: Split): MatcherLoad['split'] {
  const rounded = { ...split };
  for (const key of Object.keys(rounded) as Array<keyof Split>) rounded[key] = Math.round(rounded[key]);
  return rounded;
}

/** The number of blocks of the templates table, to page through it by block ranges. */
async function templateBlocks(trx: Kysely<any>): Promise<number> {
  const { rows } = await sql<{ blocks: number }>`
    select (pg_relation_size('rm_users.templates') / current_setting('block_size')::bigint)::int as blocks`.execute(trx);
  return rows[0]?.blocks ?? 0;
}

/**
 * The rows in blocks [from, to) of the templates table: a TID range scan reads the heap in its
 * order, where the primary key's order would visit every block many times. Only exact inside a
 * REPEATABLE READ transaction: outside one, an update may move a row behind the range being read.
 */
async function readTemplateRows(trx: Kysely<any>, from: number, to: number): Promise<{ count: number; rows: string }> {
  const { rows } = await sql<{ count: number; rows: string | null }>`
    select count(*)::int as count, string_agg(template_id || ',' || user_id || ',' || tenant_id || ',' || mode || ',' || descriptor_sealed, ',') as rows
    from rm_users.templates where ctid >= ${`(${from},0)`}::tid and ctid < ${`(${to},0)`}::tid`.execute(trx);
  return { count: rows[0]?.count ?? 0, rows: rows[0]?.rows ?? '' };
}

/**
 * Keeps this instance's matcher shards equal to the templates in the event stream, with its own
 * checkpoint (in memory: the shards are in memory too). Every instance builds the same shards.
 */
export function createMatcherFeed(options: MatcherFeedOptions): MatcherFeed {
  const { db, matcher, cipher, keys, opener } = options;
  const blocksPerPage = options.blocksPerPage ?? 1024;
  let position = 0n;
  async function addSealed(row: { templateId: string; userId: string; tenantId: string; mode: string; sealed: string }): Promise<boolean> {
    const bytes = await cipher.decryptBytes(row.userId, row.sealed, aad.descriptor(row.templateId));
    // A template of a user erased meanwhile is skipped, never an error.
    if (isErased(bytes)) return false;
    matcher.add({ tenantId: row.tenantId, mode: row.mode as 'live' | 'test' }, { templateId: row.templateId, userId: row.userId, descriptor: descriptorFromBytes(bytes) });
    return true;
  }

  /**
   * Applies events in order and moves the position after each one, so that a command applying
   * its own template locally (only while this position is below its append) can never re-add a
   * template that an event after it, already applied here, removed.
   */
  async function apply(events: readonly RecordedEvent[]): Promise<void> {
    for (const event of events as readonly FeedEvent[]) {
      const key = { tenantId: event.metadata.tenantId ?? '', mode: (event.metadata.mode ?? 'live') as 'live' | 'test' };
      switch (event.type) {
        case 'FaceTemplateAdded':
          await addSealed({ templateId: event.data.templateId, userId: event.data.userId, tenantId: key.tenantId, mode: key.mode, sealed: event.data.descriptor });
          break;
        case 'FaceTemplateRemoved':
          matcher.removeTemplate(key, event.data.templateId);
          break;
        case 'UserErased':
          matcher.removeUser(key, event.data.userId);
          keys.forget(event.data.userId);
          break;
        default:
          // Other events (sign-ins, tenants, ...) do not change the gallery.
          break;
      }
      position = event.position;
    }
  }

  /**
   * Loads the templates read model, then follows the stream from its checkpoint. One REPEATABLE
   * READ transaction reads the checkpoint and then every page and key in its snapshot, so the
   * pages are exactly the read model at that checkpoint; events after it are replayed by the
   * consumer (re-adding a loaded template is ignored, removing a missing one does nothing).
   * While the opener's threads open pages, this thread reads the next ones and adds opened ones.
   */
  function load(split: Split): Promise<number> {
    return inTransaction(
      db,
      async (trx) => {
        const checkpoint = await sql<{ position: string }>`select position::text as position from rm_users.checkpoint where id = 1`.execute(trx);
        position = BigInt(checkpoint.rows[0]?.position ?? '0');
        const blocks = await templateBlocks(trx);
        const read = async (from: number): Promise<TemplatePage> => {
          const started = performance.now();
          const rows = await readTemplateRows(trx, from, from + blocksPerPage);
          const keysOfPage = rows.count === 0 ? '' : await keys.sealedKeys(usersOf(rows), trx);
          split.readMs += performance.now() - started;
          return { ...rows, keys: keysOfPage };
        };
        const opening: Array<Promise<OpenedPage>> = [];
        let loaded = 0;
        let next: Promise<TemplatePage> | undefined = blocks > 0 ? quiet(read(0)) : undefined;
        for (let from = 0; next; from += blocksPerPage) {
          const page = await next;
          // Read ahead: the database works on the next page while this thread adds opened ones.
          next = from + blocksPerPage < blocks ? quiet(read(from + blocksPerPage)) : undefined;
          if (page.count > 0) opening.push(quiet(opener.open(page)));
          while (opening.length > (next ? opener.parallelism : 0)) loaded += await addOpened(opening.shift()!, split);
        }
        return loaded;
      },
      { isolationLevel: 'repeatable read' },
    );
  }

  /** Adds an opened page to the matcher, one addMany per gallery, skipping erased users' rows. */
  async function addOpened(pending: Promise<OpenedPage>, split: Split): Promise<number> {
    const waited = performance.now();
    const page = await pending;
    const started = performance.now();
    split.waitMs += started - waited;
    if (page.failure) throw new AppError(page.failure.code, page.failure.message, page.failure.details);
    split.unwrapMs += page.unwrapMs;
    split.decryptMs += page.openMs;
    const entries: GalleryEntry[][] = page.galleries.map(() => []);
    for (let row = 0; row < page.templateIds.length; row++) {
      if (page.opened[row] !== 1) continue;
      const descriptor = page.descriptors.subarray(row * descriptorLength, (row + 1) * descriptorLength);
      entries[page.galleryOf[row]!]!.push({ templateId: page.templateIds[row]!, userId: page.userIds[row]!, descriptor });
    }
    let added = 0;
    page.galleries.forEach((key, i) => {
      added += matcher.addMany(key, entries[i]!);
    });
    split.addMs += performance.now() - started;
    return added;
  }

  return {
    async load() {
      const started = performance.now();
      const split: Split = { readMs: 0, unwrapMs: 0, decryptMs: 0, addMs: 0, waitMs: 0 };
      let restored = await options.image?.restore(matcher);
      if (restored?.restored && options.headPosition && restored.position > (await options.headPosition())) {
        matcher.clear();
        restored = { restored: false, reason: 'ahead of the stream', detail: `the image is at position ${restored.position}, the stream ends before it` };
      }
      if (restored?.restored) {
        // The consumer replays the stream past the image's position.
        position = restored.position;
        return { source: 'image', templates: restored.templates, ms: Math.round(performance.now() - started), split: roundAll(split) };
      }
      const templates = await load(split);
      return { source: 'read model', ...(restored ? { image: restored } : {}), templates, ms: Math.round(performance.now() - started), split: roundAll(split) };
    },
    consumer: {
      name: 'matcher',
      position: () => position,
      handle: apply,
    },
    position: () => position,
  };
}
