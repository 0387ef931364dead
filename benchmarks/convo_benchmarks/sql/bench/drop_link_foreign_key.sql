-- Drops one foreign key of an emptied link table, so the table is as its migration created it and the next run is a real first fill (never done beside the app: it locks the referenced table).
alter table {source}.{links} drop constraint if exists {constraint_name}
