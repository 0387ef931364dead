-- Drops a first fill's staged pairs: the fill's last write does, and so does any other writer of the link table before it writes, which ends that fill's ownership of the table's windows (its next chunk diffs again).
drop table if exists {analytics}.{first_fill}
