-- The database server's current time (not its transaction's start): every transaction begun after this reads a now() at or after it.
select clock_timestamp() as database_clock
