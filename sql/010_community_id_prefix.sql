-- The community id index holds the first 4 bytes of the key (cid >> 32) instead of all 8: about
-- 4.5 bytes less per session. Two sessions of 2 million share a prefix about once in a thousand
-- lookups; the lookup reads those few rows and the column, which keeps all 8 bytes, picks the
-- one asked for. appliance/query/compile.py writes the condition with the same expression, so
-- SQLite matches it to this index.

DROP INDEX sessions_cid;
CREATE INDEX sessions_cid ON sessions (cid >> 32);
