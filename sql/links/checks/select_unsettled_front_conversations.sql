-- The conversations whose differences check_front_links_exactness.sql excuses: those whose source rows the application changed since changed_since (the run's start), the app moving on after the run's snapshot rather than an error (the next run picks them up).
-- Only the differing conversations are looked at. Rows the app hard-deleted leave no trace and still count.
-- A stamp later than this statement is no change made since the run started but a skewed clock: it
-- excuses nothing, or one such row would hide its conversations' differences for as long as it stays ahead.
select differing.front_conversation_id
from (
    select front_conversation_id from missing_now
    union
    select front_conversation_id from extra_now
) as differing
-- A lateral probe per differing conversation, stopping at its first changed row: written as two
-- EXISTS under an OR, PostgreSQL may plan them as hashed subplans, which build a hash of every
-- recipient's conversation once the app has changed one sampled conversation (a scan of the largest
-- table, beside the app's writes), where this reads a few index entries per conversation.
cross join lateral (
    select 1
    from {source}.front_conversations as fc
    where fc.id = differing.front_conversation_id
      and (
          fc.created_at between %(changed_since)s::timestamptz and statement_timestamp()
          or fc.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
      )
    union all
    select 1
    from {source}.front_messages as fm
    inner join {source}.front_message_recipients as fmr on fmr.front_message_id = fm.id
    left join {source}.contact_methods as cm on cm.id = fmr.contact_method_id
    left join {source}.people as p on p.id = cm.person_id
    where fm.front_conversation_id = differing.front_conversation_id
      and (
          fm.created_at between %(changed_since)s::timestamptz and statement_timestamp()
          or fm.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
          or fmr.created_at between %(changed_since)s::timestamptz and statement_timestamp()
          or fmr.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
          or cm.created_at between %(changed_since)s::timestamptz and statement_timestamp()
          or cm.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
          or p.created_at between %(changed_since)s::timestamptz and statement_timestamp()
          or p.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
      )
    limit 1
) as changed
where %(changed_since)s::timestamptz is not null
