import { AppError } from '../errors/appError.ts';
import type { EventStore, RecordedEvent } from '../eventStore/eventStore.ts';
import { monthsBetween, signInStream, tenantStream, userStream } from '../ids/streams.ts';
import { defaultTenantSettings, duplicateThresholdOf, type TenantContext, type TenantSettings } from '../tenancy/tenant.ts';
import type { TenantEvent } from '../tenancy/tenantEvents.ts';
import { assertNever } from '../users/userDecider.ts';
import type { UserEvent } from '../users/userEvents.ts';

/** One event of a user's history: who did what, when, and its non-biometric facts. */
export interface HistoryEntry {
  readonly type: UserEvent['type'];
  readonly occurredAt: string;
  readonly actorKeyId: string | null;
  readonly requestId: string | null;
  /** The stream the event is in: the user's own, or one of their monthly sign-in streams. */
  readonly stream: string;
  /** Its revision in that stream. */
  readonly revision: string;
  readonly position: string;
  /** Quality, similarity, outcome and ids; never an email, descriptor, IP or user agent. Absent once erased. */
  readonly facts?: Record<string, unknown>;
  /** True for events of an erased user: their payload is gone with the user's key. */
  readonly erased?: true;
}

export interface StateAt {
  readonly at: string;
  readonly status: 'absent' | 'active' | 'erased';
  /** Templates active then; after the user's erasure their quality reads null, like every other payload. */
  readonly templates: Array<{ readonly templateId: string; readonly quality: number | null; readonly addedAt: string }>;
  readonly counters: { readonly loginCount: number; readonly successfulLogins: number; readonly failedLogins: number };
  readonly thresholds: { readonly matchThreshold: number; readonly duplicateThreshold: number; readonly maxTemplates: number };
}

export interface UserHistory {
  readonly userId: string;
  readonly status: 'active' | 'erased';
  readonly events: HistoryEntry[];
  readonly stateAt?: StateAt;
}

function factsOf(event: UserEvent): Record<string, unknown> {
  switch (event.type) {
    case 'UserEnrolled':
      return {};
    case 'FaceTemplateAdded':
      return { templateId: event.data.templateId, quality: event.data.quality, source: event.data.source, model: event.data.model };
    case 'FaceTemplateRemoved':
      return { templateId: event.data.templateId, reason: event.data.reason };
    case 'SignInAttempted':
      return { logId: event.data.logId, kind: event.data.kind, outcome: event.data.outcome, similarity: event.data.similarity, threshold: event.data.threshold, templateId: event.data.templateId };
    case 'UserProfileChanged':
      return { changed: ['fullName'] };
    case 'UserErased':
      return { reason: event.data.reason };
    default:
      return assertNever(event);
  }
}

/** The tenant's settings as they were at `at` (replayed from its stream). */
async function settingsAt(store: EventStore, tenantId: string, at: number): Promise<TenantSettings> {
  let settings = defaultTenantSettings;
  for (const event of await store.readStream(tenantStream(tenantId))) {
    if (Date.parse(event.metadata.occurredAt) > at) break;
    const tenantEvent = event as unknown as TenantEvent;
    if (tenantEvent.type === 'TenantCreated' || tenantEvent.type === 'TenantSettingsChanged') settings = { ...defaultTenantSettings, ...tenantEvent.data.settings };
  }
  return settings;
}

/**
 * Every event of a user in global order: their own stream (without snapshots, which are not
 * history) and their monthly sign-in streams, from the month they enrolled to the month they were
 * erased, or this one.
 */
async function userEvents(store: EventStore, userId: string): Promise<Array<RecordedEvent & UserEvent>> {
  const own = (await store.readStream(userStream(userId))).filter((event) => event.type !== 'UserSnapshotted');
  const first = own[0];
  if (!first) return [];
  const erased = own.find((event) => event.type === 'UserErased');
  const months = monthsBetween(first.metadata.occurredAt, erased?.metadata.occurredAt ?? new Date().toISOString());
  const signIns = (await Promise.all(months.map((month) => store.readStream(signInStream(userId, `${month}-01`))))).flat();
  return [...own, ...signIns].sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0)) as Array<RecordedEvent & UserEvent>;
}

/**
 * Replays a user's stream: every event with its time, actor and request, and (with `at`) the
 * user's state as it was then. Works for erased users too: the events stay, their payloads read as
 * erased. A user of another tenant or mode is NOT_FOUND.
 */
export async function userHistory(store: EventStore, tenant: Pick<TenantContext, 'tenantId' | 'mode'> | undefined, userId: string, at?: Date): Promise<UserHistory> {
  const events = await userEvents(store, userId);
  const first = events[0];
  if (!first || (tenant && (first.metadata.tenantId !== tenant.tenantId || first.metadata.mode !== tenant.mode))) throw new AppError('NOT_FOUND', 'user not found', { userId });
  const erased = events.some((event) => event.type === 'UserErased');
  const until = at?.getTime() ?? Number.POSITIVE_INFINITY;
  const shown = events.filter((event) => Date.parse(event.metadata.occurredAt) <= until);
  const entries: HistoryEntry[] = shown.map((event) => ({
    type: event.type,
    occurredAt: event.metadata.occurredAt,
    actorKeyId: event.metadata.actorKeyId ?? null,
    requestId: event.metadata.requestId ?? null,
    stream: event.streamName,
    revision: event.revision.toString(),
    position: event.position.toString(),
    ...(erased && event.type !== 'UserErased' ? { erased: true as const } : { facts: factsOf(event) }),
  }));
  if (!at) return { userId, status: erased ? 'erased' : 'active', events: entries };

  let status: StateAt['status'] = 'absent';
  const templates = new Map<string, { templateId: string; quality: number; addedAt: string }>();
  const counters = { loginCount: 0, successfulLogins: 0, failedLogins: 0 };
  for (const event of shown) {
    switch (event.type) {
      case 'UserEnrolled':
        status = 'active';
        break;
      case 'FaceTemplateAdded':
        templates.set(event.data.templateId, { templateId: event.data.templateId, quality: event.data.quality, addedAt: event.metadata.occurredAt });
        break;
      case 'FaceTemplateRemoved':
        templates.delete(event.data.templateId);
        break;
      case 'SignInAttempted':
        counters.loginCount += 1;
        if (event.data.outcome === 'success') counters.successfulLogins += 1;
        else counters.failedLogins += 1;
        break;
      case 'UserProfileChanged':
        break;
      case 'UserErased':
        status = 'erased';
        templates.clear();
        break;
      default:
        assertNever(event);
    }
  }
  const settings = await settingsAt(store, String(first.metadata.tenantId), until);
  return {
    userId,
    status: erased ? 'erased' : 'active',
    events: entries,
    stateAt: {
      at: at.toISOString(),
      status,
      templates: [...templates.values()].map((template) => (erased ? { ...template, quality: null } : template)),
      counters,
      thresholds: { matchThreshold: settings.matchThreshold, duplicateThreshold: duplicateThresholdOf(settings), maxTemplates: settings.maxTemplates },
    },
  };
}
