-- The defined pairs a diff staged ({analytics}.{window_staged}), as the definition query returns them: embedded as the definition of create_front_link_differences.sql for a window.
select
    staged.{owner},
    staged.front_conversation_id,
    staged.front_conversation_created_at
from {analytics}.{window_staged} as staged
