import { sql, type Kysely } from 'kysely';
import type { RecordedEvent } from '../../src/eventStore/eventStore.ts';
import { comparedBin, similarityBin, thresholdBin } from '../../src/faces/falseIdentification.ts';
import type { FaceClaimed } from '../../src/users/userEvents.ts';
import type { Projection } from '../projection.ts';

/**
 * Per tenant and mode, how close each registration came to the nearest other user (FaceClaimed,
 * on the gallery stream): counts by similarity bin, users compared and the duplicate threshold of
 * the check. Numbers only, no user: the gallery's empirical impostor curve (faces/falseIdentification.ts).
 * Claims of older versions, which did not record the users compared, are left out.
 */
export const galleryStatsProjection: Projection = {
  name: 'gallery_stats',
  version: 1,
  handles: ['FaceClaimed'],

  async createTables(db: Kysely<any>) {
    await db.schema
      .createTable('nearest_other')
      .addColumn('tenant_id', 'text', (col) => col.notNull())
      .addColumn('mode', 'text', (col) => col.notNull())
      .addColumn('similarity_bin', 'integer', (col) => col.notNull())
      .addColumn('compared_bin', 'integer', (col) => col.notNull())
      .addColumn('ceiling_bin', 'integer', (col) => col.notNull())
      .addColumn('observations', 'bigint', (col) => col.notNull())
      .addColumn('compared_sum', 'bigint', (col) => col.notNull())
      .addPrimaryKeyConstraint('nearest_other_pkey', ['tenant_id', 'mode', 'similarity_bin', 'compared_bin', 'ceiling_bin'])
      .execute();
  },

  async apply(db: Kysely<any>, events: readonly RecordedEvent[]) {
    const cells = new Map<string, { tenant_id: string; mode: string; similarity_bin: number; compared_bin: number; ceiling_bin: number; observations: number; compared_sum: number }>();
    for (const event of events) {
      const data = event.data as FaceClaimed['data'];
      const { tenantId, mode } = event.metadata;
      if (typeof tenantId !== 'string' || typeof mode !== 'string') continue;
      if (typeof data.nearestOtherSimilarity !== 'number' || typeof data.comparedUsers !== 'number' || data.comparedUsers < 1 || typeof data.duplicateThreshold !== 'number') continue;
      const row = {
        tenant_id: tenantId,
        mode,
        similarity_bin: similarityBin(data.nearestOtherSimilarity),
        compared_bin: comparedBin(data.comparedUsers),
        ceiling_bin: thresholdBin(data.duplicateThreshold),
        observations: 0,
        compared_sum: 0,
      };
      const key = `${row.tenant_id}\u0000${row.mode}\u0000${row.similarity_bin}\u0000${row.compared_bin}\u0000${row.ceiling_bin}`;
      const cell = cells.get(key) ?? row;
      cell.observations += 1;
      cell.compared_sum += data.comparedUsers;
      cells.set(key, cell);
    }
    if (cells.size === 0) return;
    await db
      .insertInto('nearest_other')
      .values([...cells.values()])
      .onConflict((oc) =>
        oc.columns(['tenant_id', 'mode', 'similarity_bin', 'compared_bin', 'ceiling_bin']).doUpdateSet({
          observations: sql`nearest_other.observations + excluded.observations`,
          compared_sum: sql`nearest_other.compared_sum + excluded.compared_sum`,
        }),
      )
      .execute();
  },
};
