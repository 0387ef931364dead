-- Sets the session's TimeZone (set_config's is_local false: the session's, not a transaction's) to time_zone, the zone the application's `timestamp without time zone` stamps hold.
-- PostgreSQL reads such a stamp in the session's zone wherever it meets a timestamptz: a comparison with a
-- bound moment (through the cross-type btree operators, so an index on the column still serves it), a cast,
-- an assignment to a timestamptz column. A pooler that hands transactions to any server connection
-- (pgbouncer) tracks TimeZone per client and sets it again on each server connection the client gets.
select set_config('TimeZone', %(time_zone)s, false) as time_zone
