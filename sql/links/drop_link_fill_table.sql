-- Drops the fresh storage of a link table's first fill (left behind by a run killed before its swap, or refused).
drop table if exists {source}.{fill}
