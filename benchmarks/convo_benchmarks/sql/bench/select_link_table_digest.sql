-- One link table's row count and a digest of all its rows in key order: equal on two servers when their copies are.
select
    count(*) as row_count,
    md5(coalesce(string_agg(md5(link::text), '' order by link.id), '')) as digest
from {source}.{links} as link
