-- Sets a nullable reference to NULL where its row is gone, as ON DELETE SET NULL would have, so the key validates.
update {source}.{links} as link
set {column} = null
where
    link.{column} is not null
    and not exists (
        select 1
        from {source}.{referenced_table} as referenced
        where referenced.id = link.{column}
    )
