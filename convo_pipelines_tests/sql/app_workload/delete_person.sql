-- The app deletes one person; the foreign keys (where they exist) cascade to the person's links.
delete from {source}.people
where id = %(id)s
