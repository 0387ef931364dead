-- Counts the links of a window's Front conversations (only those in only_conversation_ids when given): after a diff's deletes, the window's rows but for the missing ones still to insert.
with window_links as (
    {window_links}
)

select count(*)
from window_links
