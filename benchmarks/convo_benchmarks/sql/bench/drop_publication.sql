-- Drops the bench's publication once its subscription is gone.
drop publication if exists {publication}
