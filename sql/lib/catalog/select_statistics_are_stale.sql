-- Says whether a table's planner statistics miss rows_written writes by autovacuum's own measure: never gathered, or rows_written above 50 plus a tenth of the rows they counted (autovacuum_analyze_threshold and _scale_factor's defaults).
select
    relation.reltuples < 0
    or %(rows_written)s::bigint > 50 + 0.1 * relation.reltuples
from pg_catalog.pg_class as relation
where relation.oid = to_regclass(format('%%I.%%I', %(schema)s::text, %(table)s::text))
