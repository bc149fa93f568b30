/**
 * Read-your-writes without making writes wait: commands note the position of what they wrote
 * here, and a read on this instance waits only for the positions of writes that concern it (its
 * user, or its tenant and mode for lists), and for a position the client sent back. Writes
 * answer as soon as they are stored.
 */
export interface RecentWrites {
  /** A user's enrolment or templates changed (what a verify or identify must see). */
  enrolled(tenantId: string, mode: string, userId: string, position: bigint): void;
  /** Anything else of a user was written (a sign-in): what reads of their logs and counters must see. */
  touched(tenantId: string, mode: string, userId: string | undefined, position: bigint): void;
  /** The position a read of this user's profile and templates must wait for (0n: none pending). */
  enrolmentOf(userId: string): bigint;
  /** The position a read of this user's logs, counters or history must wait for. */
  activityOf(userId: string): bigint;
  /** The position a list of the tenant and mode's users must wait for. */
  tenantOf(tenantId: string, mode: string): bigint;
  /** Forgets every write at or below `position` (the read models have it). */
  settle(position: bigint): void;
}

/** Entries kept at most per map; the oldest go first (their reads would not wait long anyway). */
const maxEntries = 100_000;

export function createRecentWrites(): RecentWrites {
  const enrolments = new Map<string, bigint>();
  const activity = new Map<string, bigint>();
  const tenants = new Map<string, bigint>();
  const note = (map: Map<string, bigint>, key: string, position: bigint) => {
    const previous = map.get(key);
    if (previous !== undefined && previous >= position) return;
    map.delete(key);
    map.set(key, position);
    if (map.size > maxEntries) map.delete(map.keys().next().value!);
  };
  const tenantKey = (tenantId: string, mode: string) => `${mode}:${tenantId}`;
  return {
    enrolled(tenantId, mode, userId, position) {
      note(enrolments, userId, position);
      note(activity, userId, position);
      note(tenants, tenantKey(tenantId, mode), position);
    },
    touched(tenantId, mode, userId, position) {
      if (userId !== undefined) note(activity, userId, position);
      note(tenants, tenantKey(tenantId, mode), position);
    },
    enrolmentOf: (userId) => enrolments.get(userId) ?? 0n,
    activityOf: (userId) => activity.get(userId) ?? 0n,
    tenantOf: (tenantId, mode) => tenants.get(tenantKey(tenantId, mode)) ?? 0n,
    settle(position) {
      for (const map of [enrolments, activity, tenants]) {
        // Insertion order is roughly position order: stop at the first entry still pending.
        for (const [key, value] of map) {
          if (value > position) break;
          map.delete(key);
        }
      }
    },
  };
}
