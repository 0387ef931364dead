-- Inserts one batch (positions first..last) of the missing links a diff found (pg_temp.links_to_insert) whose person or client and conversation still exist, skipping pairs already there.
insert into {source}.{links} ({owner}, front_conversation_id, front_conversation_created_at)
select
    pending.owner_id,
    pending.front_conversation_id,
    pending.front_conversation_created_at
from pg_temp.links_to_insert as pending
where pending.position between %(first)s and %(last)s
  and exists (select 1 from {source}.{owner_table} as owner_row where owner_row.id = pending.owner_id)
  and exists (
      select 1 from {source}.front_conversations as conversation_row
      where conversation_row.id = pending.front_conversation_id
  )
on conflict ({owner}, front_conversation_id) do nothing
