-- A publication of the link tables a first fill writes ({tables}: their qualified names), for the bench's logical subscriber.
create publication {publication} for table {tables}
