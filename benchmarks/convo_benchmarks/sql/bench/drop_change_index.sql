-- Drops one index the late-change sensor benchmark added on a scratch source table (as the late_change_indexes check names it).
drop index concurrently if exists {source}.{index_name}
