-- Makes an index built on fresh storage the primary key or unique constraint the link table's own index backs (the index takes the constraint's name, which is its own): a catalog change, the index is not rebuilt.
alter table {source}.{fill} add constraint {index_name} {key_kind} using index {index_name} {deferrability}
