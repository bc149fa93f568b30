import { createHash } from 'node:crypto';
import type { RecordedEvent } from '../eventStore/eventStore.ts';
import { assertNever } from '../users/userDecider.ts';
import { userStream } from '../ids/streams.ts';
import { aad, signInSubject, type FaceTemplateAdded, type FaceTemplateRemoved, type SignInAttempted, type UserEnrolled, type UserErased, type UserEvent } from '../users/userEvents.ts';

/** Webhook event names of the contract. */
export const webhookEventNames = ['face.registered', 'face.verified', 'face.failed', 'template.created', 'template.deleted', 'user.deleted'] as const;

export type WebhookEventName = (typeof webhookEventNames)[number];

export function isWebhookEventName(value: unknown): value is WebhookEventName {
  return typeof value === 'string' && (webhookEventNames as readonly string[]).includes(value);
}

/**
 * The part of a domain event a webhook body is built from. It never holds a descriptor (dropped
 * here) nor a plaintext: email and ip stay sealed with the user's data key, so once the user is
 * erased (key destroyed) a body built from it carries `null` instead.
 */
export type SourceEvent =
  | { readonly type: 'FaceTemplateAdded'; readonly data: Omit<FaceTemplateAdded['data'], 'descriptor'> }
  | { readonly type: 'FaceTemplateRemoved'; readonly data: FaceTemplateRemoved['data'] }
  | { readonly type: 'SignInAttempted'; readonly data: Omit<SignInAttempted['data'], 'userAgent'> }
  | { readonly type: 'UserErased'; readonly data: Omit<UserErased['data'], 'emailIndex'> };

export interface PayloadSource {
  /** The domain event: its uuid, stream, revision and global position. */
  readonly eventId: string;
  readonly streamName: string;
  readonly revision: bigint;
  readonly position: bigint;
  readonly occurredAt: string;
  readonly tenantId: string;
  readonly mode: 'live' | 'test';
  readonly userId: string;
  readonly event: SourceEvent;
  /** The user's email as sealed in `UserEnrolled` (aad `<userId>:email`), when known. */
  readonly sealedEmail: string | null;
}

