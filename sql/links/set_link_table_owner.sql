-- Gives freshly built storage the owner the link table had.
alter table {source}.{fill} owner to {owner}
