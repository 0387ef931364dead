-- Names a valid unique index of the checked link table on exactly unique_columns (no predicate, no expression), when trust_constraints is true: PostgreSQL's own guarantee that no two rows share those columns, so a duplicate check needs no scan.
select (
    select index_class.relname::text
    from pg_catalog.pg_class as index_class
    where index_class.oid = index_row.indexrelid
) as index_name
from pg_catalog.pg_index as index_row
where
    %(trust_constraints)s::boolean
    and index_row.indrelid = to_regclass(format('%%I.%%I', %(source_schema)s::text, %(link_table_name)s::text))
    and index_row.indisunique
    and index_row.indisvalid
    and index_row.indisready
    and index_row.indpred is null
    and index_row.indexprs is null
    and index_row.indnkeyatts = cardinality(%(unique_columns)s::text[])
    and (
        select array_agg(attribute.attname::text order by attribute.attname::text)
        from pg_catalog.pg_attribute as attribute
        where
            attribute.attrelid = index_row.indrelid
            and attribute.attnum = any(index_row.indkey::int2[])
    ) = (select array_agg(name order by name) from unnest(%(unique_columns)s::text[]) as name)
limit 1
