-- Skips the pairs a Front link table already holds: bound into insert_pending_front_links.sql for every insert but a first fill's slices.
on conflict (front_conversation_id, {owner}) do nothing
