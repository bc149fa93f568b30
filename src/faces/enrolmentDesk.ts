import { AppError, hasCode } from '../errors/appError.ts';
import type { FieldCipher } from '../crypto/fieldCipher.ts';
import { retryOnConflict } from '../eventStore/commandHandler.ts';
import type { EventStore, ExpectedRevision, NewEvent, StreamAppend } from '../eventStore/eventStore.ts';
import { eventMetadata, type CommandContext } from '../eventStore/metadata.ts';
import type { IdGenerator } from '../ids/ids.ts';
import { emailReservationStream, galleryStream, userStream } from '../ids/streams.ts';
import type { GalleryKey, Matcher } from '../matching/matcher.ts';
import { readReservation } from '../users/emailReservation.ts';
import { decideUser, type UserState } from '../users/userDecider.ts';
import { aad, type FaceTemplateAdded, type UserEvent } from '../users/userEvents.ts';
import type { UserRepository } from '../users/userRepository.ts';
import { descriptorToBytes } from './descriptor.ts';

/** A registration as the desk takes it: who, which face, and the template's facts. */
export interface EnrolmentRequest {
  readonly context: CommandContext;
  readonly email: string;
  readonly emailIndex: string;
  /** Only the FaceSmash SDK sends it; a known email with another name changes the stored one. */
  readonly fullName?: string;
  readonly descriptor: Float32Array;
  readonly quality: number;
  readonly lighting: FaceTemplateAdded['data']['lighting'];
  readonly source: 'descriptor' | 'image';
  readonly model: string;
  /** A face at or over this similarity to another user is refused (tenancy/tenant.ts duplicateThresholdOf). */
  readonly duplicateThreshold: number;
}

export interface EnrolmentOutcome {
  readonly userId: string;
  readonly templateId: string;
  readonly created: boolean;
  readonly evictedTemplateIds: readonly string[];
  /** Global position of the append: reads that must see this registration wait for it. */
  readonly position: bigint;
  /** Similarity of the nearest other user of the gallery when the face joined it (null for the first). */
  readonly nearestOtherSimilarity: number | null;
}

export interface EnrolmentDeskDeps {
  readonly store: EventStore;
  readonly users: UserRepository;
  readonly matcher: Matcher;
  readonly cipher: FieldCipher;
  readonly ids: IdGenerator;
  readonly clock: () => Date;
  /** Resolves once this instance's matcher has applied `position` (false after the bound). */
  readonly matcherAt: (position: bigint) => Promise<boolean>;
  /** The full name stored for a user (null when none), to append a profile change only when it differs. */
  readonly storedFullName: (context: CommandContext, userId: string) => Promise<string | null>;
  /** Called once a registration is stored, before its caller hears of it (local effects: the matcher). */
  readonly onStored: (key: GalleryKey, outcome: EnrolmentOutcome, descriptor: Float32Array, position: bigint) => void;
  /** Registrations decided together in one append at most. */
  readonly maxBatch?: number;
}

/** The registrations of every tenant and mode, each gallery decided one batch at a time. */
export interface EnrolmentDesk {
  enrol(request: EnrolmentRequest): Promise<EnrolmentOutcome>;
}

/** What is read and sealed before a registration joins its gallery's queue. */
interface Prepared {
  readonly request: EnrolmentRequest;
  /** The user the email is reserved for, if any (and not erased). */
  readonly existing: { readonly userId: string; readonly state: UserState; readonly revision: ExpectedRevision } | undefined;
  /** Where the reservation stream is, for a new user's EmailReserved. */
  readonly reservationExpected: ExpectedRevision;
  readonly userId: string;
  readonly templateId: string;
  readonly sealedDescriptor: string;
  readonly sealedEmail: string;
  readonly sealedName: string | null;
}

interface Queued {
  readonly prepared: Prepared;
  readonly resolve: (outcome: EnrolmentOutcome) => void;
  readonly reject: (error: unknown) => void;
}

