-- Loads the oracle pairs of a window into a never-filled Front link table or its fresh storage: indexes are built, and foreign keys added, afterwards.
insert into {source}.{links} ({owner}, front_conversation_id, front_conversation_created_at)
select oracle.{owner}, oracle.front_conversation_id, oracle.front_conversation_created_at
from (
    {oracle}
) as oracle
