-- Carries the link table's own comment over to its freshly built storage.
comment on table {source}.{fill} is {comment}
