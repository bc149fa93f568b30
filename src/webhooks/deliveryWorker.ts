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

async function attempt(deps: DeliveryWorkerDependencies, delivery: Delivery, timeoutMs: number, now: () => Date): Promise<AttemptOutcome | undefined> {
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
    });
  } catch (error) {
    // Only the body can throw here (a sealed field failing its integrity check); never log its content.
    result = { ok: false, error: `payload could not be built: ${error instanceof Error ? error.message : String(error)}`, durationMs: 0 };
  }
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
  return outcome;
}
