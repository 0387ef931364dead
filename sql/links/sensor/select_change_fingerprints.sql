-- The tick's moment (the database's now()) and, per job the sensor launches (front, project) and per stamp bucket (the bucket_seconds-long interval of greatest(created_at, updated_at) since the epoch; a stamp after the tick's moment counts in the moment's bucket, so the cursor holds at most one bucket per bucket_seconds of the window), the fingerprint of the source rows stamped after changed_after, and of those stamped after the next tick's lower bound, now() - allowance: how many rows, and the sum of a hash of each row's id and xmin (the transaction that wrote its current version). A later tick that finds a bucket's fingerprint unchanged over the same stamps saw no row of it written since, whenever it was stamped or committed; one row per bucket holding a row, and one with job null when none does.
-- Each table is one index range scan with the index the project recommends on greatest(created_at,
-- updated_at) (check late_change_indexes), plus a heap fetch per row in the window for its xmin. The bucket is
-- the one find_late_changed_front_day_ranges.sql and find_late_changed_project_conversations.sql filter on.
with tick as (
    select
        now() as moment,
        now() - %(allowance)s::interval as next_after
),

stamped_rows as (
    select
        'front' as job,
        greatest(person.created_at, person.updated_at) as stamp,
        hashtextextended(person.id::text || ':' || person.xmin::text, 0) as row_hash
    from {source}.people as person
    where greatest(person.created_at, person.updated_at) > %(changed_after)s
    union all
    select
        'front' as job,
        greatest(contact_method.created_at, contact_method.updated_at) as stamp,
        hashtextextended(contact_method.id::text || ':' || contact_method.xmin::text, 0) as row_hash
    from {source}.contact_methods as contact_method
    where greatest(contact_method.created_at, contact_method.updated_at) > %(changed_after)s
    union all
    select
        'front' as job,
        greatest(recipient.created_at, recipient.updated_at) as stamp,
        hashtextextended(recipient.id::text || ':' || recipient.xmin::text, 0) as row_hash
    from {source}.front_message_recipients as recipient
    where greatest(recipient.created_at, recipient.updated_at) > %(changed_after)s
    union all
    select
        'front' as job,
        greatest(message.created_at, message.updated_at) as stamp,
        hashtextextended(message.id::text || ':' || message.xmin::text, 0) as row_hash
    from {source}.front_messages as message
    where greatest(message.created_at, message.updated_at) > %(changed_after)s
    union all
    select
        'front' as job,
        greatest(front_conversation.created_at, front_conversation.updated_at) as stamp,
        hashtextextended(front_conversation.id::text || ':' || front_conversation.xmin::text, 0) as row_hash
    from {source}.front_conversations as front_conversation
    where greatest(front_conversation.created_at, front_conversation.updated_at) > %(changed_after)s
    union all
    select
        'project' as job,
        greatest(conversation.created_at, conversation.updated_at) as stamp,
        hashtextextended(conversation.id::text || ':' || conversation.xmin::text, 0) as row_hash
    from {source}.conversations as conversation
    where greatest(conversation.created_at, conversation.updated_at) > %(changed_after)s
    union all
    select
        'project' as job,
        greatest(project.created_at, project.updated_at) as stamp,
        hashtextextended(project.id::text || ':' || project.xmin::text, 0) as row_hash
    from {source}.projects as project
    where greatest(project.created_at, project.updated_at) > %(changed_after)s
),

buckets as (
    select
        stamped_rows.job,
        -- stamps after the tick's moment (an app clock ahead, infinity) all count in its bucket
        floor(extract(epoch from least(stamped_rows.stamp, tick.moment)) / %(bucket_seconds)s)::bigint as bucket,
        count(*) || ':' || sum(stamped_rows.row_hash) as since_cursor,
        count(*) filter (where stamped_rows.stamp > tick.next_after)
        || ':'
        || coalesce(sum(stamped_rows.row_hash) filter (where stamped_rows.stamp > tick.next_after), 0) as since_next
    from stamped_rows
    cross join tick
    group by stamped_rows.job, bucket
)

select
    tick.moment,
    tick.next_after,
    buckets.job,
    buckets.bucket,
    buckets.since_cursor,
    buckets.since_next
from tick
left join buckets on true
order by buckets.job, buckets.bucket;
