-- Creates (once per connection) the temporary table a diff puts the missing links of a window in, emptied at every commit.
create temporary table if not exists links_to_insert (
    owner_id uuid not null,
    front_conversation_id uuid not null,
    front_conversation_created_at timestamptz not null
) on commit delete rows
