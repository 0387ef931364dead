-- Finds (owner, Front conversation) pairs stored more than once in a Front link table, within the checked scope: one row with the count, up to sample_limit samples, and the unique index that made a scan needless.
-- The scope is that of select_scoped_front_links.sql, embedded as scoped_links. When trust_constraints is
-- true (the check that follows a run) and a valid unique index covers exactly the pair, PostgreSQL already
-- guarantees there is no duplicate and nothing is scanned; a check run on its own always scans.
with guaranteeing_index as (
    select index_class.relname as index_name
    from pg_catalog.pg_index as ix
    inner join pg_catalog.pg_class as index_class on index_class.oid = ix.indexrelid
    where %(trust_constraints)s::boolean
      and ix.indrelid = to_regclass(format('%%I.%%I', %(source_schema)s::text, %(link_table_name)s::text))
      and ix.indisunique
      and ix.indisvalid
      and ix.indisready
      and ix.indpred is null
      and ix.indexprs is null
      and ix.indnkeyatts = 2
      and (
          select array_agg(attribute.attname::text order by attribute.attname)
          from pg_catalog.pg_attribute as attribute
          where attribute.attrelid = ix.indrelid
            and attribute.attnum = any(ix.indkey::int2[])
      ) = (select array_agg(name order by name) from unnest(array[%(owner_column_name)s::text, 'front_conversation_id']) as name)
    limit 1
),

scoped_links as (
    {scoped_links}
),

duplicates as (
    select
        sl.{owner_column},
        sl.front_conversation_id,
        count(*) as copies
    from scoped_links as sl
    where not exists (select from guaranteeing_index)
    group by sl.{owner_column}, sl.front_conversation_id
    having count(*) > 1
)

select
    'duplicate_pairs' as problem,
    (select count(*) from duplicates) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.{owner_column}, s.front_conversation_id), '[]'::jsonb)
        from (select * from duplicates order by 1, 2 limit %(sample_limit)s) as s
    ) as samples,
    (select 'unique index ' || gi.index_name from guaranteeing_index as gi) as verified_by;
