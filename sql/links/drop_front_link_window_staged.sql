-- Drops a window's staged defined pairs at the end of the diff that staged them, in the same transaction.
drop table {analytics}.{window_staged}
