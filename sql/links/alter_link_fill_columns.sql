-- Gives the columns of a link table's fresh storage the defaults and NOT NULL the link table's columns have, in one statement (PostgreSQL checks every NOT NULL in one scan).
alter table {source}.{fill} {changes}
