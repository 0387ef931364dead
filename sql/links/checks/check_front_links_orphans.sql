-- Finds links of a Front link table whose owner (person or client) or Front conversation does not exist, within the checked scope: one row per problem with its count, up to sample_limit samples, and the foreign key that made a scan needless.
-- The scope is that of select_scoped_front_links.sql, embedded as scoped_links. When trust_constraints is
-- true (the check that follows a run) and a validated foreign key with its triggers enabled covers the
-- column, PostgreSQL already guarantees every link's row exists and that side is not scanned; a check run
-- on its own always scans (a writer with session_replication_role = replica bypasses foreign keys).
with guaranteeing_keys as (
    {guaranteeing_keys}
),

owner_key as (
    select guaranteeing_key.constraint_name from guaranteeing_keys as guaranteeing_key
    where
        guaranteeing_key.column_name = %(owner_column_name)s::text
        and guaranteeing_key.referenced_table = %(owner_table_name)s::text
    limit 1
),

conversation_key as (
    select guaranteeing_key.constraint_name from guaranteeing_keys as guaranteeing_key
    where
        guaranteeing_key.column_name = 'front_conversation_id'
        and guaranteeing_key.referenced_table = 'front_conversations'
    limit 1
),

scoped_links as (
    {scoped_links}
),

missing_owner as (
    select
        scoped_link.{owner_column},
        scoped_link.front_conversation_id
    from scoped_links as scoped_link
    where
        not exists (select from owner_key)
        and not exists (select from {source}.{owner_table} as owner_row where owner_row.id = scoped_link.{owner_column})
),

missing_conversation as (
    select
        scoped_link.{owner_column},
        scoped_link.front_conversation_id
    from scoped_links as scoped_link
    where
        not exists (select from conversation_key)
        and not exists (
            select
            from {source}.front_conversations as front_conversation
            where front_conversation.id = scoped_link.front_conversation_id
        )
)

select
    'missing_' || %(owner_kind)s::text as problem,
    (select count(*) from missing_owner) as violations,
    (
        select
            coalesce(
                jsonb_agg(to_jsonb(sample) order by sample.{owner_column}, sample.front_conversation_id), '[]'::jsonb
            )
        from (select * from missing_owner order by 1, 2 limit %(sample_limit)s) as sample
    ) as samples,
    (select 'foreign key ' || owner_key_row.constraint_name from owner_key as owner_key_row) as verified_by
union all
select
    'missing_front_conversation' as problem,
    (select count(*) from missing_conversation) as violations,
    (
        select
            coalesce(
                jsonb_agg(to_jsonb(sample) order by sample.{owner_column}, sample.front_conversation_id), '[]'::jsonb
            )
        from (select * from missing_conversation order by 1, 2 limit %(sample_limit)s) as sample
    ) as samples,
    (
        select 'foreign key ' || conversation_key_row.constraint_name
        from conversation_key as conversation_key_row
    ) as verified_by;
