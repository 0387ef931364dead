-- Names one crew whose histories table is dated by id (its code, and its table's quoted name, bound as values) when an
-- incremental run has something to read there: an id past the crew's newest range, a table rewritten since (another
-- relfilenode: a TRUNCATE, say), or a range seen from the crew's scan start (bound as a value) to the window's end. Index
-- probes only (max(id) on the table's primary key, the ranges by their keys): one branch of select_crews_with_rows_to_read.sql.
with crew_probe as (
    select {crew} as crew_code
),

table_ids as (
    select max(history.id) as max_id
    from {source}.{histories_table} as history
),

newest_range as (
    select
        id_range.to_id,
        id_range.table_node
    from {analytics}.histories_id_ranges as id_range
    where id_range.crew_code = {crew}
    order by id_range.from_id desc
    limit 1
),

table_storage as (
    select relation.relfilenode as table_node
    from pg_catalog.pg_class as relation
    where relation.oid = {quoted_table}::regclass
),

seen_ranges as (
    select seen_range.from_id
    from {analytics}.histories_id_ranges as seen_range
    where
        seen_range.crew_code = {crew}
        and seen_range.seen_at >= {scan_start}
        and seen_range.seen_at < %(window_end)s
    limit 1
)

select crew_probe.crew_code
from crew_probe
cross join table_ids
cross join table_storage
left join newest_range on true
where
    table_ids.max_id > coalesce(newest_range.to_id, table_ids.max_id - 1)
    or newest_range.table_node <> table_storage.table_node
    or exists (select 1 from seen_ranges)
