-- Renders timestamps the same on both servers for the rest of the transaction, so their tables' digests compare.
select pg_catalog.set_config('TimeZone', 'UTC', true), pg_catalog.set_config('DateStyle', 'ISO, YMD', true)
