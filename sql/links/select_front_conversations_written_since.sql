-- Selects the conversations with a source row written since a snapshot: stamped, greatest(created_at, updated_at), after changed_after (the snapshot's moment less the late-commit allowance; future stamps included) by a transaction that had not committed when the snapshot, diff_snapshot, was taken. The row is the conversation itself, one of its messages or their recipients, or a contact method or person one of those recipients reaches.
-- A row the snapshot saw is no change since, however recent its stamp: the app's writes during a first fill,
-- just before the catch-up's diff, are in what the diff found. Transaction ids compare as PostgreSQL's 32-bit xmin does,
-- modulo 2^32 within the 2^31 before the snapshot: a row older than that (frozen, or in a database past 2^31
-- transactions) counts as written since, which only costs a diff again.
-- Each table is one range scan of the index the late_change_indexes check recommends on that stamp (a batch
-- asks only when every such index exists), then keys and foreign-key indexes walk from the few rows stamped
-- since to their conversations: the cost follows what the app wrote since, not the conversations of the run.
with taken as (
    select %(diff_snapshot)s::pg_snapshot as snapshot
),

running as (
    select coalesce(array_agg(mod(xip.xid::text::bigint, 4294967296)), array[]::bigint[]) as xids
    from taken
    cross join lateral pg_snapshot_xip(taken.snapshot) as xip (xid)
),

diff_snapshot as (
    select
        mod(pg_snapshot_xmax(taken.snapshot)::text::bigint, 4294967296) as xmax,
        running.xids as running
    from taken
    cross join running
),

-- every row stamped since (select_rows_stamped_since.sql, one per table, in union all), with its table
stamped as (
    {stamped_rows}
),

-- those the snapshot did not see: written by a transaction at or after its snapshot's xmax, or running then
written_since as (
    select
        stamped.source_table,
        stamped.id
    from stamped
    cross join diff_snapshot
    where not (
        mod(diff_snapshot.xmax - stamped.xmin::text::bigint + 4294967296, 4294967296) between 1 and 2147483647
        and stamped.xmin::text::bigint <> all(diff_snapshot.running)
    )
),

contact_methods_written_since as (
    select written_since.id
    from written_since
    where written_since.source_table = 'contact_methods'
    union
    select contact_method.id
    from written_since
    inner join {source}.contact_methods as contact_method on contact_method.person_id = written_since.id
    where written_since.source_table = 'people'
),

messages_written_since as (
    select written_since.id
    from written_since
    where written_since.source_table = 'front_messages'
    union
    select recipient.front_message_id
    from written_since
    inner join {source}.front_message_recipients as recipient on recipient.id = written_since.id
    where written_since.source_table = 'front_message_recipients'
    union
    select recipient.front_message_id
    from contact_methods_written_since
    inner join {source}.front_message_recipients as recipient
        on recipient.contact_method_id = contact_methods_written_since.id
)

select front_message.front_conversation_id::text
from messages_written_since
inner join {source}.front_messages as front_message on front_message.id = messages_written_since.id
union
select written_since.id::text
from written_since
where written_since.source_table = 'front_conversations'