/** A webhook body as the contract shapes it. */
export interface WebhookBody {
  readonly id: string;
  readonly event: WebhookEventName;
  readonly createdAt: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** Opens a sealed field of a user; null once the user is erased (their data key destroyed). */
export type DecryptField = (userId: string, sealed: string, aad: string) => Promise<string | null>;

/**
 * What a domain event means for webhooks: the webhook events it raises (in delivery order) and the
 * source their bodies are built from; undefined for events webhooks do not see.
 *
 * `enrolment` is the user's `UserEnrolled` event (revision 0 of the stream) when the caller has it:
 * it supplies the sealed email, and a `FaceTemplateAdded` appended together with it (the next
 * revision, same request) is a registration and raises `face.registered` before `template.created`.
 */
export function describeDomainEvent(event: RecordedEvent, enrolment?: RecordedEvent): { readonly names: readonly WebhookEventName[]; readonly source: PayloadSource } | undefined {
  const domain = event as unknown as RecordedEvent & UserEvent;
  const enrolled = enrolment?.type === 'UserEnrolled' && enrolment.streamName === ownerStreamOf(event) ? (enrolment as unknown as RecordedEvent & UserEnrolled) : undefined;
  let names: WebhookEventName[];
  let source: SourceEvent;
  switch (domain.type) {
    case 'UserEnrolled':
      // Announced by the FaceTemplateAdded of the same append, which carries the template too.
      return undefined;
    case 'FaceTemplateAdded': {
      const { descriptor: _descriptor, ...data } = domain.data;
      source = { type: 'FaceTemplateAdded', data };
      names = enrolled !== undefined && cameTogether(enrolled, event) ? ['face.registered', 'template.created'] : ['template.created'];
      break;
    }
    case 'FaceTemplateRemoved':
      source = { type: 'FaceTemplateRemoved', data: domain.data };
      names = ['template.deleted'];
      break;
    case 'SignInAttempted': {
      const { userAgent: _userAgent, ...data } = domain.data;
      source = { type: 'SignInAttempted', data };
      names = [domain.data.outcome === 'success' ? 'face.verified' : 'face.failed'];
      break;
    }
    case 'UserProfileChanged':
      // No webhook event announces a profile change.
      return undefined;
    case 'UserErased':
      source = { type: 'UserErased', data: { userId: domain.data.userId, reason: domain.data.reason } };
      names = ['user.deleted'];
      break;
    default:
      // Not a user event (tenant, reservation, …): webhooks do not see it.
      if (!isUserEventType((domain as { type: string }).type)) return undefined;
      return assertNever(domain);
  }
  return {
    names,
    source: {
      eventId: event.id,
      streamName: event.streamName,
      revision: event.revision,
      position: event.position,
      occurredAt: event.metadata.occurredAt,
      tenantId: event.metadata.tenantId ?? '',
      mode: event.metadata.mode ?? 'live',
      userId: source.data.userId,
      event: source,
      sealedEmail: enrolled?.data.email ?? null,
    },
  };
}

/**
 * The stream of the user a user event is about: its own stream for most, the user's stream for a
 * sign-in (which is in a monthly stream of its own). Undefined for events that name no user.
 */
export function ownerStreamOf(event: RecordedEvent): string | undefined {
  const userId = (event.data as { userId?: unknown } | null)?.userId;
  return isUserEventType(event.type) && typeof userId === 'string' ? userStream(userId) : undefined;
}

function isUserEventType(type: string): boolean {
  return ['UserEnrolled', 'FaceTemplateAdded', 'FaceTemplateRemoved', 'SignInAttempted', 'UserProfileChanged', 'UserErased'].includes(type);
}

function cameTogether(enrolment: RecordedEvent, added: RecordedEvent): boolean {
  if (added.revision !== enrolment.revision + 1n) return false;
  const a = enrolment.metadata.requestId;
  const b = added.metadata.requestId;
  return a === undefined || b === undefined || a === b;
}

/**
 * The body's `evt_` id: the same for every redelivery of one webhook event to one webhook, and
 * different across webhooks (a receiver cannot correlate two tenants' endpoints). The name is
 * part of it because one domain event can raise two webhook events (registration).
 */
export function webhookEventId(webhookId: string, domainEventId: string, name: WebhookEventName): string {
  return `evt_${createHash('sha256').update(`${webhookId}\n${domainEventId}\n${name}`).digest('hex').slice(0, 32)}`;
}

/** Builds the body of one webhook event for one webhook; personal fields are opened only now. */
export async function buildWebhookBody(input: { webhookId: string; name: WebhookEventName; source: PayloadSource; decrypt: DecryptField }): Promise<WebhookBody> {
  const { webhookId, name, source, decrypt } = input;
  const userId = source.userId;
  const email = async () => (source.sealedEmail === null ? null : decrypt(userId, source.sealedEmail, aad.email(userId)));
  const event = source.event;
  let data: Record<string, unknown>;
  switch (event.type) {
    case 'FaceTemplateAdded':
      data =
        name === 'face.registered'
          ? { userId, email: await email(), templateId: event.data.templateId, qualityScore: event.data.quality }
          : { userId, templateId: event.data.templateId, qualityScore: event.data.quality, source: event.data.source };
      break;
    case 'FaceTemplateRemoved':
      data = { userId, templateId: event.data.templateId, reason: event.data.reason };
      break;
    case 'SignInAttempted':
      data = {
        userId,
        email: await email(),
        logId: event.data.logId,
        kind: event.data.kind,
        similarity: event.data.similarity,
        threshold: event.data.threshold,
        templateId: event.data.templateId,
        ipAddress: event.data.ip === null ? null : await decrypt(signInSubject(userId, source.occurredAt), event.data.ip, aad.ip(event.data.logId)),
      };
      break;
    case 'UserErased':
      data = { userId, reason: event.data.reason };
      break;
    default:
      return assertNever(event);
  }
  return { id: webhookEventId(webhookId, source.eventId, name), event: name, createdAt: source.occurredAt, data };
}
