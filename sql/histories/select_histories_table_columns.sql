-- Lists the columns of one table (name bound as a value) with their base type and whether an index leads with the column.
select
    att.attname::text as column_name,
    coalesce(base_type.typname, col_type.typname)::text as type_name,
    exists (
        select 1
        from pg_catalog.pg_index as idx
        where idx.indrelid = rel.oid
          and idx.indkey[0] = att.attnum
    ) as leads_an_index
from pg_catalog.pg_class as rel
join pg_catalog.pg_namespace as nsp
    on nsp.oid = rel.relnamespace
join pg_catalog.pg_attribute as att
    on att.attrelid = rel.oid
   and att.attnum > 0
   and not att.attisdropped
join pg_catalog.pg_type as col_type
    on col_type.oid = att.atttypid
left join pg_catalog.pg_type as base_type
    on base_type.oid = col_type.typbasetype
   and col_type.typtype = 'd'
where nsp.nspname = %(schema)s
  and rel.relname = %(table)s
  and rel.relkind in ('r', 'p', 'v', 'm', 'f')
order by att.attnum