interface Gallery {
  readonly key: GalleryKey;
  readonly queue: Queued[];
  running: boolean;
  /**
   * The gallery stream's last revision and position as this instance last wrote or read them,
   * and whether this matcher is known to hold every template claimed up to there: true after
   * our own append (the check before it saw everything, and our templates are applied locally),
   * false after reading a head another instance may have moved.
   */
  head: { revision: bigint | undefined; position: bigint; inMatcher: boolean } | undefined;
}

/**
 * Uniqueness that holds: the duplicate-face check and the append of a new template are decided
 * one gallery (tenant and mode) at a time. Here they queue per gallery and go in batches: every
 * queued registration is checked against the matcher and against those before it in the batch,
 * and all of them are appended in one atomic multi-stream append that also moves the gallery's
 * stream at the revision the check saw. Another instance's registration in between moves that
 * stream first, so the append is refused, this instance waits until its matcher has the other
 * templates, and decides again. Of N registrations of one face, on any number of instances,
 * exactly one is stored.
 */
export function createEnrolmentDesk(deps: EnrolmentDeskDeps): EnrolmentDesk {
  const { store, users, matcher, cipher, ids, clock } = deps;
  const maxBatch = deps.maxBatch ?? 64;
  const galleries = new Map<string, Gallery>();

  async function prepare(request: EnrolmentRequest): Promise<Prepared> {
    const reservation = await readReservation(store, emailReservationStream(request.emailIndex));
    let existing: Prepared['existing'];
    if (reservation.userId !== undefined) {
      const loaded = await users.load(reservation.userId);
      // A reservation left by an erasure that stopped before releasing it belongs to nobody.
      if (loaded.state.status === 'active') existing = { userId: reservation.userId, state: loaded.state, revision: loaded.expected };
    }
    const userId = existing?.userId ?? ids.next('usr');
    const templateId = ids.next('tpl');
    const [sealedDescriptor, sealedEmail, sealedName] = await Promise.all([
      cipher.encryptBytes(userId, descriptorToBytes(request.descriptor), aad.descriptor(templateId)),
      cipher.encryptText(userId, request.email, aad.email(userId)),
      request.fullName !== undefined && (existing === undefined || (await deps.storedFullName(request.context, userId)) !== request.fullName)
        ? cipher.encryptText(userId, request.fullName, aad.fullName(userId))
        : Promise.resolve(null),
    ]);
    return { request, existing, reservationExpected: reservation.expected, userId, templateId, sealedDescriptor, sealedEmail, sealedName };
  }

  function galleryOf(key: GalleryKey): Gallery {
    const name = `${key.mode}:${key.tenantId}`;
    let gallery = galleries.get(name);
    if (!gallery) {
      gallery = { key, queue: [], running: false, head: undefined };
      galleries.set(name, gallery);
    }
    return gallery;
  }

  async function drain(gallery: Gallery): Promise<void> {
    if (gallery.running) return;
    gallery.running = true;
    try {
      while (gallery.queue.length > 0) {
        const batch = gallery.queue.splice(0, maxBatch);
        try {
          await decideBatch(gallery, batch);
        } catch (error) {
          // One refused stream fails the whole atomic append: decide each alone to find out whose.
          if (batch.length > 1 && isConflict(error)) {
            for (const item of batch) await decideAlone(gallery, item);
          } else {
            for (const item of batch) item.reject(error);
          }
        }
      }
    } finally {
      gallery.running = false;
    }
  }

  /** One registration on its own: prepared again on a conflict (another instance changed its email or user). */
  async function decideAlone(gallery: Gallery, item: Queued): Promise<void> {
    let current = item;
    try {
      await retryOnConflict(async () => {
        try {
          await decideBatch(gallery, [current]);
        } catch (error) {
          if (!isConflict(error)) throw error;
          current = { ...current, prepared: await prepare(current.prepared.request) };
          throw hasCode(error, 'STREAM_CLOSED') ? new AppError('WRONG_EXPECTED_REVISION', 'the user was erased meanwhile', {}, { cause: error }) : error;
        }
      }, 'this registration');
    } catch (error) {
      item.reject(error);
    }
  }

  async function galleryHead(gallery: Gallery): Promise<{ revision: bigint | undefined; position: bigint }> {
    if (!gallery.head) {
      const [last] = await store.readStream(galleryStream(gallery.key.tenantId, gallery.key.mode), { direction: 'backwards', maxCount: 1 });
      gallery.head = { revision: last?.revision, position: last?.position ?? 0n, inMatcher: false };
    }
    if (!gallery.head.inMatcher) {
      // The templates every claim up to the head added must be in this matcher before checking.
      if (!(await deps.matcherAt(gallery.head.position))) throw new AppError('SERVICE_UNAVAILABLE', 'the matcher is catching up with the event store; retry shortly', { retryAfterSeconds: 1 });
      gallery.head.inMatcher = true;
    }
    return gallery.head;
  }

  /** Checks and appends a batch at the gallery head; when another instance moved the head, catches up and decides again. */
  async function decideBatch(gallery: Gallery, batch: readonly Queued[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const head = await galleryHead(gallery);
      const decided = await decide(gallery, batch);
      if (decided.accepted.length === 0) {
        for (const { item, error } of decided.refused) item.reject(error);
        return;
      }
      const galleryPart: StreamAppend = {
        streamName: galleryStream(gallery.key.tenantId, gallery.key.mode),
        events: decided.accepted.map(({ claim }) => claim),
        expectedRevision: head.revision ?? 'no_stream',
      };
      let results;
      try {
        // The gallery's claims go last, so a claim's position is the highest of its append: an
        // instance whose matcher has reached a claim (galleryHead) holds every template before it.
        results = await store.appendMulti([...decided.accepted.flatMap(({ parts }) => parts), galleryPart]);
      } catch (error) {
        if (hasCode(error, 'WRONG_EXPECTED_REVISION') && (error as AppError).details.streamName === galleryPart.streamName && attempt < 20) {
          gallery.head = undefined;
          continue;
        }
        throw error;
      }
      const claimed = results.at(-1)!;
      const position = claimed.position;
      gallery.head = { revision: claimed.nextExpectedRevision, position, inMatcher: true };
      for (const { item, outcome } of decided.accepted) {
        const stored = { ...outcome, position };
        deps.onStored(gallery.key, stored, item.prepared.request.descriptor, position);
        item.resolve(stored);
      }
      for (const { item, error } of decided.refused) item.reject(error);
      return;
    }
  }

  async function decide(gallery: Gallery, batch: readonly Queued[]) {
    const accepted: Array<{ item: Queued; claim: NewEvent; parts: StreamAppend[]; outcome: Omit<EnrolmentOutcome, 'position'>; descriptor: Float32Array; userId: string }> = [];
    const refused: Array<{ item: Queued; error: unknown }> = [];
    const checks = await Promise.all(batch.map((item) => nearestOtherUser(gallery.key, item.prepared)));
    batch.forEach((item, index) => {
      const { prepared } = item;
      const { request } = prepared;
      const threshold = request.duplicateThreshold;
      let nearest = checks[index]!;
      // Every other user of the gallery was compared: the matcher's, less this user's own, and the
      // new users before it in this batch (not in the matcher yet).
      let comparedUsers = Math.max(0, matcher.users(gallery.key) - (prepared.existing ? 1 : 0));
      // The registrations before it in this batch are not in the matcher yet.
      for (const earlier of accepted) {
        if (earlier.userId === prepared.userId) continue;
        if (earlier.outcome.created) comparedUsers++;
        const similarity = similarityOf(earlier.descriptor, request.descriptor);
        if (nearest === undefined || similarity > nearest.similarity) nearest = { userId: earlier.userId, similarity };
      }
      if (nearest !== undefined && nearest.similarity >= threshold) {
        refused.push({
          item,
          error: new AppError('DUPLICATE_FACE', `this face already belongs to user ${nearest.userId} (similarity ${(Math.round(nearest.similarity * 1e4) / 1e4).toFixed(4)}, at or over the duplicate threshold ${threshold})`, {
            matchedUserId: nearest.userId,
            similarity: Math.round(nearest.similarity * 1e4) / 1e4,
            duplicateThreshold: threshold,
          }),
        });
        return;
      }
      const nearestOtherSimilarity = nearest === undefined ? null : Math.round(nearest.similarity * 1e4) / 1e4;
      const template: FaceTemplateAdded['data'] = {
        userId: prepared.userId,
        templateId: prepared.templateId,
        descriptor: prepared.sealedDescriptor,
        quality: request.quality,
        lighting: request.lighting,
        source: request.source,
        model: request.model,
        nearestOtherSimilarity,
        comparedUsers,
        duplicateThreshold: threshold,
      };
      let events: UserEvent[];
      try {
        events = prepared.existing
          ? decideUser({ type: 'AddTemplate', template, maxTemplates: request.context.tenant.settings.maxTemplates, fullName: prepared.sealedName }, prepared.existing.state)
          : decideUser({ type: 'Enrol', userId: prepared.userId, email: prepared.sealedEmail, emailIndex: request.emailIndex, fullName: prepared.sealedName, template }, { status: 'absent', userId: null, emailIndex: null, templates: [], signIns: 0, added: 0 });
      } catch (error) {
        refused.push({ item, error });
        return;
      }
      const metadata = eventMetadata(request.context, clock());
      const stored = (list: ReadonlyArray<{ type: string; data: unknown }>) => list.map((event) => ({ id: ids.uuid(), type: event.type, data: event.data, metadata }));
      const parts: StreamAppend[] = prepared.existing
        ? [{ streamName: userStream(prepared.userId), events: stored(events), expectedRevision: prepared.existing.revision }]
        : [
            { streamName: emailReservationStream(request.emailIndex), events: stored([{ type: 'EmailReserved', data: { userId: prepared.userId } }]), expectedRevision: prepared.reservationExpected },
            { streamName: userStream(prepared.userId), events: stored(events), expectedRevision: 'no_stream' },
          ];
      accepted.push({
        item,
        userId: prepared.userId,
        descriptor: request.descriptor,
        claim: { id: ids.uuid(), type: 'FaceClaimed', data: { userId: prepared.userId, templateId: prepared.templateId, nearestOtherSimilarity, comparedUsers, duplicateThreshold: threshold }, metadata },
        parts,
        outcome: {
          userId: prepared.userId,
          templateId: prepared.templateId,
          created: prepared.existing === undefined,
          evictedTemplateIds: events.flatMap((event) => (event.type === 'FaceTemplateRemoved' ? [event.data.templateId] : [])),
          nearestOtherSimilarity,
        },
      });
    });
    return { accepted, refused };
  }

  /** The nearest other user in the matcher; a match whose user was erased meanwhile (this matcher may lag) does not count. */
  async function nearestOtherUser(key: GalleryKey, prepared: Prepared): Promise<{ userId: string; similarity: number } | undefined> {
    const exclude = new Set<string>(prepared.existing ? [prepared.existing.userId] : []);
    for (let tries = 0; tries < 3; tries++) {
      const { matches } = await matcher.identify(key, prepared.request.descriptor, { maxResults: Math.min(50, exclude.size + 1), minSimilarity: 0 });
      const other = matches.find((match) => !exclude.has(match.userId));
      if (!other) return undefined;
      if (other.similarity < prepared.request.duplicateThreshold) return other;
      if ((await users.load(other.userId)).state.status === 'active') return other;
      exclude.add(other.userId);
    }
    return undefined;
  }

  return {
    async enrol(request) {
      const prepared = await prepare(request);
      const gallery = galleryOf({ tenantId: request.context.tenant.tenantId, mode: request.context.tenant.mode });
      return new Promise<EnrolmentOutcome>((resolve, reject) => {
        gallery.queue.push({ prepared, resolve, reject });
        void drain(gallery);
      });
    },
  };
}

function isConflict(error: unknown): boolean {
  return hasCode(error, 'WRONG_EXPECTED_REVISION') || hasCode(error, 'STREAM_CLOSED');
}

function similarityOf(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return Math.max(0, 1 - Math.sqrt(sum));
}
