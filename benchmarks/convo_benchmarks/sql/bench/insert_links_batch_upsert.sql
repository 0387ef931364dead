-- The approach the seeds used: the oracle pairs of one batch of conversation ids, upserted into the indexed link table.
with oracle as (
    {oracle}
)

insert into {source}.{links} ({owner}, front_conversation_id, front_conversation_created_at)
select
    oracle.{owner},
    oracle.front_conversation_id,
    oracle.front_conversation_created_at
from oracle
where oracle.front_conversation_id = any(%(conversation_ids)s)
on conflict ({owner}, front_conversation_id) do nothing
