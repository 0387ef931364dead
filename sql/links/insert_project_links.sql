-- Inserts the project links of the conversations created in a window, skipping conversations already linked: a first fill, one bounded transaction per window.
insert into {source}.project_conversations (project_id, conversation_id, added_by)
{defined_rows}
on conflict (conversation_id) do nothing
