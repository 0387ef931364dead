-- Creates histories_id_ranges: for each crew whose histories table has no created_at (n8n's own table), the ranges of
-- ids a discovery run first saw together and when, so that a message's time is its range's seen_at, the same at every
-- later run. The crew's table is never altered: the runs read it by its id (its primary key).
create table {analytics}.histories_id_ranges (
    crew_code text not null,
    from_id bigint not null,
    to_id bigint not null,
    seen_at timestamptz not null,
    table_oid oid not null,
    table_node oid not null,
    sequence_node oid,
    constraint histories_id_ranges_pkey primary key (crew_code, from_id),
    constraint histories_id_ranges_ids_ordered check (from_id <= to_id)
);
-- A window's messages are those of the ranges seen in it.
create index histories_id_ranges_crew_code_seen_at_idx on {analytics}.histories_id_ranges (crew_code, seen_at);
alter table {analytics}.histories_id_ranges owner to convo_pipelines_writer;

comment on table {analytics}.histories_id_ranges is
    'Per crew whose histories table has no created_at: ranges of ids first seen by one discovery run (internal to convo_pipelines; its message times).';
comment on column {analytics}.histories_id_ranges.crew_code is 'Code of the crew (crews.code).';
comment on column {analytics}.histories_id_ranges.from_id is 'Lowest id of the range (inclusive).';
comment on column {analytics}.histories_id_ranges.to_id is 'Highest id of the range (inclusive): the table''s max(id) when the range was seen.';
comment on column {analytics}.histories_id_ranges.seen_at is
    'When a discovery run first saw the range: the time (created_at) of every message of the range.';
comment on column {analytics}.histories_id_ranges.table_oid is 'pg_class oid of the crew''s table when the range was seen.';
comment on column {analytics}.histories_id_ranges.table_node is
    'relfilenode of the crew''s table (a TRUNCATE or a rewrite changes it) when the range was seen.';
comment on column {analytics}.histories_id_ranges.sequence_node is
    'relfilenode of the id column''s sequence (RESTART IDENTITY changes it), null when the id has none.';
