-- Selects the rows of one source table stamped, greatest(created_at, updated_at), after changed_after (future stamps included): the table's name, each row's id and the transaction that wrote its current version (xmin). With the index the late_change_indexes check recommends on that stamp, one index range scan.
select
    {table_name}::text as source_table,
    stamped_row.id,
    stamped_row.xmin
from {source}.{watched_table} as stamped_row
where greatest(stamped_row.created_at, stamped_row.updated_at) > %(changed_after)s
