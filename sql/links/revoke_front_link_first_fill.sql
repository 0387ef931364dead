-- Makes a first fill's staged pairs ({analytics}.{first_fill}) private to the writers: the analysts' default SELECT on new analytics tables is taken back.
revoke all on table {analytics}.{first_fill} from analytics_reader
