-- The rows of one watched table stamped after changed_after, as select_change_fingerprints.sql fingerprints them: the job a change to the table re-runs, each row's stamp, greatest(created_at, updated_at), and a hash of its id and xmin (the transaction that wrote its current version).
-- With the index the project recommends on the stamp (check late_change_indexes), one index range scan, plus a
-- heap fetch per row in the window for its xmin; without it, one full read.
select
    {job}::text as job,
    greatest(watched_row.created_at, watched_row.updated_at) as stamp,
    hashtextextended(watched_row.id::text || ':' || watched_row.xmin::text, 0) as row_hash
from {source}.{watched_table} as watched_row
where greatest(watched_row.created_at, watched_row.updated_at) > %(changed_after)s
