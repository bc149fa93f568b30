import { sql, type Kysely } from 'kysely';
import { isErased, type FieldCipher } from '../crypto/fieldCipher.ts';
import type { SubjectKeyStore } from '../crypto/subjectKeys.ts';
import type { RecordedEvent } from '../eventStore/eventStore.ts';
import type { Consumer } from '../eventStore/follower.ts';
import { descriptorFromBytes } from '../faces/descriptor.ts';
import { aad, type FaceTemplateAdded, type FaceTemplateRemoved, type UserErased } from '../users/userEvents.ts';
import type { GalleryEntry, Matcher } from './matcher.ts';

export interface MatcherFeed {
  /** Loads every template from the read model; `consumer` then follows the event stream from that point. */
  load(): Promise<{ templates: number; ms: number }>;
  /** Keeps the matcher equal to the stream, for the service's follower (after `load`). */
  readonly consumer: Consumer;
  position(): bigint;
}

export interface MatcherFeedOptions {
  readonly db: Kysely<any>;
  readonly matcher: Matcher;
  readonly cipher: FieldCipher;
  readonly keys: SubjectKeyStore;
  readonly pageSize?: number;
}

type FeedEvent = RecordedEvent & (FaceTemplateAdded | FaceTemplateRemoved | UserErased);

/**
 * Keeps this instance's matcher shards equal to the templates in the event stream, with its own
 * checkpoint (in memory: the shards are in memory too). Every instance builds the same shards.
 */
export function createMatcherFeed(options: MatcherFeedOptions): MatcherFeed {
  const { db, matcher, cipher, keys } = options;
  const pageSize = options.pageSize ?? 5000;
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
   * Loads the templates read model, then follows the stream from the checkpoint read first. No
   * transaction is needed (or wanted: decryption reads keys through the same database): every
   * page is at least as new as that checkpoint, and replaying events after it is harmless,
   * because adding a loaded template again is ignored and removing a missing one does nothing.
   */
  async function load(): Promise<number> {
    let loaded = 0;
    const checkpoint = await sql<{ position: string }>`select position::text as position from rm_users.checkpoint where id = 1`.execute(db);
    position = BigInt(checkpoint.rows[0]?.position ?? '0');
    const page = (after: string) =>
      db
        .withSchema('rm_users')
        .selectFrom('templates')
        .select(['template_id', 'user_id', 'tenant_id', 'mode', 'descriptor_sealed'])
        .where('template_id', '>', after)
        .orderBy('template_id')
        .limit(pageSize)
        .execute();
    let rows = await page('');
    while (rows.length > 0) {
      // One query at a time: keys are read through the same database (and PGlite has one session).
      await keys.preload(rows.map((row) => row.user_id as string));
      const byGallery = new Map<string, { key: { tenantId: string; mode: 'live' | 'test' }; entries: GalleryEntry[] }>();
      for (const row of rows) {
        const bytes = await cipher.decryptBytes(row.user_id, row.descriptor_sealed, aad.descriptor(row.template_id));
        // A template of a user erased meanwhile is skipped, never an error.
        if (isErased(bytes)) continue;
        const name = `${row.mode}:${row.tenant_id}`;
        let group = byGallery.get(name);
        if (!group) {
          group = { key: { tenantId: row.tenant_id, mode: row.mode as 'live' | 'test' }, entries: [] };
          byGallery.set(name, group);
        }
        group.entries.push({ templateId: row.template_id, userId: row.user_id, descriptor: descriptorFromBytes(bytes) });
      }
      for (const { key, entries } of byGallery.values()) loaded += matcher.addMany(key, entries);
      rows = rows.length === pageSize ? await page(rows.at(-1)!.template_id) : [];
    }
    return loaded;
  }

  return {
    async load() {
      const started = Date.now();
      const templates = await load();
      return { templates, ms: Date.now() - started };
    },
    consumer: {
      name: 'matcher',
      position: () => position,
      handle: apply,
    },
    position: () => position,
  };
}
