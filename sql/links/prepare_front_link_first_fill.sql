-- Makes a first fill's staged pairs ({analytics}.{first_fill}) private to the writers and quick to read by position: the analysts' default SELECT on new analytics tables is taken back, an index by position serves each slice's range, and statistics tell the planner so.
revoke all on table {analytics}.{first_fill} from analytics_reader;
set local maintenance_work_mem = '256MB';
create index on {analytics}.{first_fill} (position);
analyze {analytics}.{first_fill}
