/* no join: a validated foreign key of the source proves every referenced row exists (bound into an oracle in place of its ProvenJoin) */
