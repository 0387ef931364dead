-- Renders timestamps the same on both servers for the rest of the transaction, so their tables' digests compare.
select
    pg_catalog.set_config('TimeZone', 'UTC', true) as time_zone,
    pg_catalog.set_config('DateStyle', 'ISO, YMD', true) as date_style
