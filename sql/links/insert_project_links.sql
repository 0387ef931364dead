-- Loads every project link into a never-filled project_conversations or its fresh storage: indexes are built, and foreign keys added, afterwards.
insert into {source}.{links} (project_id, conversation_id, added_by)
select oracle.project_id, oracle.conversation_id, oracle.added_by
from (
    {oracle}
) as oracle
