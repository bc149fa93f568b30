import type { RecordedEvent } from '../eventStore/eventStore.ts';
import type { DeliveryQueue, NewDelivery, WebhookStatus } from './deliveryQueue.ts';
import { describeDomainEvent, ownerStreamOf, webhookEventId, type WebhookEventName } from './payload.ts';

/** A registered webhook as the dispatcher needs it (the tenant's webhook read model has more, e.g. the secret). */
export interface WebhookTarget {
  readonly id: string;
  readonly tenantId: string;
  /** The data set whose events it receives (webhooks are managed with live keys). */
  readonly mode: 'live' | 'test';
  readonly url: string;
  readonly events: readonly WebhookEventName[];
  readonly status: WebhookStatus;
}

/**
 * The deliveries one domain event creates: one per webhook of the event's tenant and mode that
 * subscribes to a webhook event it raises. Failing webhooks still collect deliveries: the contract
 * pauses them, so nothing is lost when the webhook is resumed. Pure.
 *
 * `enrolment` is the user's UserEnrolled event when known (see describeDomainEvent).
 */
export function planDeliveries(webhooks: readonly WebhookTarget[], event: RecordedEvent, options: { enrolment?: RecordedEvent; now: Date }): NewDelivery[] {
  const described = describeDomainEvent(event, options.enrolment);
  if (described === undefined) return [];
  const { names, source } = described;
  const deliveries: NewDelivery[] = [];
  for (const webhook of webhooks) {
    if (webhook.tenantId !== source.tenantId || webhook.mode !== source.mode) continue;
    names.forEach((name, ordinal) => {
      if (!webhook.events.includes(name)) return;
      deliveries.push({
        id: webhookEventId(webhook.id, source.eventId, name),
        webhookId: webhook.id,
        tenantId: source.tenantId,
        userId: source.userId,
        event: name,
        source,
        position: event.position,
        ordinal,
        createdAt: options.now,
      });
    });
  }
  return deliveries;
}

export interface DispatchDependencies {
  readonly queue: DeliveryQueue;
  /** The webhooks of a tenant and mode, as of now. */
  webhooksOf(tenantId: string, mode: 'live' | 'test'): Promise<readonly WebhookTarget[]>;
  /**
   * The UserEnrolled event of a user stream (its revision 0), or undefined when it cannot be read
   * (the stream was deleted by an erasure): then bodies carry `email: null`.
   */
  enrolmentOf(streamName: string): Promise<RecordedEvent | undefined>;
  readonly now?: () => Date;
}

/**
 * Plans the deliveries of a batch of events read in global order and stores them together with the
 * checkpoint (the last event's position). Run it from a follower of the event store that starts
 * after `queue.checkpoint()`; a crash replays at most one batch, and replayed deliveries are
 * ignored by id. Returns how many deliveries were new.
 */
export async function dispatchEvents(events: readonly RecordedEvent[], deps: DispatchDependencies): Promise<{ inserted: number }> {
  if (events.length === 0) return { inserted: 0 };
  const now = deps.now ?? (() => new Date());
  const enrolments = new Map<string, RecordedEvent | undefined>();
  const webhooks = new Map<string, readonly WebhookTarget[]>();
  const planned: NewDelivery[] = [];
  for (const event of events) {
    if (event.type === 'UserEnrolled') {
      enrolments.set(event.streamName, event);
      continue;
    }
    if (describeDomainEvent(event) === undefined) continue;
    const tenantId = event.metadata.tenantId ?? '';
    const mode = event.metadata.mode ?? 'live';
    const key = `${tenantId}/${mode}`;
    let targets = webhooks.get(key);
    if (targets === undefined) {
      targets = await deps.webhooksOf(tenantId, mode);
      webhooks.set(key, targets);
    }
    if (targets.length === 0) continue;
    // The user's own stream holds the enrolment (a sign-in is in a monthly stream of its own).
    const owner = ownerStreamOf(event) ?? event.streamName;
    if (!enrolments.has(owner)) enrolments.set(owner, await deps.enrolmentOf(owner));
    const enrolment = enrolments.get(owner);
    planned.push(...planDeliveries(targets, event, { ...(enrolment ? { enrolment } : {}), now: now() }));
  }
  return deps.queue.enqueue(planned, events[events.length - 1]!.position);
}
