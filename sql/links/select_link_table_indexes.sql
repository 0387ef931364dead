-- Lists a link table's indexes with what rebuilds each on another table: a key's constraint definition, or an index's definition from USING on; unique keys first.
select
    index_class.relname as index_name,
    key_constraint.contype is not null as is_constraint,
    coalesce(
        pg_catalog.pg_get_constraintdef(key_constraint.oid),
        substring(pg_catalog.pg_get_indexdef(index_row.indexrelid) from ' USING .*$')
    ) as definition,
    index_row.indisunique as is_unique
from pg_catalog.pg_index as index_row
join pg_catalog.pg_class as index_class
    on index_class.oid = index_row.indexrelid
left join pg_catalog.pg_constraint as key_constraint
    on key_constraint.conindid = index_row.indexrelid
   and key_constraint.conrelid = index_row.indrelid
   and key_constraint.contype in ('p', 'u')
where index_row.indrelid = %(qualified_table)s::regclass
order by index_row.indisunique desc, index_class.relname
