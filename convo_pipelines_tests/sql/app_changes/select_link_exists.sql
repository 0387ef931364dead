-- Whether the link table holds the pair (owner_id, conversation_id): what a freshness sample polls for.
select exists(
    select
    from {source}.{link_table} as link
    where link.{owner_column} = %(owner_id)s and link.{conversation_column} = %(conversation_id)s
) as linked;
