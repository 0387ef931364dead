-- The tick's moment (the database's now()) and, per job the sensor launches (front, project) and per stamp bucket (the bucket_seconds-long interval of greatest(created_at, updated_at) since the epoch; a stamp after the tick's moment counts in the moment's bucket, so the cursor holds at most one bucket per bucket_seconds of the window), the fingerprint of the source rows stamped after changed_after, and of those stamped after the next tick's lower bound, now() - allowance: how many rows, and the sum of a hash of each row's id and xmin (the transaction that wrote its current version). A later tick that finds a bucket's fingerprint unchanged over the same stamps saw no row of it written since, whenever it was stamped or committed; one row per bucket holding a row, and one with job null when none does.
-- stamped_rows is one select_stamped_rows.sql per watched table, joined by union all
-- (defs/links/change_fingerprints.py), so each table keeps its own index range scan. The bucket is the one
-- find_late_changed_front_day_ranges.sql and find_late_changed_project_conversations.sql filter on.
with tick as (
    select
        now() as moment,
        now() - %(allowance)s::interval as next_after
),

stamped_rows as (
    {stamped_rows}
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
