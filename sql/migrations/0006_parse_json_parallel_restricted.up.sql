-- Marks parse_json_or_null PARALLEL RESTRICTED: its exception block starts a subtransaction, which a parallel
-- worker cannot, so a parallel plan calling it failed ("cannot start subtransactions during a parallel operation").
alter function {analytics}.parse_json_or_null(text) parallel restricted;
