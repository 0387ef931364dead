-- A first fill's id for its row number staged.fill_row_number, in the UUIDv7 layout: the fill statement's start in milliseconds, version 7, 26 random bits drawn once for the fill (the variant's two bits kept), then the row number in the last 48 bits. Unique within the fill by construction, and never equal to a version-4 id gen_random_uuid() gives later rows. One random draw per fill, not per row: without OpenSSL a draw is a read of /dev/urandom.
(
    (
        select substr(fill.ms, 1, 8) || '-' || substr(fill.ms, 9, 4) || '-7' || substr(fill.drawn, 16, 3) || '-' || substr(fill.drawn, 20, 4) || '-'
        from (
            select lpad(to_hex(floor(extract(epoch from statement_timestamp()) * 1000)::bigint), 12, '0') as ms, gen_random_uuid()::text as drawn
        ) as fill
    ) || lpad(to_hex(staged.fill_row_number), 12, '0')
)::uuid
