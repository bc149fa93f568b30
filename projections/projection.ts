import type { Kysely } from 'kysely';
import type { RecordedEvent } from '../src/eventStore/eventStore.ts';

/**
 * A read-model builder. Its tables live in their own PostgreSQL schema (`rm_<name>`), together
 * with its checkpoint, so a rebuild can build a fresh schema beside the live one and swap it in.
 * The `db` handed to `createTables` and `apply` is bound to that schema, and during `apply` the
 * transaction's search_path starts with it: use unqualified names, in the query builder and in raw SQL.
 */
export interface Projection {
  /** Lower-case letters, digits and underscores; names the schema. */
  readonly name: string;
  /** Bump when the tables or the handling change; a stored older version triggers a rebuild. */
  readonly version: number;
  /** Event types handled; `'*'` for all. Other events only advance the checkpoint. */
  readonly handles: readonly string[] | '*';
  createTables(db: Kysely<any>): Promise<void>;
  /** Secondary indexes; a rebuild creates them after the replay, when it is cheapest. */
  createIndexes?(db: Kysely<any>): Promise<void>;
  /** Applies a batch in order, inside the transaction that also moves the checkpoint. */
  apply(db: Kysely<any>, events: readonly RecordedEvent[]): Promise<void>;
}

/** The schema a projection's live tables are in. */
export function liveSchema(projection: Pick<Projection, 'name'>): string {
  return `rm_${projection.name}`;
}

export function assertProjectionName(name: string): void {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(name)) throw new Error(`projection name ${JSON.stringify(name)} must be lower-case letters, digits and underscores`);
}

/** The events of a batch this projection handles. */
export function handledEvents(projection: Pick<Projection, 'handles'>, events: readonly RecordedEvent[]): readonly RecordedEvent[] {
  if (projection.handles === '*') return events;
  const handles = projection.handles;
  return events.filter((event) => handles.includes(event.type));
}
