import { sql, type Kysely } from 'kysely';
import type { RecordedEvent } from '../../src/eventStore/eventStore.ts';
import type { Projection } from '../projection.ts';

/** Counts events per tenant, mode, month and type: the basis of usage reporting per tenant. */
export const usageProjection: Projection = {
  name: 'usage',
  version: 1,
  handles: '*',

  async createTables(db: Kysely<any>) {
    await db.schema
      .createTable('event_counts')
      .addColumn('tenant_id', 'text', (col) => col.notNull())
      .addColumn('mode', 'text', (col) => col.notNull())
      .addColumn('month', 'text', (col) => col.notNull())
      .addColumn('event_type', 'text', (col) => col.notNull())
      .addColumn('events', 'bigint', (col) => col.notNull())
      .addPrimaryKeyConstraint('event_counts_pkey', ['tenant_id', 'mode', 'month', 'event_type'])
      .execute();
  },

  async apply(db: Kysely<any>, events: readonly RecordedEvent[]) {
    const counts = new Map<string, { tenant_id: string; mode: string; month: string; event_type: string; events: number }>();
    for (const event of events) {
      const row = {
        tenant_id: event.metadata.tenantId ?? '',
        mode: event.metadata.mode ?? '',
        month: monthOf(event),
        event_type: event.type,
        events: 0,
      };
      const key = `${row.tenant_id}\u0000${row.mode}\u0000${row.month}\u0000${row.event_type}`;
      const existing = counts.get(key) ?? row;
      existing.events += 1;
      counts.set(key, existing);
    }
    await db
      .insertInto('event_counts')
      .values([...counts.values()])
      .onConflict((oc) => oc.columns(['tenant_id', 'mode', 'month', 'event_type']).doUpdateSet({ events: sql`event_counts.events + excluded.events` }))
      .execute();
  },
};

function monthOf(event: RecordedEvent): string {
  const occurred = Date.parse(event.metadata.occurredAt);
  return new Date(Number.isNaN(occurred) ? event.recordedAt.getTime() : occurred).toISOString().slice(0, 7);
}
