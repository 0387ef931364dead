-- Lists the privileges others hold on a link table (grantee role name, NULL for PUBLIC), and its owner, so freshly built storage can carry them over.
select
    grantee_role.rolname as grantee,
    privilege.privilege_type,
    privilege.is_grantable,
    owner_role.rolname as owner
from pg_catalog.pg_class as table_row
join pg_catalog.pg_roles as owner_role
    on owner_role.oid = table_row.relowner
left join lateral pg_catalog.aclexplode(table_row.relacl) as privilege
    on privilege.grantee <> table_row.relowner
left join pg_catalog.pg_roles as grantee_role
    on grantee_role.oid = privilege.grantee
where table_row.oid = %(qualified_table)s::regclass
