-- Tells why this server takes no writes, or null: a hot standby (in recovery) or a default of read-only transactions.
select
    case
        when pg_is_in_recovery() then 'a hot standby in recovery (pg_is_in_recovery() is true)'
        when current_setting('default_transaction_read_only') = 'on'
            then 'default_transaction_read_only is on for this database or role'
    end as reason
