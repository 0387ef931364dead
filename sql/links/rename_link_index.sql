-- Gives an index (and the key constraint it backs) of freshly built storage the name the link table's index had.
alter index {source}.{index_name} rename to {new_name}
