-- Drops a subscription of the bench's subscriber, and with it its replication slot on the upstream.
drop subscription if exists {subscription}
