-- Whether Dagster can keep its tables here: the role, the schema its tables go to (the first of search_path), and whether they exist already or the role may create them.
select
    current_user as role_name,
    current_schema() as schema_name,
    current_schema() is not null
    and (to_regclass('runs') is not null or has_schema_privilege(current_schema(), 'CREATE')) as usable;
