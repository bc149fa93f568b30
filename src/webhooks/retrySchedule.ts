/**
 * When to try a webhook delivery again (api-contract.md "Webhooks"): the first attempt at once,
 * then retries `delaysMs` after each failed attempt; once every attempt has failed the webhook is
 * `failing` and its deliveries pause.
 */
export interface RetrySchedule {
  /** Delay after failed attempt 1, 2, …; there are `delaysMs.length + 1` attempts in all. */
  readonly delaysMs: readonly number[];
}

/** 1 min, 5 min, 30 min, 2 h: five attempts in all. */
export const defaultSchedule: RetrySchedule = Object.freeze({ delaysMs: Object.freeze([60_000, 300_000, 1_800_000, 7_200_000]) });

/** How many attempts a delivery gets under `schedule`. */
export function maxAttempts(schedule: RetrySchedule = defaultSchedule): number {
  return schedule.delaysMs.length + 1;
}

/**
 * When the next attempt is due after `attemptsSoFar` failed attempts, the last at `lastAttemptAt`
 * (for 0 attempts, `lastAttemptAt` is when the delivery was created: due at once), or `'failing'`
 * when the schedule is used up. Pure.
 */
export function nextAttempt(attemptsSoFar: number, lastAttemptAt: Date, schedule: RetrySchedule = defaultSchedule): Date | 'failing' {
  if (!Number.isSafeInteger(attemptsSoFar) || attemptsSoFar < 0) throw new RangeError(`attemptsSoFar must be a non-negative integer, got ${attemptsSoFar}`);
  if (attemptsSoFar === 0) return new Date(lastAttemptAt.getTime());
  const delay = schedule.delaysMs[attemptsSoFar - 1];
  if (delay === undefined) return 'failing';
  if (!Number.isFinite(delay) || delay < 0) throw new RangeError(`retry delay ${attemptsSoFar} must be a non-negative number of milliseconds`);
  return new Date(lastAttemptAt.getTime() + delay);
}
