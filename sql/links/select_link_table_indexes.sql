-- Lists a link table's indexes with what rebuilds each on another table: the index's definition from USING on, the key constraint it backs (primary key or unique, with its deferrability) if any, and its number of columns; unique ones first.
select
    index_class.relname as index_name,
    substring(pg_catalog.pg_get_indexdef(index_row.indexrelid) from ' USING .*$') as definition,
    index_row.indisunique as is_unique,
    case key_constraint.contype when 'p' then 'primary key' when 'u' then 'unique' end as key_kind,
    case
        when key_constraint.condeferred then 'deferrable initially deferred'
        when key_constraint.condeferrable then 'deferrable'
        else ''
    end as deferrability,
    index_row.indnatts as columns
from pg_catalog.pg_index as index_row
join pg_catalog.pg_class as index_class
    on index_class.oid = index_row.indexrelid
left join pg_catalog.pg_constraint as key_constraint
    on key_constraint.conindid = index_row.indexrelid
   and key_constraint.conrelid = index_row.indrelid
   and key_constraint.contype in ('p', 'u')
where index_row.indrelid = %(qualified_table)s::regclass
order by index_row.indisunique desc, index_class.relname
