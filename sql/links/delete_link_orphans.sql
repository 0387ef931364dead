-- Deletes the links whose referenced row is gone (deleted while the table was filled, before its foreign key cascaded), so the key validates.
delete from {source}.{links} as link
where not exists (
    select 1
    from {source}.{referenced_table} as referenced
    where referenced.id = link.{column}
)
