-- Lists, as a temporary table dropped at commit, up to %(tables)s histories tables of the many-crews benchmark (name prefix %(prefix)s) still in the source schema.
create temporary table many_crews_drop_list on commit drop as
select
    namespace.nspname::text as source_schema,
    relation.relname::text as table_name
from pg_catalog.pg_class as relation
inner join pg_catalog.pg_namespace as namespace
    on namespace.oid = relation.relnamespace
where
    namespace.nspname = %(schema)s
    and relation.relkind = 'r'
    and starts_with(relation.relname, %(prefix)s)
limit %(tables)s
