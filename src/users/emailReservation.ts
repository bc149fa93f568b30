import type { EventStore, ExpectedRevision } from '../eventStore/eventStore.ts';
import type { EmailReservationEvent } from './userEvents.ts';

/**
 * The user an email (by blind index) is reserved for, if any, and the revision to append at.
 * A reservation stream is the write-side guarantee of one user per email per tenant and mode:
 * it is appended with the revision read here, so two concurrent registrations cannot both win.
 */
export async function readReservation(store: EventStore, streamName: string): Promise<{ userId: string | undefined; expected: ExpectedRevision }> {
  // Only the last event matters: a reservation or its release.
  const [last] = (await store.readStream(streamName, { direction: 'backwards', maxCount: 1 })) as unknown as Array<EmailReservationEvent & { revision: bigint }>;
  return { userId: last?.type === 'EmailReserved' ? last.data.userId : undefined, expected: last ? last.revision : 'no_stream' };
}
