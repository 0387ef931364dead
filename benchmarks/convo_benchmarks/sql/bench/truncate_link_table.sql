-- Empties the subscriber's copy of a link table before a new subscription, as the upstream's is before a first fill.
truncate {source}.{links}
