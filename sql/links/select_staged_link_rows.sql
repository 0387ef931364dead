-- The oracle pairs a diff staged (pg_temp.link_rows_staged), as the oracle query returns them: embedded as the oracle of create_front_link_differences.sql for a window.
select
    staged.{owner},
    staged.front_conversation_id,
    staged.front_conversation_created_at
from pg_temp.link_rows_staged as staged
