-- Lists a link table's columns in order with what fresh storage built by CREATE TABLE AS must be given back to match it: type, default, NOT NULL and comment, each as PostgreSQL renders it.
select
    attribute.attname::text as column_name,
    pg_catalog.format_type(attribute.atttypid, attribute.atttypmod) as column_type,
    pg_catalog.pg_get_expr(column_default.adbin, column_default.adrelid) as default_expression,
    attribute.attnotnull as not_null,
    pg_catalog.col_description(attribute.attrelid, attribute.attnum) as column_comment
from pg_catalog.pg_attribute as attribute
left join pg_catalog.pg_attrdef as column_default
    on column_default.adrelid = attribute.attrelid
   and column_default.adnum = attribute.attnum
where attribute.attrelid = %(qualified_table)s::regclass
  and attribute.attnum > 0
  and not attribute.attisdropped
order by attribute.attnum
