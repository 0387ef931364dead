-- The contender a data engineer would build instead: one link join over all time as a materialized view, with a unique index on the pair (which REFRESH ... CONCURRENTLY needs) and an index on the conversation.
create materialized view {source}.{view} as
{oracle};
create unique index on {source}.{view} ({owner}, front_conversation_id);
create index on {source}.{view} (front_conversation_id)
