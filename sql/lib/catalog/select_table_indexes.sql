-- The valid indexes of one table with their key columns in order, each column's direction, and whether the index is unique; an index on an expression or with a predicate lists no columns (it gives no plain lookup).
select
    index_row.relname as index_name,
    index_info.indisunique as is_unique,
    case
        when index_info.indpred is null and not (0 = any(index_info.indkey::int2[]))
            then array(
                select column_row.attname::text
                from
                    unnest((index_info.indkey::int2[])[0:index_info.indnkeyatts - 1]) with ordinality
                        as key_column (attnum, position)
                inner join pg_catalog.pg_attribute as column_row
                    on
                        column_row.attrelid = index_info.indrelid
                        and column_row.attnum = key_column.attnum
                order by key_column.position
            )
        else array[]::text[]
    end as column_names,
    array(
        select (option_bits.bits & 1) = 1
        from
            unnest((index_info.indoption::int2[])[0:index_info.indnkeyatts - 1]) with ordinality
                as option_bits (bits, position)
        order by option_bits.position
    ) as descending
from pg_catalog.pg_index as index_info
inner join pg_catalog.pg_class as index_row
    on index_row.oid = index_info.indexrelid
inner join pg_catalog.pg_class as table_row
    on table_row.oid = index_info.indrelid
inner join pg_catalog.pg_namespace as schema_row
    on schema_row.oid = table_row.relnamespace
where
    schema_row.nspname = %(schema)s
    and table_row.relname = %(table_name)s
    and index_info.indisvalid
order by index_row.relname
