-- The oid of a first fill's staged pairs and what their table's comment says of them (describe_front_link_first_fill.sql), or nulls: the table exists while the fill that staged it owns the link table's windows, until any other writer drops it (drop_front_link_first_fill.sql); a fill staged later gets another oid, which tells an earlier fill its hold ended.
with staged as (
    select to_regclass(format('%%I.%%I', %(schema)s::text, %(first_fill)s::text))::oid as oid
)

select
    staged.oid as staged,
    obj_description(staged.oid, 'pg_class') as description
from staged
