-- Resets a connection a run takes again for its next step or check: no session advisory lock left (a first fill's on its link table), every setting back to its default; the pipeline's own settings are set again next.
select pg_advisory_unlock_all();
reset all
