-- Records, for one crew whose histories table is dated by id, the ids no range holds yet as one range seen now (its
-- messages' time): from the newest range's to_id + 1 (the table's min(id) at the first discovery) to the table's max(id),
-- both index probes. Ids that restarted (TRUNCATE ... RESTART IDENTITY, the table dropped and made again: another oid,
-- another sequence storage, or a rewritten table whose max(id) is below the newest range) forget the crew's ranges first,
-- so that the new ids are read again from the table's min(id), never dated by the old ranges. A table rewritten with its
-- ids kept (VACUUM FULL, CLUSTER, a TRUNCATE without RESTART IDENTITY) keeps its ranges, which take its new identity.
with current_table as (
    select
        relation.oid as table_oid,
        relation.relfilenode as table_node,
        id_sequence.relfilenode as sequence_node
    from pg_catalog.pg_class as relation
    left join pg_catalog.pg_class as id_sequence
        on id_sequence.oid = pg_catalog.pg_get_serial_sequence(%(quoted_table)s, 'id')::regclass
    where relation.oid = %(quoted_table)s::regclass
),

table_ids as (
    select
        min(history.id) as min_id,
        max(history.id) as max_id
    from {source}.{histories_table} as history
),

newest_range as (
    select
        id_range.to_id,
        id_range.table_oid,
        id_range.table_node,
        id_range.sequence_node
    from {analytics}.histories_id_ranges as id_range
    where id_range.crew_code = %(crew_code)s
    order by id_range.from_id desc
    limit 1
),

table_state as (
    select
        current_table.table_oid,
        current_table.table_node,
        current_table.sequence_node,
        table_ids.min_id,
        table_ids.max_id,
        newest_range.to_id is not null and (
            newest_range.table_oid <> current_table.table_oid
            or newest_range.sequence_node is distinct from current_table.sequence_node
            or (
                newest_range.table_node <> current_table.table_node
                and (table_ids.max_id is null or table_ids.max_id < newest_range.to_id)
            )
        ) as restarted,
        newest_range.to_id is not null and (
            newest_range.table_oid <> current_table.table_oid
            or newest_range.table_node <> current_table.table_node
            or newest_range.sequence_node is distinct from current_table.sequence_node
        ) as moved,
        newest_range.to_id as newest_to_id
    from current_table
    cross join table_ids
    left join newest_range on true
),

forgotten as (
    delete from {analytics}.histories_id_ranges as id_range
    where
        id_range.crew_code = %(crew_code)s
        and (select table_state.restarted from table_state)
    returning 1
),

moved as (
    update {analytics}.histories_id_ranges as id_range
    set
        table_oid = table_state.table_oid,
        table_node = table_state.table_node,
        sequence_node = table_state.sequence_node
    from table_state
    where
        id_range.crew_code = %(crew_code)s
        and table_state.moved
        and not table_state.restarted
    returning 1
),

-- Reading forgotten first makes the old ranges gone before the new one, which may start at the same id, is inserted.
recorded as (
    insert into {analytics}.histories_id_ranges as id_range (
        crew_code, from_id, to_id, seen_at, table_oid, table_node, sequence_node
    )
    select
        %(crew_code)s as crew_code,
        case
            when table_state.restarted or table_state.newest_to_id is null then table_state.min_id
            else table_state.newest_to_id + 1
        end as from_id,
        table_state.max_id as to_id,
        now() as seen_at,
        table_state.table_oid,
        table_state.table_node,
        table_state.sequence_node
    from table_state
    where
        (select count(*) from forgotten) >= 0
        and table_state.max_id >= case
            when table_state.restarted or table_state.newest_to_id is null then table_state.min_id
            else table_state.newest_to_id + 1
        end
    returning id_range.to_id - id_range.from_id + 1 as ids
)

select
    (select table_state.restarted from table_state) as ids_restarted,
    (select count(*) from moved) > 0 as table_rewritten,
    coalesce((select recorded_range.ids from recorded as recorded_range), 0) as ids_recorded
