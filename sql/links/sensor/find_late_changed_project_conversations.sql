-- Finds the conversations whose project link a change stamped after changed_after (future stamps included), in one of the changed_buckets (as select_change_fingerprints.sql numbers them, up to newest_bucket_stamp), may have changed: the conversations stamped in the interval, and every conversation of a project stamped in it (those pointing at it now and those linked to it in project_conversations); returns how many, and their ids when naming them costs less than the whole table.
-- A conversation that moved, left or joined a project is stamped itself; a project whose user changed changes
-- the added_by of all its links, and one created or removed the links of the conversations pointing at it. With
-- the index the project recommends on greatest(created_at, updated_at) (check late_change_indexes), each source
-- table is one index range scan; without it, one full read. The walk from projects to conversations uses the
-- index on conversations(project_id) and project_conversations' unique (project_id, conversation_id).
with changed_projects as (
    select project.id
    from {source}.projects as project
    where
        greatest(project.created_at, project.updated_at) > %(changed_after)s
        and floor(
            extract(epoch from least(greatest(project.created_at, project.updated_at), %(newest_bucket_stamp)s))
            / %(bucket_seconds)s
        )::bigint
        = any(%(changed_buckets)s)
),

changed_conversations as (
    select conversation.id
    from {source}.conversations as conversation
    where
        greatest(conversation.created_at, conversation.updated_at) > %(changed_after)s
        and floor(
            extract(
                epoch from least(greatest(conversation.created_at, conversation.updated_at), %(newest_bucket_stamp)s)
            )
            / %(bucket_seconds)s
        )::bigint
        = any(%(changed_buckets)s)
    union
    select conversation.id
    from changed_projects as changed_project
    inner join {source}.conversations as conversation on conversation.project_id = changed_project.id
    union
    select link.conversation_id
    from changed_projects as changed_project
    inner join {source}.project_conversations as link on link.project_id = changed_project.id
)

select
    count(*) as conversations,
    -- the ids while reconciling them one by one costs less than the whole table: while they are at most
    -- max_named_conversations, or at most one in whole_table_per_named_conversation of the conversations the
    -- planner estimates the source holds (conversations_estimate); otherwise the run reconciles the table
    case
        when
            count(*) <= %(max_named_conversations)s
            or count(*) * %(whole_table_per_named_conversation)s <= %(conversations_estimate)s
            then array_agg(changed_conversation.id::text order by changed_conversation.id)
    end as conversation_ids
from changed_conversations as changed_conversation;
