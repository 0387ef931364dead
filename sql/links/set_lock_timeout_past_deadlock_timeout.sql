-- Lets this transaction's lock waits last three times deadlock_timeout (pg_settings keeps it in milliseconds): long enough for PostgreSQL to cancel an autovacuum that holds the lock waited for, which it does once a waiter has waited deadlock_timeout. Only for a lock no statement of the application's queues behind.
select pg_catalog.set_config('lock_timeout', (setting::bigint * 3)::text, true)
from pg_catalog.pg_settings
where name = 'deadlock_timeout'
