-- The indexes on the destination address, the source port and the community id lead with the
-- session's time bucket: id >> 32, about 4.7 hours of lastPacket (ids are times,
-- appliance/store/layout.py). Their values are all but random from one session to the next,
-- so an index on the value alone puts each new session at a random place among all stored
-- ones: once the index outgrows SQLite's page cache, each insert reads and writes a page of
-- its own, and a store of 2 million sessions took new ones at two thirds the speed of an
-- empty one. Led by the bucket, new sessions land in the few pages of the newest buckets,
-- whatever the store's size. The source address and the destination port keep plain
-- indexes: a home network's sessions come from a few hundred devices and go to a few ports,
-- so their new entries already land at a few places, and those indexes keep their value order
-- (a search that wants the newest sessions of one device reads them newest first).
--
-- A search by address still needs no time bound: SQLite's skip-scan seeks each bucket in turn
-- (about 160 a month). It does so only when sqlite_stat1 says a bucket holds many rows, so
-- the figures below are written once, here, and never measured (`ANALYZE fields` only makes
-- the table): rows, rows per bucket, rows per bucket and value, as in any store above a few
-- thousand sessions. Fixed figures keep the query compiler's plans the same in every store.

DROP INDEX sessions_dst_ip;
DROP INDEX sessions_src_port;
DROP INDEX sessions_cid;
CREATE INDEX sessions_dst_ip ON sessions (id >> 32, dst_ip);
CREATE INDEX sessions_src_port ON sessions (id >> 32, src_port);
CREATE INDEX sessions_cid ON sessions (id >> 32, cid >> 32);

ANALYZE fields;
DELETE FROM sqlite_stat1;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('sessions', 'sessions_dst_ip', '1000000 5000 10'),
    ('sessions', 'sessions_src_port', '1000000 5000 10'),
    ('sessions', 'sessions_cid', '1000000 5000 1');
