import type { Resolver } from './addressPolicy.ts';
import { deliver as httpDeliver, type DeliverOptions, type DeliveryResult } from './deliveryClient.ts';
import type { AttemptOutcome, Delivery, DeliveryQueue } from './deliveryQueue.ts';
import { buildWebhookBody, type DecryptField } from './payload.ts';
import { defaultSchedule, nextAttempt, type RetrySchedule } from './retrySchedule.ts';

export interface DeliveryWorkerDependencies {
  readonly queue: DeliveryQueue;
  /** The webhook's current url and secret; undefined once it was removed. */
  findWebhook(webhookId: string): Promise<{ readonly url: string; readonly secret: string } | undefined>;
  readonly decrypt: DecryptField;
  readonly allowPrivate: boolean;
  readonly schedule?: RetrySchedule;
  readonly timeoutMs?: number;
  readonly now?: () => Date;
  readonly resolve?: Resolver;
  /** Injected in tests; the HTTP client otherwise. */
  readonly deliver?: (options: DeliverOptions) => Promise<DeliveryResult>;
  /** Told of every recorded attempt (metrics): delivered, failed (a retry is due) or failing (retries used up). */
  readonly onAttempt?: (outcome: 'delivered' | 'failed' | 'failing') => void;
}

export interface DeliveryPassResult {
  readonly attempted: number;
  readonly delivered: number;
  readonly failed: number;
}

/**
 * One pass of the delivery loop: claims the due deliveries, sends them (each user's chain has at
 * most one in the claim, so they go out in parallel) and records each outcome with its retry
 * decision. Never throws for a receiver's fault; a queue error propagates to the loop.
 */
export async function deliverDue(deps: DeliveryWorkerDependencies, options: { limit?: number } = {}): Promise<DeliveryPassResult> {
  const now = deps.now ?? (() => new Date());
  const timeoutMs = deps.timeoutMs ?? 10_000;
  // The lease outlives one attempt, so a live worker is never overtaken by another claimer.
  const claimed = await deps.queue.claimDue(now(), { limit: options.limit ?? 50, leaseMs: timeoutMs + 30_000 });
  const outcomes = await Promise.all(claimed.map((delivery) => attempt(deps, delivery, timeoutMs, now)));
  return {
    attempted: outcomes.filter((o) => o !== undefined).length,
    delivered: outcomes.filter((o) => o?.ok === true).length,
    failed: outcomes.filter((o) => o?.ok === false).length,
  };
}

export interface DeliveryPump {
  /** Claims as many due deliveries as there are free slots and starts them; resolves with how many started. */
  fill(): Promise<number>;
  /** Attempts running now. */
  inFlight(): number;
  /** Resolves when every running attempt has settled. */
  settled(): Promise<void>;
}

/**
 * The delivery loop's engine: attempts run side by side, each recorded as it settles, and a
 * free slot is refilled at once, so one slow receiver (up to the 10 s timeout) never holds back
 * the deliveries of other webhooks. Order per webhook and user still holds: the queue leases a
 * delivery while it runs, and never hands out one whose predecessor is not delivered.
 */
export function createDeliveryPump(deps: DeliveryWorkerDependencies, options: { readonly maxInFlight: number; readonly signal?: AbortSignal; readonly onSettled?: () => void }): DeliveryPump {
  const now = deps.now ?? (() => new Date());
  const timeoutMs = deps.timeoutMs ?? 10_000;
  const running = new Set<Promise<unknown>>();
  return {
    async fill() {
      const free = options.maxInFlight - running.size;
      if (free <= 0 || options.signal?.aborted) return 0;
      const claimed = await deps.queue.claimDue(now(), { limit: free, leaseMs: timeoutMs + 30_000 });
      for (const delivery of claimed) {
        const task: Promise<unknown> = attempt(deps, delivery, timeoutMs, now, options.signal)
          .catch(() => undefined)
          .finally(() => {
            running.delete(task);
            options.onSettled?.();
          });
        running.add(task);
      }
      return claimed.length;
    },
    inFlight: () => running.size,
    async settled() {
      await Promise.all([...running]);
    },
  };
}

async function attempt(deps: DeliveryWorkerDependencies, delivery: Delivery, timeoutMs: number, now: () => Date, signal?: AbortSignal): Promise<AttemptOutcome | undefined> {
  const webhook = await deps.findWebhook(delivery.webhookId);
  if (webhook === undefined) {
    await deps.queue.removeWebhook(delivery.webhookId);
    return undefined;
  }
  let result: DeliveryResult;
  try {
    const body = await buildWebhookBody({ webhookId: delivery.webhookId, name: delivery.event, source: delivery.source, decrypt: deps.decrypt });
    result = await (deps.deliver ?? httpDeliver)({
      url: webhook.url,
      secret: webhook.secret,
      body,
      timeoutMs,
      allowPrivate: deps.allowPrivate,
      now,
      ...(deps.resolve ? { resolve: deps.resolve } : {}),
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    // Only the body can throw here (a sealed field failing its integrity check); never log its content.
    result = { ok: false, error: `payload could not be built: ${error instanceof Error ? error.message : String(error)}`, durationMs: 0 };
  }
  // Abandoned because the service stops: not the receiver's fault, so nothing is recorded; the
  // lease runs out and the delivery is attempted again.
  if (signal?.aborted && !result.ok) return undefined;
  const at = now();
  const outcome: AttemptOutcome = result.ok
    ? { ok: true, at, statusCode: result.status ?? 200, durationMs: result.durationMs }
    : {
        ok: false,
        at,
        ...(result.status !== undefined ? { statusCode: result.status } : {}),
        error: result.error ?? 'delivery failed',
        durationMs: result.durationMs,
        next: nextAttempt(delivery.attempts + 1, at, deps.schedule ?? defaultSchedule),
      };
  await deps.queue.recordAttempt(delivery.id, outcome);
  deps.onAttempt?.(outcome.ok ? 'delivered' : outcome.next === 'failing' ? 'failing' : 'failed');
  return outcome;
}
