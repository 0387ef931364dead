-- Lists the keys, unique constraints, foreign keys and standalone indexes of one table with the DDL that recreates each, read from the catalog so the migrations stay their single source of truth.
with target as (
    select relation.oid
    from pg_catalog.pg_class as relation
    join pg_catalog.pg_namespace as namespace
        on namespace.oid = relation.relnamespace
    where namespace.nspname = %(schema)s
      and relation.relname = %(table)s
),

constraints as (
    select
        'constraint' as object_kind,
        con.contype::text as constraint_type,
        con.conname::text as name,
        pg_catalog.pg_get_constraintdef(con.oid) as definition
    from pg_catalog.pg_constraint as con
    join target
        on target.oid = con.conrelid
    where con.contype in ('p', 'u', 'f', 'x')
),

standalone_indexes as (
    select
        'index' as object_kind,
        'i' as constraint_type,
        index_relation.relname::text as name,
        pg_catalog.pg_get_indexdef(index_entry.indexrelid) as definition
    from pg_catalog.pg_index as index_entry
    join target
        on target.oid = index_entry.indrelid
    join pg_catalog.pg_class as index_relation
        on index_relation.oid = index_entry.indexrelid
    where not exists (
        select 1
        from pg_catalog.pg_constraint as con
        where con.conrelid = index_entry.indrelid
          and con.conindid = index_entry.indexrelid
          and con.contype in ('p', 'u', 'x')
    )
)

select object_kind, constraint_type, name, definition from constraints
union all
select object_kind, constraint_type, name, definition from standalone_indexes
order by object_kind, constraint_type, name
