-- Finds project_conversations rows whose project, conversation or (non-null) added_by user does not exist: one row per problem with its count, up to sample_limit samples, and the foreign key that made a scan needless.
-- When trust_constraints is true (the check that follows a run), a validated foreign key with its triggers
-- enabled is PostgreSQL's own guarantee for its column, and that side is not scanned.
with guaranteeing_keys as (
    {guaranteeing_keys}
),

key_of as (
    select
        guaranteeing_key.column_name,
        min(guaranteeing_key.constraint_name) as constraint_name
    from guaranteeing_keys as guaranteeing_key
    where
        (guaranteeing_key.column_name, guaranteeing_key.referenced_table) in (
            ('project_id', 'projects'), ('conversation_id', 'conversations'), ('added_by', 'users')
        )
    group by guaranteeing_key.column_name
),

missing_project as (
    select
        link.project_id,
        link.conversation_id
    from {source}.project_conversations as link
    where
        not exists (select from key_of where key_of.column_name = 'project_id')
        and not exists (select from {source}.projects as project where project.id = link.project_id)
),

missing_conversation as (
    select
        link.project_id,
        link.conversation_id
    from {source}.project_conversations as link
    where
        not exists (select from key_of where key_of.column_name = 'conversation_id')
        and not exists (select from {source}.conversations as conversation where conversation.id = link.conversation_id)
),

missing_added_by_user as (
    select
        link.project_id,
        link.conversation_id,
        link.added_by
    from {source}.project_conversations as link
    where
        link.added_by is not null
        and not exists (select from key_of where key_of.column_name = 'added_by')
        and not exists (select from {source}.users as added_by_user where added_by_user.id = link.added_by)
)

select
    'missing_project' as problem,
    (select count(*) from missing_project) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.project_id, sample.conversation_id), '[]'::jsonb)
        from (select * from missing_project order by 1, 2 limit %(sample_limit)s) as sample
    ) as samples,
    (
        select 'foreign key ' || key_row.constraint_name
        from key_of as key_row
        where key_row.column_name = 'project_id'
    ) as verified_by
union all
select
    'missing_conversation' as problem,
    (select count(*) from missing_conversation) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.project_id, sample.conversation_id), '[]'::jsonb)
        from (select * from missing_conversation order by 1, 2 limit %(sample_limit)s) as sample
    ) as samples,
    (
        select 'foreign key ' || key_row.constraint_name
        from key_of as key_row
        where key_row.column_name = 'conversation_id'
    ) as verified_by
union all
select
    'missing_added_by_user' as problem,
    (select count(*) from missing_added_by_user) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.project_id, sample.conversation_id), '[]'::jsonb)
        from (select * from missing_added_by_user order by 1, 2 limit %(sample_limit)s) as sample
    ) as samples,
    (
        select 'foreign key ' || key_row.constraint_name
        from key_of as key_row
        where key_row.column_name = 'added_by'
    ) as verified_by;
