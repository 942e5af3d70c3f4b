-- Address keys: a class byte and the address (5 bytes for IPv4, 17 for IPv6) instead of 16
-- bytes with IPv4 as ::ffff:a.b.c.d. An IPv4 address then costs 5 bytes in the row and in each
-- of its two indexes instead of 16 (about 45 bytes less per session). Keys keep the old order
-- (class 0: IPv6 below ::ffff:0:0, class 4: IPv4, class 6: the rest of IPv6), so a CIDR is
-- still one BETWEEN on the index. See ip_key in appliance/store/layout.py. Terms of ip fields
-- (dns.ip, http.xff, ...) change the same way. `||` gives text, so each key is cast to a blob.

UPDATE sessions SET src_ip = CASE
        WHEN substr(src_ip, 1, 12) = x'00000000000000000000ffff' THEN CAST(x'04' || substr(src_ip, 13) AS BLOB)
        WHEN src_ip < x'00000000000000000000ffff00000000' THEN CAST(x'00' || src_ip AS BLOB)
        ELSE CAST(x'06' || src_ip AS BLOB) END
 WHERE typeof(src_ip) = 'blob' AND length(src_ip) = 16;

UPDATE sessions SET dst_ip = CASE
        WHEN substr(dst_ip, 1, 12) = x'00000000000000000000ffff' THEN CAST(x'04' || substr(dst_ip, 13) AS BLOB)
        WHEN dst_ip < x'00000000000000000000ffff00000000' THEN CAST(x'00' || dst_ip AS BLOB)
        ELSE CAST(x'06' || dst_ip AS BLOB) END
 WHERE typeof(dst_ip) = 'blob' AND length(dst_ip) = 16;

UPDATE terms SET value = CASE
        WHEN substr(value, 1, 12) = x'00000000000000000000ffff' THEN CAST(x'04' || substr(value, 13) AS BLOB)
        WHEN value < x'00000000000000000000ffff00000000' THEN CAST(x'00' || value AS BLOB)
        ELSE CAST(x'06' || value AS BLOB) END
 WHERE typeof(value) = 'blob' AND length(value) = 16
   AND field_id IN (SELECT id FROM fields WHERE type = 'ip');
