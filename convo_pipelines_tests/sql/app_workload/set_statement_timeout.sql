-- Bounds every statement of this session (the app workload's), so one stuck behind a lock fails and is counted instead of hanging.
select set_config('statement_timeout', %(timeout)s, false)
