-- The role statements run as (current_user), to name it when it lacks a privilege a migration needs.
select current_user;
