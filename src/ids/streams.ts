/**
 * Every stream name of the service, in one place. Names hold no personal data (design.md): ids,
 * blind indexes, dates. Commands fold only small streams; high-volume facts (sign-in attempts,
 * identify misses) have streams of their own that no command reads.
 */

/** A user's aggregate: enrolment, templates, profile, erasure. `user-<uuid>`. */
export function userStream(userId: string): string {
  const hex = userId.slice(4);
  return `user-${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A user's sign-in attempts of one UTC month, guarded by the user's stream (closed at erasure). */
export function signInStream(userId: string, occurredAt: string): string {
  return `signins-${userId}-${occurredAt.slice(0, 7)}`;
}

/** The UTC months (`YYYY-MM`) from one date to another, both included: the sign-in streams a user can have. */
export function monthsBetween(from: string, to: string): string[] {
  const months: string[] = [];
  let year = Number(from.slice(0, 4));
  let month = Number(from.slice(5, 7));
  const last = to.slice(0, 7);
  for (;;) {
    const label = `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;
    if (label > last) break;
    months.push(label);
    month += 1;
    if (month > 12) {
      month = 1;
      year += 1;
    }
  }
  return months;
}

/** Identify calls of a tenant and mode that found no candidate, per UTC day. */
export function missStream(tenantId: string, mode: string, occurredAt: string): string {
  return `misses-${tenantId}-${mode}-${occurredAt.slice(0, 10)}`;
}

/** A tenant's aggregate: settings, keys, webhooks. */
export function tenantStream(tenantId: string): string {
  return `tenant-${tenantId}`;
}

/** The reservation of one email (by blind index) in a tenant and mode: one user per email. */
export function emailReservationStream(emailIndex: string): string {
  return `email-${emailIndex}`;
}

/**
 * The order in which faces join one tenant and mode's gallery. Every template added is appended
 * here at the revision its duplicate check saw, so two registrations of one face cannot both pass,
 * on any instance.
 */
export function galleryStream(tenantId: string, mode: string): string {
  return `gallery-${tenantId}-${mode}`;
}

/** A tenant's chain of erasure receipts. */
export function erasureStream(tenantId: string): string {
  return `erasures-${tenantId}`;
}

/** Progress of one-off migrations of the store. */
export const migrationsStream = 'migrations';
