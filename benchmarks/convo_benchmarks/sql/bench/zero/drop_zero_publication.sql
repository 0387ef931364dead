-- Drops the publication zero-cache replicated through, once it has stopped.
drop publication if exists {publication};
