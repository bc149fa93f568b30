import type { RecordedEvent } from '../eventStore/eventStore.ts';
import type { DeliveryQueue, DispatchTarget, NewDelivery } from './deliveryQueue.ts';
import type { WebhookRegistered, WebhookRemoved } from '../tenancy/tenantEvents.ts';
import { describeDomainEvent, ownerStreamOf, webhookEventId, type WebhookEventName } from './payload.ts';

/** A registered webhook as the dispatcher needs it (the webhooks read model has more, e.g. the url and the secret). */
export type WebhookTarget = DispatchTarget;

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
  /**
   * The dispatcher's directory of webhooks, as of the events before the batch; dispatchEvents
   * keeps it up to date from the WebhookRegistered and WebhookRemoved events of the batch.
   */
  readonly directory: Map<string, DispatchTarget>;
  /**
   * The UserEnrolled event of a user stream (its revision 0), or undefined when it cannot be read
   * (the stream was deleted by an erasure): then bodies carry `email: null`.
   */
  enrolmentOf(streamName: string): Promise<RecordedEvent | undefined>;
  readonly now?: () => Date;
}

/**
 * Plans the deliveries of a batch of events read in global order and stores them, with the
 * webhooks the batch registered or removed and the checkpoint (the last event's position), in one
 * transaction. Each event is planned against the webhooks as they were right before it: a
 * webhook receives every event after its registration and none before, whatever the webhooks read
 * model shows. With `persistIdleCheckpoint: false`, a batch that plans and changes nothing stores
 * nothing (replaying it plans nothing either). Run it from a follower of the event store that
 * starts after `queue.checkpoint()` with `queue.targets()`; a crash replays at most one batch, and
 * replayed deliveries are ignored by id.
 */
export async function dispatchEvents(events: readonly RecordedEvent[], deps: DispatchDependencies, options: { readonly persistIdleCheckpoint?: boolean } = {}): Promise<{ inserted: number; persisted: boolean }> {
  if (events.length === 0) return { inserted: 0, persisted: false };
  const now = deps.now ?? (() => new Date());
  const enrolments = new Map<string, RecordedEvent | undefined>();
  const planned: NewDelivery[] = [];
  const registered = new Map<string, DispatchTarget>();
  const removed = new Set<string>();
  for (const event of events) {
    if (event.type === 'WebhookRegistered') {
      const data = (event as RecordedEvent<WebhookRegistered['data']>).data;
      const target: DispatchTarget = { id: data.webhookId, tenantId: data.tenantId, mode: data.mode, events: data.events as WebhookEventName[] };
      deps.directory.set(target.id, target);
      registered.set(target.id, target);
      removed.delete(target.id);
      continue;
    }
    if (event.type === 'WebhookRemoved') {
      const { webhookId } = (event as RecordedEvent<WebhookRemoved['data']>).data;
      deps.directory.delete(webhookId);
      registered.delete(webhookId);
      removed.add(webhookId);
      continue;
    }
    if (event.type === 'UserEnrolled') {
      enrolments.set(event.streamName, event);
      continue;
    }
    if (describeDomainEvent(event) === undefined) continue;
    const tenantId = event.metadata.tenantId ?? '';
    const mode = event.metadata.mode ?? 'live';
    const targets = [...deps.directory.values()].filter((target) => target.tenantId === tenantId && target.mode === mode);
    if (targets.length === 0) continue;
    // The user's own stream holds the enrolment (a sign-in is in a monthly stream of its own).
    const owner = ownerStreamOf(event) ?? event.streamName;
    if (!enrolments.has(owner)) enrolments.set(owner, await deps.enrolmentOf(owner));
    const enrolment = enrolments.get(owner);
    planned.push(...planDeliveries(targets, event, { ...(enrolment ? { enrolment } : {}), now: now() }));
  }
  const changes = { registered: [...registered.values()], removed: [...removed] };
  if (planned.length === 0 && changes.registered.length === 0 && changes.removed.length === 0 && options.persistIdleCheckpoint === false) return { inserted: 0, persisted: false };
  return { ...(await deps.queue.enqueue(planned, events[events.length - 1]!.position, changes)), persisted: true };
}
