-- Says whether the current role may read one crew's histories table (name bound as a value): after a permission error, whether the crew's table was the cause.
select coalesce(
    (
        select has_table_privilege(relation.oid, 'SELECT')
        from pg_catalog.pg_class as relation
        inner join pg_catalog.pg_namespace as namespace
            on namespace.oid = relation.relnamespace
        where
            namespace.nspname = %(schema)s
            and relation.relname = %(table)s
    ),
    true
) as readable
