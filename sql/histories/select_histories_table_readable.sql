-- Says whether the current role may read one crew's histories table (name bound as a value): after a permission error, whether the crew's table was the cause.
select coalesce(
    (
        select has_table_privilege(rel.oid, 'SELECT')
        from pg_catalog.pg_class as rel
        join pg_catalog.pg_namespace as nsp
            on nsp.oid = rel.relnamespace
        where nsp.nspname = %(schema)s
          and rel.relname = %(table)s
    ),
    true
) as readable
