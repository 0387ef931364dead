-- Copies a link table column's comment onto its fresh storage.
comment on column {source}.{fill}.{column} is {comment}
