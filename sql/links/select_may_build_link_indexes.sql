-- Tells whether the run's role may build an index on a link table: CREATE INDEX needs CREATE on the table's schema besides owning the table, which the least-privileged writer role has not (it gets no CREATE in the source schema), nor any role on a table the application made and still owns.
select
    has_schema_privilege(%(schema)s, 'CREATE')
    and coalesce(
        (
            select pg_has_role(table_row.tableowner, 'USAGE')
            from pg_catalog.pg_tables as table_row
            where table_row.schemaname = %(schema)s and table_row.tablename = %(table)s
        ),
        false
    ) as may_build_indexes
