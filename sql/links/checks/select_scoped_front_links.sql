-- Selects the (owner, Front conversation) pairs of a Front link table within the checked scope, every stored copy kept: the scoped_links of check_front_links_duplicates.sql and check_front_links_orphans.sql.
-- Scope: both bounds null = the whole table; otherwise links of conversations created in
-- [window_start, window_end), a null bound meaning no bound on that side. A window reaches links
-- through their (existing) conversations, so a link whose conversation is gone is only found by a
-- whole-table check.
-- Two exclusive branches rather than one OR, so that a window reaches its links through the
-- created_at and front_conversation_id indexes instead of a scan of the whole link table.
select
    link.{owner_column},
    link.front_conversation_id
from {source}.{link_table} as link
where %(window_start)s::timestamptz is null and %(window_end)s::timestamptz is null
union all
select
    link.{owner_column},
    link.front_conversation_id
from {source}.front_conversations as front_conversation
inner join {source}.{link_table} as link on link.front_conversation_id = front_conversation.id
where
    (%(window_start)s::timestamptz is not null or %(window_end)s::timestamptz is not null)
    and (%(window_start)s::timestamptz is null or front_conversation.created_at >= %(window_start)s::timestamptz)
    and (%(window_end)s::timestamptz is null or front_conversation.created_at < %(window_end)s::timestamptz)
