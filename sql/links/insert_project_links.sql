-- Bulk-loads every project link into an empty project_conversations (its indexes and constraints are rebuilt afterwards).
insert into {source}.project_conversations (project_id, conversation_id, added_by)
select oracle.project_id, oracle.conversation_id, oracle.added_by
from (
    {oracle}
) as oracle
