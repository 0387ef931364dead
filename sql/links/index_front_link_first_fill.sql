-- Makes a first fill's staged pairs ({analytics}.{first_fill}) quick to read by position when they make many slices: a block-range index by position serves each slice's range, and statistics tell the planner so.
-- Why block ranges (BRIN) rather than a b-tree: the pairs were written in position order, so each range of
-- pages holds a narrow run of positions, and a slice reads only its own pages either way; a BRIN index is
-- built by one pass over the table, where a b-tree sorts every position (at ten million conversations, tens
-- of millions) and writes an entry for each. A fill of a slice or two reads its few pages whole instead.
create index on {analytics}.{first_fill} using brin (position);
analyze {analytics}.{first_fill}
