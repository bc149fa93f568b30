import { sql, type Kysely, type Migration } from 'kysely';

/** The event store's own tables, in schema `eventstore`. */
export const eventStoreMigrations: Record<string, Migration> = {
  '0001_events': {
    async up(db: Kysely<any>) {
      await sql`create schema if not exists eventstore`.execute(db);
      await sql`
        create table eventstore.events (
          position bigint generated always as identity primary key,
          event_id uuid not null,
          stream_name text not null,
          revision bigint not null,
          type text not null,
          data jsonb not null,
          metadata jsonb not null,
          recorded_at timestamptz not null default now(),
          tx_id xid8 not null default pg_current_xact_id(),
          constraint events_event_id_key unique (event_id),
          constraint events_stream_revision_key unique (stream_name, revision)
        )`.execute(db);
      await sql`
        create table eventstore.streams (
          stream_name text primary key,
          revision bigint not null,
          deleted boolean not null default false
        )`.execute(db);
      // One function does the whole append in one round trip.
      //
      // The late-commit problem: positions come from a sequence, so a transaction can take
      // position 5, commit after another took 6, and a reader that already passed 6 would skip 5.
      // Here every appending transaction gets its transaction id and its positions under one
      // advisory lock, so transaction-id order equals position order; readers then read only rows
      // whose transaction is older than the oldest one still running (pg_snapshot_xmin), which
      // can never be followed by a lower position committing later. The lock is released before
      // commit, so concurrent appends still share fsyncs (group commit).
      await sql.raw(`
        create function eventstore.append_events(
          p_stream text, p_expected text, p_ids uuid[], p_types text[], p_data text[], p_metadata text[]
        ) returns table (next_revision bigint, last_position bigint)
        language plpgsql as $fn$
        declare
          v_current bigint;
          v_deleted boolean;
          v_found int;
          v_found_in_stream int;
          v_first bigint;
          v_last_position bigint;
          v_result_revision bigint;
        begin
          if pg_current_xact_id_if_assigned() is not null then
            raise exception using errcode = 'FS400', message = 'append_events must be the first write of its transaction';
          end if;
          perform pg_advisory_lock(7213091537);
          begin
            perform pg_current_xact_id();
            -- The stream row is the per-stream lock: concurrent appends to one stream queue here.
            insert into eventstore.streams (stream_name, revision) values (p_stream, -1) on conflict (stream_name) do nothing;
            select s.revision, s.deleted into v_current, v_deleted from eventstore.streams s where s.stream_name = p_stream for update;
            if v_current < 0 then v_current := null; end if;
            if v_deleted then
              raise exception using errcode = 'FS410', message = 'stream is deleted', detail = p_stream;
            end if;
            select count(*), count(*) filter (where e.stream_name = p_stream)
              into v_found, v_found_in_stream
              from eventstore.events e where e.event_id = any(p_ids);
            if v_found > 0 and v_found_in_stream = cardinality(p_ids) then
              -- Idempotent retry: the whole batch is already stored in this stream.
              select max(e.position) into v_last_position from eventstore.events e where e.event_id = any(p_ids);
              v_result_revision := v_current;
            elsif v_found > 0 then
              raise exception using errcode = 'FS409', message = 'some event ids are already stored', detail = p_stream;
            else
              if (p_expected = 'no_stream' and v_current is not null)
                 or (p_expected = 'stream_exists' and v_current is null)
                 or (p_expected ~ '^[0-9]+$' and v_current is distinct from p_expected::bigint) then
                raise exception using errcode = 'FS412', message = 'wrong expected revision',
                  detail = coalesce(v_current, -1)::text;
              end if;
              v_first := coalesce(v_current, -1) + 1;
              with inserted as (
                insert into eventstore.events (event_id, stream_name, revision, type, data, metadata)
                select u.id, p_stream, v_first + u.ord - 1, u.type, u.data::jsonb, u.metadata::jsonb
                  from unnest(p_ids, p_types, p_data, p_metadata) with ordinality as u(id, type, data, metadata, ord)
                  order by u.ord
                returning position
              )
              select max(position) into v_last_position from inserted;
              v_result_revision := v_first + cardinality(p_ids) - 1;
              update eventstore.streams set revision = v_result_revision where stream_name = p_stream;
              perform pg_notify('eventstore_appended', v_last_position::text);
            end if;
          exception when others then
            perform pg_advisory_unlock(7213091537);
            raise;
          end;
          perform pg_advisory_unlock(7213091537);
          return query select coalesce(v_result_revision, -1), v_last_position;
        end
        $fn$`).execute(db);
    },
  },
};
