-- Tells whether a link table has no rows at all (with no foreign key either, a run gives it its first fill instead of diffing).
select not exists (select 1 from {source}.{links}) as is_empty
