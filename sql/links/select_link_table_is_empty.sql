-- Tells whether a link table has no rows at all (then a run bulk-builds it instead of diffing).
select not exists (select 1 from {source}.{links}) as is_empty
