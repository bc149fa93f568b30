import { setTimeout as sleep } from 'node:timers/promises';
import type { EventStore, RecordedEvent } from '../../src/eventStore/eventStore.ts';

/**
 * The events after `after`, read once every event up to `through` (an acknowledged append's
 * position) is readable. On PostgreSQL readAll shows an event only once no transaction older
 * than it is running anywhere in the cluster (so a reader never skips one that commits later
 * with a lower position); other test files' databases share that cluster, so an acknowledged
 * event can take a moment to appear.
 */
export async function eventsThrough(store: EventStore, after: bigint, through: bigint): Promise<RecordedEvent[]> {
  for (;;) {
    const events = await store.readAll({ after, maxCount: 10_000 });
    if ((events.at(-1)?.position ?? after) >= through) return events;
    await sleep(5);
  }
}
