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
  '0002_closed_streams_and_batches': {
    async up(db: Kysely<any>) {
      // A closed stream (a user's, once UserErased is appended) takes no more events, and neither
      // does a stream that names it as a guard (that user's sign-ins, appended elsewhere).
      await sql`alter table eventstore.streams add column closed boolean not null default false`.execute(db);
      // Group commit: every append that arrived while others were in flight, in one call and one
      // transaction. It sends no NOTIFY: PostgreSQL serialises the commits of notifying
      // transactions (a global lock held through the WAL flush), which would undo the group
      // commit; the adapter wakes its own followers and notifies other instances after commit.
      //
      // Each unit (one or more streams, all or nothing) is checked first, every part's stream row
      // locked, and written only when every check passed, so a unit refused for its expected
      // revision, a closed or deleted stream, or a duplicate id writes nothing and leaves the
      // others committed, without a subtransaction per unit. Positions are handed out under the
      // same advisory lock as in append_events, so readers below pg_snapshot_xmin still never skip
      // a late commit.
      //
      // Input: [{"parts": [{"stream", "expected", "close", "guards": [...], "events": [{"id", "type", "data", "metadata"}]}]}]
      // Output: one row per part of a unit that was stored (outcome 'ok'), or one row for a unit
      // that was refused (outcome = the error code FS4xx, part_index = the part that failed).
      await sql.raw(`
        create function eventstore.append_batch(p_units jsonb)
        returns table (unit_index int, part_index int, outcome text, next_revision bigint, last_position bigint, detail text)
        language plpgsql as $fn$
        declare
          v_unit jsonb;
          v_part jsonb;
          v_ui int := 0;
          v_pi int;
          v_failed int;
          v_parts int;
          v_stream text;
          v_expected text;
          v_count int;
          v_current bigint;
          v_deleted boolean;
          v_closed boolean;
          v_guard text;
          v_first_id uuid;
          v_found_stream text;
          v_in_stream int;
          v_currents bigint[];
          v_replays boolean[];
          v_code text;
          v_detail text;
          v_first bigint;
          v_last bigint;
          v_revision bigint;
        begin
          if pg_current_xact_id_if_assigned() is not null then
            raise exception using errcode = 'FS400', message = 'append_batch must be the first write of its transaction';
          end if;
          perform pg_advisory_lock(7213091537);
          begin
            perform pg_current_xact_id();
            for v_unit in select u from jsonb_array_elements(p_units) as u loop
              v_parts := jsonb_array_length(v_unit->'parts');
              v_currents := '{}';
              v_replays := '{}';
              v_code := null;
              v_detail := null;
              -- Check every part (taking its locks) before writing any.
              for v_pi in 0 .. v_parts - 1 loop
                v_part := v_unit->'parts'->v_pi;
                v_stream := v_part->>'stream';
                v_expected := coalesce(v_part->>'expected', 'any');
                v_count := jsonb_array_length(v_part->'events');
                for v_guard in select g from jsonb_array_elements_text(coalesce(v_part->'guards', '[]')) as g loop
                  select s.closed into v_closed from eventstore.streams s where s.stream_name = v_guard for share;
                  if v_closed then v_code := 'FS423'; v_detail := v_guard; v_failed := v_pi; exit; end if;
                end loop;
                exit when v_code is not null;
                select s.revision, s.deleted, s.closed into v_current, v_deleted, v_closed from eventstore.streams s where s.stream_name = v_stream for update;
                if not found then
                  -- A new stream: its row is made now (it is the stream's lock). If another
                  -- transaction is making it too, this waits for that one and then reads its row.
                  insert into eventstore.streams (stream_name, revision) values (v_stream, -1) on conflict (stream_name) do nothing;
                  select s.revision, s.deleted, s.closed into v_current, v_deleted, v_closed from eventstore.streams s where s.stream_name = v_stream for update;
                end if;
                if v_current < 0 then v_current := null; end if;
                if v_deleted then v_code := 'FS410'; v_detail := v_stream; v_failed := v_pi; exit; end if;
                v_replays := v_replays || false;
                if v_count > 0 then
                  v_first_id := (v_part->'events'->0->>'id')::uuid;
                  select e.stream_name into v_found_stream from eventstore.events e where e.event_id = v_first_id;
                  if found then
                    -- Stored already: an idempotent retry if the whole part is in this stream.
                    select count(*) into v_in_stream from eventstore.events e
                      where e.stream_name = v_stream and e.event_id in (select (x->>'id')::uuid from jsonb_array_elements(v_part->'events') as x);
                    if v_found_stream <> v_stream or v_in_stream <> v_count then v_code := 'FS409'; v_detail := v_stream; v_failed := v_pi; exit; end if;
                    v_replays[v_pi + 1] := true;
                  end if;
                end if;
                if not v_replays[v_pi + 1] then
                  if v_closed and (v_count > 0 or coalesce((v_part->>'close')::boolean, false)) then v_code := 'FS423'; v_detail := v_stream; v_failed := v_pi; exit; end if;
                  if (v_expected = 'no_stream' and v_current is not null)
                     or (v_expected = 'stream_exists' and v_current is null)
                     or (v_expected ~ '^[0-9]+$' and v_current is distinct from v_expected::bigint) then
                    v_code := 'FS412'; v_detail := coalesce(v_current, -1)::text; v_failed := v_pi; exit;
                  end if;
                end if;
                v_currents := v_currents || coalesce(v_current, -1);
              end loop;
              if v_code is not null then
                unit_index := v_ui; part_index := v_failed; outcome := v_code; next_revision := null; last_position := null; detail := v_detail;
                return next;
                v_ui := v_ui + 1;
                continue;
              end if;
              -- Every check passed: write.
              for v_pi in 0 .. v_parts - 1 loop
                v_part := v_unit->'parts'->v_pi;
                v_stream := v_part->>'stream';
                v_count := jsonb_array_length(v_part->'events');
                v_current := v_currents[v_pi + 1];
                if v_replays[v_pi + 1] then
                  select max(e.position) into v_last from eventstore.events e
                    where e.event_id in (select (x->>'id')::uuid from jsonb_array_elements(v_part->'events') as x);
                  v_revision := v_current;
                else
                  v_first := v_current + 1;
                  v_last := null;
                  if v_count > 0 then
                    with inserted as (
                      insert into eventstore.events (event_id, stream_name, revision, type, data, metadata)
                      select (x.e->>'id')::uuid, v_stream, v_first + x.o - 1, x.e->>'type', x.e->'data', x.e->'metadata'
                        from jsonb_array_elements(v_part->'events') with ordinality as x(e, o)
                        order by x.o
                      returning position
                    )
                    select max(position) into v_last from inserted;
                  end if;
                  v_revision := v_current + v_count;
                  if v_count > 0 or coalesce((v_part->>'close')::boolean, false) then
                    update eventstore.streams
                      set revision = case when v_count > 0 then v_revision else revision end,
                          closed = closed or coalesce((v_part->>'close')::boolean, false)
                      where stream_name = v_stream;
                  end if;
                end if;
                unit_index := v_ui; part_index := v_pi; outcome := 'ok';
                next_revision := v_revision; last_position := v_last; detail := null;
                return next;
              end loop;
              v_ui := v_ui + 1;
            end loop;
          exception when others then
            perform pg_advisory_unlock(7213091537);
            raise;
          end;
          perform pg_advisory_unlock(7213091537);
        end
        $fn$`).execute(db);
      // The one-stream function now goes through append_batch, so closures hold for every writer.
      await sql.raw(`
        create or replace function eventstore.append_events(
          p_stream text, p_expected text, p_ids uuid[], p_types text[], p_data text[], p_metadata text[]
        ) returns table (next_revision bigint, last_position bigint)
        language plpgsql as $fn$
        declare
          v_row record;
        begin
          select * into v_row from eventstore.append_batch(jsonb_build_array(jsonb_build_object('parts', jsonb_build_array(jsonb_build_object(
            'stream', p_stream, 'expected', p_expected,
            'events', (select coalesce(jsonb_agg(jsonb_build_object('id', u.id, 'type', u.type, 'data', u.data::jsonb, 'metadata', u.metadata::jsonb) order by u.ord), '[]'::jsonb)
                       from unnest(p_ids, p_types, p_data, p_metadata) with ordinality as u(id, type, data, metadata, ord)))))));
          if v_row.outcome <> 'ok' then
            raise exception using errcode = v_row.outcome, message = 'append refused', detail = v_row.detail;
          end if;
          return query select v_row.next_revision, v_row.last_position;
        end
        $fn$`).execute(db);
    },
  },
};
