-- The duplicate check's result without a scan, when the check follows a run (trust_constraints) and a valid unique index on exactly the pair rules duplicates out: one row as check_front_links_duplicates.sql gives it, or none (then that file scans).
select
    'duplicate_pairs' as problem,
    0::bigint as violations,
    '[]'::jsonb as samples,
    'unique index ' || gi.index_name as verified_by
from ({guaranteeing_index}) as gi
