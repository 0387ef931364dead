-- Inserts the missing links a diff found (pg_temp.front_link_differences without a link) whose person or client and conversation still exist, skipping pairs already there.
insert into {source}.{links} ({owner}, front_conversation_id, front_conversation_created_at)
select
    difference.oracle_owner_id,
    difference.oracle_front_conversation_id,
    difference.oracle_front_conversation_created_at
from pg_temp.front_link_differences as difference
where difference.link_id is null
  and exists (
      select 1 from {source}.{owner_table} as owner_row
      where owner_row.id = difference.oracle_owner_id
  )
  and exists (
      select 1 from {source}.front_conversations as conversation_row
      where conversation_row.id = difference.oracle_front_conversation_id
  )
on conflict ({owner}, front_conversation_id) do nothing
