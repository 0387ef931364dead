-- How often a subscription's apply and table-sync workers failed (PostgreSQL 15 on).
select stats.apply_error_count + stats.sync_error_count
from pg_catalog.pg_stat_subscription_stats as stats
where stats.subname = %(subscription)s
