-- Finds project_conversations rows whose project, conversation or (non-null) added_by user does not exist: one row per problem with its count, up to sample_limit samples, and the foreign key that made a scan needless.
-- When trust_constraints is true (the check that follows a run), a validated foreign key with its triggers
-- enabled is PostgreSQL's own guarantee for its column, and that side is not scanned.
with guaranteeing_keys as (
    {guaranteeing_keys}
),

key_of as (
    select gk.column_name, min(gk.constraint_name) as constraint_name
    from guaranteeing_keys as gk
    where (gk.column_name, gk.referenced_table) in (('project_id', 'projects'), ('conversation_id', 'conversations'), ('added_by', 'users'))
    group by gk.column_name
),

missing_project as (
    select l.project_id, l.conversation_id
    from {source}.project_conversations as l
    where not exists (select from key_of where key_of.column_name = 'project_id')
      and not exists (select from {source}.projects as p where p.id = l.project_id)
),

missing_conversation as (
    select l.project_id, l.conversation_id
    from {source}.project_conversations as l
    where not exists (select from key_of where key_of.column_name = 'conversation_id')
      and not exists (select from {source}.conversations as c where c.id = l.conversation_id)
),

missing_added_by_user as (
    select l.project_id, l.conversation_id, l.added_by
    from {source}.project_conversations as l
    where
        l.added_by is not null
        and not exists (select from key_of where key_of.column_name = 'added_by')
        and not exists (select from {source}.users as u where u.id = l.added_by)
)

select
    'missing_project' as problem,
    (select count(*) from missing_project) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.project_id, s.conversation_id), '[]'::jsonb)
        from (select * from missing_project order by 1, 2 limit %(sample_limit)s) as s
    ) as samples,
    (select 'foreign key ' || k.constraint_name from key_of as k where k.column_name = 'project_id') as verified_by
union all
select
    'missing_conversation',
    (select count(*) from missing_conversation),
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.project_id, s.conversation_id), '[]'::jsonb)
        from (select * from missing_conversation order by 1, 2 limit %(sample_limit)s) as s
    ),
    (select 'foreign key ' || k.constraint_name from key_of as k where k.column_name = 'conversation_id')
union all
select
    'missing_added_by_user',
    (select count(*) from missing_added_by_user),
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.project_id, s.conversation_id), '[]'::jsonb)
        from (select * from missing_added_by_user order by 1, 2 limit %(sample_limit)s) as s
    ),
    (select 'foreign key ' || k.constraint_name from key_of as k where k.column_name = 'added_by');
