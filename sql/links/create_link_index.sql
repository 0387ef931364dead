-- Builds an index on freshly built storage from the definition (USING ... onwards) the link table's own index has.
create {unique} index {index_name} on {source}.{fill} {definition}
