-- Restores the PARALLEL SAFE marking parse_json_or_null had (which parallel plans cannot honour).
alter function {analytics}.parse_json_or_null(text) parallel safe;
