import { AppError } from '../errors/appError.ts';
import { issueReceipt, type ChainedReceipt } from '../compliance/receiptChain.ts';
import type { SubjectKeyStore } from '../crypto/subjectKeys.ts';
import type { EventStore } from '../eventStore/eventStore.ts';
import { eventMetadata, type CommandContext } from '../eventStore/metadata.ts';
import type { IdGenerator } from '../ids/ids.ts';
import { emailReservationStream, userStream } from '../ids/streams.ts';
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
    const deletedRecords: DeletedRecords = { profile: 1, templates: loaded.state.templates.length, signInLogs: loaded.state.signIns };
    let position: bigint;
    const emailIndex = loaded.state.emailIndex;
    let erasedAt = loaded.erasedAt;
    let counts = deletedRecords;
    if (loaded.state.status === 'active') {
      const { result } = await users.handle(userId, { type: 'Erase', reason }, context);
      position = result.position;
      erasedAt = clock().toISOString();
    } else {
      // Erased before: only a retry of an erasure that stopped before destroying the key proceeds.
      const existing = await keys.find(userId);
      if (existing === 'erased' || existing === undefined) throw new AppError('NOT_FOUND', 'user not found', { userId });
      const erasedEvent = (await store.readStream(userStream(userId), { direction: 'backwards' })).find((event) => event.type === 'UserErased');
      position = erasedEvent?.position ?? 0n;
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
    await deps.awaitPosition(position);
    const receipt = await issueReceipt(
      store,
      ids,
      context,
      {
        userId,
        mode: context.tenant.mode,
        erasedAt: erasedAt ?? clock().toISOString(),
        position: position.toString(),
        keyIdDestroyed: destroyed?.keyId ?? null,
        deletedRecords: counts,
      },
      clock,
    );
    return { deleted: true, userId, deletedRecords: counts, receipt };
  }
}
