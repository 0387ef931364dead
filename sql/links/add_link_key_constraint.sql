-- Builds a primary key or unique constraint on freshly built storage from the definition the link table's own key has.
alter table {source}.{fill} add constraint {index_name} {definition}
