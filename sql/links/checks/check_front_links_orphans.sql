-- Finds links of a Front link table whose owner (person or client) or Front conversation does not exist, within the checked scope: one row per problem with its count, up to sample_limit samples, and the foreign key that made a scan needless.
-- The scope is that of select_scoped_front_links.sql, embedded as scoped_links. When trust_constraints is
-- true (the check that follows a run) and a validated foreign key with its triggers enabled covers the
-- column, PostgreSQL already guarantees every link's row exists and that side is not scanned; a check run
-- on its own always scans (a writer with session_replication_role = replica bypasses foreign keys).
with guaranteeing_keys as (
    {guaranteeing_keys}
),

owner_key as (
    select gk.constraint_name from guaranteeing_keys as gk
    where gk.column_name = %(owner_column_name)s::text and gk.referenced_table = %(owner_table_name)s::text
    limit 1
),

conversation_key as (
    select gk.constraint_name from guaranteeing_keys as gk
    where gk.column_name = 'front_conversation_id' and gk.referenced_table = 'front_conversations'
    limit 1
),

scoped_links as (
    {scoped_links}
),

missing_owner as (
    select sl.{owner_column}, sl.front_conversation_id
    from scoped_links as sl
    where not exists (select from owner_key)
      and not exists (select from {source}.{owner_table} as o where o.id = sl.{owner_column})
),

missing_conversation as (
    select sl.{owner_column}, sl.front_conversation_id
    from scoped_links as sl
    where not exists (select from conversation_key)
      and not exists (select from {source}.front_conversations as fc where fc.id = sl.front_conversation_id)
)

select
    'missing_' || %(owner_kind)s::text as problem,
    (select count(*) from missing_owner) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.{owner_column}, s.front_conversation_id), '[]'::jsonb)
        from (select * from missing_owner order by 1, 2 limit %(sample_limit)s) as s
    ) as samples,
    (select 'foreign key ' || ok.constraint_name from owner_key as ok) as verified_by
union all
select
    'missing_front_conversation',
    (select count(*) from missing_conversation),
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.{owner_column}, s.front_conversation_id), '[]'::jsonb)
        from (select * from missing_conversation order by 1, 2 limit %(sample_limit)s) as s
    ),
    (select 'foreign key ' || ck.constraint_name from conversation_key as ck);
