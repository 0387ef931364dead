-- Computes how a window's Front links differ from its defined pairs (select_front_link_differences.sql) into pg_temp.front_link_differences, dropped at commit.
create temporary table front_link_differences on commit drop as
{differences}
