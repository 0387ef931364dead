-- The newest change time a late-change tick may read: the database's now() minus the lag left for transactions still committing.
select now() - %(lag)s::interval as changes_through;
