import type { Logger } from 'pino';
import { hasCode } from '../errors/appError.ts';
import type { FieldCipher } from '../crypto/fieldCipher.ts';
import type { EventStore } from '../eventStore/eventStore.ts';
import type { Consumer } from '../eventStore/follower.ts';
import type { DeliveryQueue, DispatchTarget } from './deliveryQueue.ts';
import { createDeliveryPump } from './deliveryWorker.ts';
import { dispatchEvents } from './dispatcher.ts';
import type { RetrySchedule } from './retrySchedule.ts';
import type { WebhookService } from './webhookService.ts';

export interface WebhookRuntime {
  /** Loads the dispatcher's checkpoint and starts sending deliveries. */
  start(): Promise<void>;
  /** Plans deliveries from the event stream, for the service's follower (after `start`). */
  readonly consumer: Consumer;
  stop(): Promise<void>;
}

export interface WebhookRuntimeOptions {
  readonly store: EventStore;
  readonly queue: DeliveryQueue;
  readonly webhooks: WebhookService;
  readonly cipher: FieldCipher;
  readonly logger: Logger;
  readonly allowPrivate: boolean;
  readonly schedule: RetrySchedule;
  /** How often due retries are looked for; new deliveries are sent at once. */
  readonly deliveryPollMs?: number;
  /** Attempts running at once (each may wait up to 10 s for its receiver). */
  readonly maxInFlight?: number;
  /** Told of every recorded delivery attempt (metrics). */
  readonly onAttempt?: (outcome: 'delivered' | 'failed' | 'failing') => void;
}

/** A batch that plans no delivery writes the dispatcher's checkpoint at most this often. */
const idleCheckpointMs = 1000;

/** The webhook dispatcher (checkpointed, at-least-once) and the delivery loop of this instance. */
export function createWebhookRuntime(options: WebhookRuntimeOptions): WebhookRuntime {
  const { store, queue, webhooks, cipher, logger } = options;
  const controller = new AbortController();
  let position = 0n;
  let loops: Promise<void>[] = [];

  const enrolmentOf = async (streamName: string) => {
    try {
      const [first] = await store.readStream(streamName, { maxCount: 1 });
      return first?.type === 'UserEnrolled' ? first : undefined;
    } catch (error) {
      if (hasCode(error, 'STREAM_DELETED')) return undefined;
      throw error;
    }
  };
  const decrypt = (subjectId: string, sealed: string, aad: string) => cipher.openText(subjectId, sealed, aad);

  // The dispatcher's own directory of webhooks (as of its checkpoint), loaded at start.
  const directory = new Map<string, DispatchTarget>();
  let checkpointWrittenAt = 0;

  /** Wakes the delivery loop: new deliveries were planned, or an attempt settled. A wake while it works is kept for its next wait. */
  let woken = false;
  let wakeDelivery: (() => void) | undefined;
  const kickDelivery = () => {
    woken = true;
    wakeDelivery?.();
  };

  async function deliveryLoop(): Promise<void> {
    const pollMs = options.deliveryPollMs ?? 1000;
    const pump = createDeliveryPump(
      { queue, findWebhook: (id) => webhooks.secretOf(id), decrypt, allowPrivate: options.allowPrivate, schedule: options.schedule, ...(options.onAttempt ? { onAttempt: options.onAttempt } : {}) },
      { maxInFlight: options.maxInFlight ?? 32, signal: controller.signal, onSettled: kickDelivery },
    );
    while (!controller.signal.aborted) {
      woken = false;
      try {
        if ((await pump.fill()) > 0) continue;
      } catch (error) {
        if (controller.signal.aborted) break;
        logger.error({ err: error }, 'webhook delivery pass failed');
      }
      if (woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, pollMs);
        function done() {
          clearTimeout(timer);
          controller.signal.removeEventListener('abort', done);
          wakeDelivery = undefined;
          resolve();
        }
        wakeDelivery = done;
        controller.signal.addEventListener('abort', done);
      });
    }
    // Attempts abandoned by the abort settle at once and record nothing.
    await pump.settled();
  }

  return {
    async start() {
      position = await queue.checkpoint();
      for (const target of await queue.targets()) directory.set(target.id, target);
      loops = [deliveryLoop()];
    },
    consumer: {
      name: 'webhooks',
      position: () => position,
      async handle(events) {
        const now = Date.now();
        const { inserted, persisted } = await dispatchEvents(events, { queue, directory, enrolmentOf }, { persistIdleCheckpoint: now - checkpointWrittenAt >= idleCheckpointMs });
        if (persisted) checkpointWrittenAt = now;
        position = events.at(-1)!.position;
        if (inserted > 0) kickDelivery();
      },
    },
    async stop() {
      controller.abort();
      await Promise.all(loops);
    },
  };
}
