-- The tables the migrations adopted, what each migration added to them, and whose they stay; none before the record exists.
select
    adopted.table_name,
    adopted.migration_version,
    adopted.table_owner,
    adopted.added
from {source}.convo_pipelines_adopted_tables as adopted
order by adopted.table_name
