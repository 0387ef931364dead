-- Tells whether the run's role may build an index on a link table: CREATE INDEX needs CREATE on the table's schema besides owning the table, which the least-privileged writer role has not (it gets no CREATE in the source schema).
select has_schema_privilege(%(schema)s, 'CREATE') as may_build_indexes
