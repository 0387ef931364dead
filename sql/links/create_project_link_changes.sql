-- Computes how project_conversations differs from its definition (select_project_link_changes.sql) into pg_temp.project_link_changes, dropped at commit.
create temporary table project_link_changes on commit drop as
{changes}
