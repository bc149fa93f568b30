import type { PayloadSource, WebhookEventName } from './payload.ts';

/**
 * The webhook delivery queue port: what the dispatcher plans and the delivery worker works off.
 * Adapters: in memory (tests) and PostgreSQL/PGlite (schema `webhooks`); both pass
 * test/webhookQueue.int.test.ts.
 *
 * A delivery stores the reference of its domain event (stream, revision, position, event id) and
 * the non-personal fields its body needs; the body itself is rebuilt at every attempt. Email and
 * ip are kept only as the sealed values of the events (encrypted with the user's data key), never
 * as plaintext: so the queue adds no plaintext to the database, and once a user is erased (key
 * destroyed) any later attempt carries `email: null` instead of the address. We keep these inputs
 * rather than re-reading the event store at delivery time because erasure deletes the user's
 * stream, which would leave pending deliveries — `user.deleted` first of all — unbuildable.
 */

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** `failing`: a delivery used up its attempts; the webhook's deliveries pause until it is resumed. */
export type WebhookStatus = 'active' | 'failing';

export interface NewDelivery {
  /** The body's `evt_` id (webhookEventId): unique per webhook and webhook event, stable across attempts. */
  readonly id: string;
  readonly webhookId: string;
  readonly tenantId: string;
  /** Deliveries of one webhook and user go out in (position, ordinal) order. */
  readonly userId: string;
  readonly event: WebhookEventName;
  readonly source: PayloadSource;
  /** Global position of the domain event. */
  readonly position: bigint;
  /** Index among the webhook events one domain event raised (face.registered 0, template.created 1). */
  readonly ordinal: number;
  /** When it was planned; the first attempt is due then. */
  readonly createdAt: Date;
}

export interface Delivery extends NewDelivery {
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly lastAttemptAt: Date | null;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
  readonly deliveredAt: Date | null;
}

/** The result of one attempt, with the retry decision already taken (retrySchedule.nextAttempt). */
export type AttemptOutcome =
  | { readonly ok: true; readonly at: Date; readonly statusCode: number; readonly durationMs: number }
  | { readonly ok: false; readonly at: Date; readonly statusCode?: number; readonly error: string; readonly durationMs: number; readonly next: Date | 'failing' };

/** What GET /v1/webhooks shows of deliveries. */
export interface WebhookDeliveryState {
  readonly webhookId: string;
  readonly status: WebhookStatus;
  /** Failed attempts since the last successful delivery. */
  readonly failureCount: number;
  /** Last successful delivery. */
  readonly lastDeliveryAt: Date | null;
  readonly lastAttemptAt: Date | null;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
}

export interface ClaimOptions {
  readonly limit: number;
  /** A claimed delivery is not claimed again for this long (crash of the claimer → retried after it). */
  readonly leaseMs: number;
}

/** A webhook as the dispatcher plans for it: which tenant, mode and webhook events. */
export interface DispatchTarget {
  readonly id: string;
  readonly tenantId: string;
  readonly mode: 'live' | 'test';
  readonly events: readonly WebhookEventName[];
}

/** Webhooks registered and removed in the events a dispatch covered, stored with its checkpoint. */
export interface TargetChanges {
  readonly registered: readonly DispatchTarget[];
  readonly removed: readonly string[];
}

export interface DeliveryQueue {
  /** Global position of the last domain event the dispatcher has planned; 0n at first. */
  checkpoint(): Promise<bigint>;
  /**
   * The webhooks as of the checkpoint: the dispatcher's own directory, kept from the
   * WebhookRegistered and WebhookRemoved events it planned past (so it never depends on how far
   * the webhooks read model has got).
   */
  targets(): Promise<DispatchTarget[]>;
  /**
   * Stores deliveries, the webhook changes seen, and moves the checkpoint (never backwards), in
   * one transaction. A delivery whose id is already stored is left as it is, so replaying events
   * after a crash is harmless.
   */
  enqueue(deliveries: readonly NewDelivery[], checkpoint: bigint, changes?: TargetChanges): Promise<{ inserted: number }>;
  /**
   * Leases up to `limit` deliveries that are pending and due at `now`, of webhooks that are not
   * failing, and that have no earlier (position, ordinal) delivery of the same webhook and user
   * still undelivered (pending, leased or failed): events of one user go out in order. A lease
   * moves `nextAttemptAt` to `now + leaseMs`. Ordered by (position, ordinal, webhook id).
   */
  claimDue(now: Date, options: ClaimOptions): Promise<Delivery[]>;
  /**
   * Records an attempt of a pending delivery (others are left alone): success → delivered;
   * failure → pending again at `next`, or, when `next` is 'failing', failed and the webhook failing.
   */
  recordAttempt(id: string, outcome: AttemptOutcome): Promise<void>;
  find(id: string): Promise<Delivery | undefined>;
  /** A webhook's deliveries, newest first (the delivery log). */
  listDeliveries(webhookId: string, options: { limit: number }): Promise<Delivery[]>;
  /** Delivery state of each webhook asked for (a webhook without deliveries reads as active, no failures). */
  webhookStates(webhookIds: readonly string[]): Promise<Map<string, WebhookDeliveryState>>;
  /** Makes a failing webhook active again: its failed deliveries are due at `now` with no attempts. Returns how many. */
  resume(webhookId: string, now: Date): Promise<number>;
  /** Forgets a removed webhook: its deliveries and its state. Returns how many deliveries went. */
  removeWebhook(webhookId: string): Promise<number>;
  /** Deletes delivered deliveries delivered before `before`. Returns how many. */
  pruneDelivered(before: Date): Promise<number>;
}

export function initialWebhookState(webhookId: string): WebhookDeliveryState {
  return { webhookId, status: 'active', failureCount: 0, lastDeliveryAt: null, lastAttemptAt: null, lastStatusCode: null, lastError: null };
}
