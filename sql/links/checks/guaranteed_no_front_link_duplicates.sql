-- The duplicate check's result without a scan when a valid unique index on exactly the pair rules duplicates out (trust_constraints): one row as check_front_links_duplicates.sql gives it, or none. The run that writes the table reads it (select_front_link_guarantees.sql) and records it for the check that follows; without the row that check scans.
select
    'duplicate_pairs' as problem,
    0::bigint as violations,
    '[]'::jsonb as samples,
    'unique index ' || gi.index_name as verified_by
from ({guaranteeing_index}) as gi
