-- Takes the link table away from readers for the moment of the swap (the caller set a short lock_timeout, so app reads never queue behind a long wait).
lock table {source}.{links} in access exclusive mode
