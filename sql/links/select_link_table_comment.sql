-- Reads a link table's own comment (column comments travel with LIKE ... INCLUDING COMMENTS).
select pg_catalog.obj_description(%(qualified_table)s::regclass, 'pg_class')
