-- Counts conversations and projects whose latest stamp, greatest(created_at, updated_at), is in (changed_after, changed_through] (an index range scan with the recommended index): either can change project_conversations (a conversation moved to another project, a project's user changed).
select
    (
        select count(*)
        from {source}.conversations as c
        where
            greatest(c.created_at, c.updated_at) > %(changed_after)s
        and greatest(c.created_at, c.updated_at) <= %(changed_through)s
    ) as changed_conversations,
    (
        select count(*)
        from {source}.projects as p
        where
            greatest(p.created_at, p.updated_at) > %(changed_after)s
        and greatest(p.created_at, p.updated_at) <= %(changed_through)s
    ) as changed_projects;
