-- Whether the server holds a database of this name (asked from another database of the same server).
select exists(select 1 from pg_database where datname = %(database)s) as found;
