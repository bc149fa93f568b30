import { AppError } from '../errors/appError.ts';
import { issueReceipt, type ChainedReceipt } from '../compliance/receiptChain.ts';
import type { SubjectKeyStore } from '../crypto/subjectKeys.ts';
import type { EventStore } from '../eventStore/eventStore.ts';
import { eventMetadata, type CommandContext } from '../eventStore/metadata.ts';
import type { IdGenerator } from '../ids/ids.ts';
import { emailReservationStream, monthsBetween, signInStream, userStream } from '../ids/streams.ts';
import type { Matcher } from '../matching/matcher.ts';
import { readReservation } from './emailReservation.ts';
import { createKeyedMutex } from '../concurrency/keyedMutex.ts';
import type { UserRepository } from './userRepository.ts';

export interface DeletedRecords {
  readonly profile: number;
  readonly templates: number;
  readonly signInLogs: number;
}

/**
 * What an erasure proves: which user, when, at which event position, which key was destroyed, and
 * its place in the tenant's hash chain of receipts (see compliance/receiptChain.ts).
 */
export type ErasureReceipt = ChainedReceipt;

export interface ErasureResult {
  readonly deleted: true;
  readonly userId: string;
  readonly deletedRecords: DeletedRecords;
  readonly receipt: ErasureReceipt;
}

export interface ErasureDeps {
  readonly store: EventStore;
  readonly users: UserRepository;
  readonly keys: SubjectKeyStore;
  readonly matcher: Matcher;
  readonly ids: IdGenerator;
  readonly clock: () => Date;
  readonly awaitPosition: (position: bigint) => Promise<void>;
  /** Other stores that hold sealed copies of the user's data (e.g. idempotency records). */
  readonly purgeElsewhere?: (userId: string) => Promise<void>;
}

/**
 * Erasure by crypto-shredding (design.md): append UserErased (no personal data), release the email
 * reservation, destroy the user's data key, drop the user from this instance's matcher, and wait
 * until the read models have deleted the user's rows. A retry after a crash completes what is left.
 */
export function createErasure(deps: ErasureDeps): { erase(context: CommandContext, userId: string, reason?: 'api' | 'retention'): Promise<ErasureResult> } {
  const { store, users, keys, matcher, ids, clock } = deps;
  // One erasure of a user at a time here: a second one then finds the key destroyed (NOT_FOUND)
  // instead of mistaking the first, still running, for a crashed one to complete.
  const running = createKeyedMutex();
  return {
    erase: (context, userId, reason = 'api') => running.run(userId, () => eraseOnce(context, userId, reason)),
  };

  async function eraseOnce(context: CommandContext, userId: string, reason: 'api' | 'retention'): Promise<ErasureResult> {
    const loaded = await users.load(userId);
    const { owner } = loaded;
    if (!owner || owner.tenantId !== context.tenant.tenantId || owner.mode !== context.tenant.mode) throw new AppError('NOT_FOUND', 'user not found', { userId });
    let position: bigint;
    const emailIndex = loaded.state.emailIndex;
    let erasedAt: string;
    let counts: DeletedRecords;
    if (loaded.state.status === 'active') {
      // UserErased closes the user's stream at the append: from here on the store refuses every
      // event of this user (a sign-in racing this erasure is either counted below or refused).
      const { result } = await users.handle(userId, { type: 'Erase', reason }, context);
      position = result.position;
      erasedAt = clock().toISOString();
      counts = { profile: 1, templates: loaded.state.templates.length, signInLogs: loaded.state.signIns + (await signInsSince(userId, loaded.enrolledAt ?? erasedAt, erasedAt)) };
    } else {
      // Erased before: only a retry of an erasure that stopped before destroying the key proceeds.
      const existing = await keys.find(userId);
      if (existing === 'erased' || existing === undefined) throw new AppError('NOT_FOUND', 'user not found', { userId });
      const erasedEvent = await lastOfType(userStream(userId), 'UserErased');
      position = erasedEvent?.position ?? 0n;
      erasedAt = erasedEvent?.metadata.occurredAt ?? clock().toISOString();
      counts = { profile: 1, templates: 0, signInLogs: 0 };
    }
    if (emailIndex !== null) {
      const reservationStream = emailReservationStream(emailIndex);
      const reservation = await readReservation(store, reservationStream);
      if (reservation.userId === userId) {
        await store.appendToStream(reservationStream, [{ id: ids.uuid(), type: 'EmailReleased', data: { userId }, metadata: eventMetadata(context, clock()) }], {
          expectedRevision: reservation.expected,
        });
      }
    }
    const destroyed = await keys.destroy(userId);
    await deps.purgeElsewhere?.(userId);
    matcher.removeUser({ tenantId: context.tenant.tenantId, mode: context.tenant.mode }, userId);
    // The answer says the user is gone: this instance's read models have applied the erasure.
    await deps.awaitPosition(position);
    const receipt = await issueReceipt(
      store,
      ids,
      context,
      { userId, mode: context.tenant.mode, erasedAt, position: position.toString(), keyIdDestroyed: destroyed?.keyId ?? null, deletedRecords: counts },
      clock,
    );
    return { deleted: true, userId, deletedRecords: counts, receipt };
  }

  /** Sign-in attempts in the user's monthly streams: each stream's last revision + 1, month by month. */
  async function signInsSince(userId: string, from: string, to: string): Promise<number> {
    let count = 0;
    for (const month of monthsBetween(from, to)) {
      const [last] = await store.readStream(signInStream(userId, `${month}-01`), { direction: 'backwards', maxCount: 1 });
      if (last) count += Number(last.revision) + 1;
    }
    return count;
  }

  async function lastOfType(streamName: string, type: string) {
    for (let from: bigint | undefined; ; ) {
      const page = await store.readStream(streamName, { direction: 'backwards', maxCount: 64, ...(from !== undefined ? { fromRevision: from } : {}) });
      const found = page.find((event) => event.type === type);
      if (found || page.length < 64) return found;
      from = page.at(-1)!.revision - 1n;
    }
  }
}
