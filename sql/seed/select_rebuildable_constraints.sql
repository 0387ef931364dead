-- Lists the keys, plain indexes and foreign keys of the given tables (and foreign keys pointing at them) in the order they are rebuilt.
with target as (
    select cls.oid, cls.relname
    from pg_catalog.pg_class as cls
    join pg_catalog.pg_namespace as nsp
        on nsp.oid = cls.relnamespace
    where nsp.nspname = %(schema)s
      and cls.relname = any(%(tables)s)
),

table_keys as (
    select 1 as rebuild_order, 'constraint' as kind, nsp.nspname as schema_name, owner.relname as table_name,
           con.conname as object_name, pg_catalog.pg_get_constraintdef(con.oid) as definition
    from pg_catalog.pg_constraint as con
    join target as owner
        on owner.oid = con.conrelid
    join pg_catalog.pg_class as cls
        on cls.oid = owner.oid
    join pg_catalog.pg_namespace as nsp
        on nsp.oid = cls.relnamespace
    where con.contype in ('p', 'u')
),

plain_indexes as (
    select 2 as rebuild_order, 'index' as kind, nsp.nspname as schema_name, target.relname as table_name,
           index_class.relname as object_name, pg_catalog.pg_get_indexdef(idx.indexrelid) as definition
    from pg_catalog.pg_index as idx
    join target
        on target.oid = idx.indrelid
    join pg_catalog.pg_class as index_class
        on index_class.oid = idx.indexrelid
    join pg_catalog.pg_namespace as nsp
        on nsp.oid = index_class.relnamespace
    where not exists (
        select 1
        from pg_catalog.pg_constraint as con
        where con.conindid = idx.indexrelid
          and con.conrelid = idx.indrelid
          and con.contype in ('p', 'u', 'x')
    )
),

foreign_keys as (
    select 3 as rebuild_order, 'constraint' as kind, nsp.nspname as schema_name, owner.relname as table_name,
           con.conname as object_name, pg_catalog.pg_get_constraintdef(con.oid) as definition
    from pg_catalog.pg_constraint as con
    join pg_catalog.pg_class as owner
        on owner.oid = con.conrelid
    join pg_catalog.pg_namespace as nsp
        on nsp.oid = owner.relnamespace
    where con.contype = 'f'
      and (con.conrelid in (select target.oid from target) or con.confrelid in (select target.oid from target))
)

select rebuild_order, kind, schema_name, table_name, object_name, definition
from (
    select * from table_keys
    union all
    select * from plain_indexes
    union all
    select * from foreign_keys
) as rebuildable
order by rebuild_order, table_name, object_name;
