-- The named server settings as the server shows them (with their units: '128MB', '1GB'), by name.
select
    setting.name,
    current_setting(setting.name) as shown
from pg_catalog.pg_settings as setting
where setting.name = any(%(names)s)
order by setting.name
