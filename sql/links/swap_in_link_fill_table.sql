-- Replaces a never-filled (empty, without foreign keys) link table by its freshly built storage; locks no other table.
drop table {source}.{links};
alter table {source}.{fill} rename to {links}
