-- Lists the histories tables of every %(every)s-th crew of the many-crews benchmark (code prefix %(prefix)s) whose table has
-- rows (by its statistics) and a jsonb message: the crews that receive new messages before a tick.
with filled as (
    select
        crew.histories_table_name,
        row_number() over (order by crew.code) as position
    from {source}.crews as crew
    inner join pg_catalog.pg_namespace as namespace
        on namespace.nspname = %(schema)s
    inner join pg_catalog.pg_class as relation
        on
            relation.relnamespace = namespace.oid
            and relation.relname = crew.histories_table_name
    inner join pg_catalog.pg_attribute as attribute
        on
            attribute.attrelid = relation.oid
            and attribute.attname = 'message'
            and attribute.atttypid = 'jsonb'::regtype
    where
        starts_with(crew.code, %(prefix)s)
        and relation.reltuples > 0
)

select filled.histories_table_name
from filled
where mod(filled.position, %(every)s) = 0
order by filled.position
