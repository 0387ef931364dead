-- Selects the links of every Front conversation with a created_at, the owner column as owner_id: the stored side of a diff over every day, as select_front_links_of_window.sql selects a bounded window's.
-- The table alone holds them: only the links of conversations with no created_at, in no window, are left out,
-- through the few such conversations. Joining every link with its conversation, as a bounded window must,
-- hashes every conversation first. A link whose conversation is gone (a fill's, before its foreign key
-- cascades) has no defined pair either, and the diff deletes it.
select
    link.id,
    link.{owner} as owner_id,
    link.front_conversation_id,
    link.front_conversation_created_at
from {source}.{links} as link
where not exists (
    select 1
    from {source}.front_conversations as undated
    where
        undated.id = link.front_conversation_id
        and undated.created_at is null
)
