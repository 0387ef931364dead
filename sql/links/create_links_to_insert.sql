-- Creates (once per connection) the temporary table a diff puts the missing links of a window in, numbered so they can be inserted in batches; kept across commits (each diff empties it first).
create temporary table if not exists links_to_insert (
    position bigint generated always as identity primary key,
    owner_id uuid not null,
    front_conversation_id uuid not null,
    front_conversation_created_at timestamptz not null
) on commit preserve rows
