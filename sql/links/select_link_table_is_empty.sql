-- Tells whether a link table has no rows at all (with no foreign key either, a run fills it in place instead of diffing).
select not exists (select 1 from {source}.{links}) as is_empty
