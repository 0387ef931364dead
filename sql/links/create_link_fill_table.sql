-- Creates the fresh storage a never-filled link table is built in: the same columns, defaults and column comments, no index yet.
create table {source}.{fill} (like {source}.{links} including defaults including comments including storage)
