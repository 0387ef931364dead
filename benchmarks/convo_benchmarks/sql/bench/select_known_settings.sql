-- Which of the named settings the server has, so that a misspelt `bench --server-setting` is named before anything is changed.
select setting.name
from pg_catalog.pg_settings as setting
where setting.name = any(%(names)s)
