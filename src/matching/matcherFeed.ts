import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import { isErased, type FieldCipher } from '../crypto/fieldCipher.ts';
import type { SubjectKeyStore } from '../crypto/subjectKeys.ts';
import type { EventStore, RecordedEvent } from '../eventStore/eventStore.ts';
import { createAppendWaker, createPositionWaiters, type AppendWaker } from '../eventStore/following.ts';
import { descriptorFromBytes } from '../faces/descriptor.ts';
import { aad, type FaceTemplateAdded, type FaceTemplateRemoved, type UserErased } from '../users/userEvents.ts';
import type { Matcher } from './matcher.ts';

export interface MatcherFeed {
  /** Loads every template from the read model, then follows the event stream from that point. */
  start(): Promise<{ templates: number; ms: number }>;
  /** Resolves true once the feed has applied `position`, false after `timeoutMs`. */
  waitFor(position: bigint, timeoutMs: number): Promise<boolean>;
  position(): bigint;
  running(): boolean;
  stop(): Promise<void>;
}

export interface MatcherFeedOptions {
  readonly db: Kysely<any>;
  readonly store: EventStore;
  readonly matcher: Matcher;
  readonly cipher: FieldCipher;
  readonly keys: SubjectKeyStore;
  readonly logger: Logger;
  readonly pollIntervalMs?: number;
  readonly pageSize?: number;
}

type FeedEvent = RecordedEvent & (FaceTemplateAdded | FaceTemplateRemoved | UserErased);

/**
 * Keeps this instance's matcher shards equal to the templates in the event stream, with its own
 * checkpoint (in memory: the shards are in memory too). Every instance builds the same shards.
 */
export function createMatcherFeed(options: MatcherFeedOptions): MatcherFeed {
  const { db, store, matcher, cipher, keys, logger } = options;
  const pageSize = options.pageSize ?? 5000;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  let position = 0n;
  let active = false;
  const controller = new AbortController();
  const waiters = createPositionWaiters(() => position);
  let waker: AppendWaker | undefined;
  let loop: Promise<void> | undefined;

  async function addSealed(row: { templateId: string; userId: string; tenantId: string; mode: string; sealed: string }): Promise<boolean> {
    const bytes = await cipher.decryptBytes(row.userId, row.sealed, aad.descriptor(row.templateId));
    // A template of a user erased meanwhile is skipped, never an error.
    if (isErased(bytes)) return false;
    matcher.add({ tenantId: row.tenantId, mode: row.mode as 'live' | 'test' }, { templateId: row.templateId, userId: row.userId, descriptor: descriptorFromBytes(bytes) });
    return true;
  }

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
    let after = '';
    for (;;) {
      const rows = await db
        .withSchema('rm_users')
        .selectFrom('templates')
        .select(['template_id', 'user_id', 'tenant_id', 'mode', 'descriptor_sealed'])
        .where('template_id', '>', after)
        .orderBy('template_id')
        .limit(pageSize)
        .execute();
      if (rows.length === 0) break;
      await keys.preload(rows.map((row) => row.user_id as string));
      for (const row of rows) {
        if (await addSealed({ templateId: row.template_id, userId: row.user_id, tenantId: row.tenant_id, mode: row.mode, sealed: row.descriptor_sealed })) loaded += 1;
      }
      after = rows.at(-1)!.template_id;
    }
    return loaded;
  }

  const sleep = (ms: number) => waker?.sleep(ms) ?? Promise.resolve();

  async function follow(): Promise<void> {
    let delay = 200;
    while (!controller.signal.aborted) {
      try {
        const events = await store.readAll({ after: position, maxCount: 1000 });
        if (events.length > 0) {
          await apply(events);
          position = events.at(-1)!.position;
          waiters.notify();
          delay = 200;
        } else {
          await sleep(pollIntervalMs);
        }
      } catch (error) {
        if (controller.signal.aborted) break;
        logger.error({ err: error, position: position.toString() }, 'matcher feed failed; retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  return {
    async start() {
      const started = Date.now();
      const templates = await load();
      waker = createAppendWaker(store, controller.signal);
      active = true;
      loop = follow().finally(() => {
        active = false;
      });
      return { templates, ms: Date.now() - started };
    },

    waitFor: (target, timeoutMs) => waiters.waitFor(target, timeoutMs),

    position: () => position,
    running: () => active,

    async stop() {
      controller.abort();
      waker?.close();
      await loop;
    },
  };
}
