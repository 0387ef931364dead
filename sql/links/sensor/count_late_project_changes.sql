-- Counts conversations and projects created or updated in (changed_after, changed_through]: either can change project_conversations (a conversation moved to another project, a project's user changed).
select
    (
        select count(*)
        from {source}.conversations as c
        where
            (c.updated_at > %(changed_after)s and c.updated_at <= %(changed_through)s)
            or (c.created_at > %(changed_after)s and c.created_at <= %(changed_through)s)
    ) as changed_conversations,
    (
        select count(*)
        from {source}.projects as p
        where
            (p.updated_at > %(changed_after)s and p.updated_at <= %(changed_through)s)
            or (p.created_at > %(changed_after)s and p.created_at <= %(changed_through)s)
    ) as changed_projects;
