import { initialWebhookState, type AttemptOutcome, type Delivery, type DeliveryQueue, type DispatchTarget, type WebhookDeliveryState } from './deliveryQueue.ts';

/** The delivery queue in memory: for tests, and the reference the SQL adapter is checked against. */
export function createMemoryDeliveryQueue(): DeliveryQueue {
  const deliveries = new Map<string, Delivery>();
  const states = new Map<string, WebhookDeliveryState>();
  const targets = new Map<string, DispatchTarget>();
  let checkpoint = 0n;

  const before = (a: Delivery, b: Delivery) => a.position < b.position || (a.position === b.position && a.ordinal < b.ordinal);
  const byOrder = (a: Delivery, b: Delivery) => (before(a, b) ? -1 : before(b, a) ? 1 : a.webhookId < b.webhookId ? -1 : a.webhookId > b.webhookId ? 1 : 0);
  const stateOf = (webhookId: string) => states.get(webhookId) ?? initialWebhookState(webhookId);

  return {
    async checkpoint() {
      return checkpoint;
    },

    async targets() {
      return [...targets.values()];
    },

    async enqueue(planned, position, changes) {
      for (const target of changes?.registered ?? []) targets.set(target.id, target);
      for (const id of changes?.removed ?? []) targets.delete(id);
      let inserted = 0;
      for (const delivery of planned) {
        if (deliveries.has(delivery.id)) continue;
        deliveries.set(delivery.id, {
          ...delivery,
          status: 'pending',
          attempts: 0,
          nextAttemptAt: delivery.createdAt,
          lastAttemptAt: null,
          lastStatusCode: null,
          lastError: null,
          deliveredAt: null,
        });
        inserted++;
      }
      if (position > checkpoint) checkpoint = position;
      return { inserted };
    },

    async claimDue(now, { limit, leaseMs }) {
      const all = [...deliveries.values()].sort(byOrder);
      const claimed: Delivery[] = [];
      for (const candidate of all) {
        if (claimed.length >= limit) break;
        if (candidate.status !== 'pending' || candidate.nextAttemptAt.getTime() > now.getTime()) continue;
        if (stateOf(candidate.webhookId).status === 'failing') continue;
        const blocked = all.some((other) => other.status !== 'delivered' && other.webhookId === candidate.webhookId && other.userId === candidate.userId && before(other, candidate));
        if (blocked) continue;
        const leased: Delivery = { ...candidate, nextAttemptAt: new Date(now.getTime() + leaseMs) };
        deliveries.set(candidate.id, leased);
        claimed.push(leased);
      }
      return claimed;
    },

    async recordAttempt(id, outcome: AttemptOutcome) {
      const delivery = deliveries.get(id);
      if (!delivery || delivery.status !== 'pending') return;
      const state = stateOf(delivery.webhookId);
      const common = { attempts: delivery.attempts + 1, lastAttemptAt: outcome.at, lastStatusCode: outcome.statusCode ?? null };
      if (outcome.ok) {
        deliveries.set(id, { ...delivery, ...common, status: 'delivered', lastError: null, deliveredAt: outcome.at });
        states.set(delivery.webhookId, { ...state, failureCount: 0, lastDeliveryAt: outcome.at, lastAttemptAt: outcome.at, lastStatusCode: outcome.statusCode, lastError: null });
        return;
      }
      const failing = outcome.next === 'failing';
      deliveries.set(id, {
        ...delivery,
        ...common,
        status: failing ? 'failed' : 'pending',
        lastError: outcome.error,
        nextAttemptAt: outcome.next === 'failing' ? delivery.nextAttemptAt : outcome.next,
      });
      states.set(delivery.webhookId, {
        ...state,
        status: failing ? 'failing' : state.status,
        failureCount: state.failureCount + 1,
        lastAttemptAt: outcome.at,
        lastStatusCode: outcome.statusCode ?? null,
        lastError: outcome.error,
      });
    },

    async listDeliveries(webhookId, options) {
      return [...deliveries.values()]
        .filter((delivery) => delivery.webhookId === webhookId)
        .sort((a, b) => (a.position === b.position ? b.ordinal - a.ordinal : a.position < b.position ? 1 : -1))
        .slice(0, options.limit);
    },
    async find(id) {
      return deliveries.get(id);
    },

    async webhookStates(webhookIds) {
      return new Map(webhookIds.map((webhookId) => [webhookId, stateOf(webhookId)]));
    },

    async resume(webhookId, now) {
      let count = 0;
      for (const delivery of deliveries.values()) {
        if (delivery.webhookId !== webhookId || delivery.status !== 'failed') continue;
        deliveries.set(delivery.id, { ...delivery, status: 'pending', attempts: 0, nextAttemptAt: now });
        count++;
      }
      if (states.has(webhookId)) states.set(webhookId, { ...stateOf(webhookId), status: 'active', failureCount: 0 });
      return count;
    },

    async removeWebhook(webhookId) {
      let count = 0;
      for (const delivery of [...deliveries.values()]) {
        if (delivery.webhookId === webhookId) {
          deliveries.delete(delivery.id);
          count++;
        }
      }
      states.delete(webhookId);
      return count;
    },

    async pruneDelivered(cutoff) {
      let count = 0;
      for (const delivery of [...deliveries.values()]) {
        if (delivery.status === 'delivered' && delivery.deliveredAt !== null && delivery.deliveredAt.getTime() < cutoff.getTime()) {
          deliveries.delete(delivery.id);
          count++;
        }
      }
      return count;
    },
  };
}
