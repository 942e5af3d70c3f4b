-- The time-led indexes of sql/012 lead with a narrower bucket: id >> 28, about 17.5 minutes of
-- lastPacket instead of 4.7 hours. An import puts hours of traffic into the store at once, and
-- a bucket of 4.7 hours held all of it: each new entry went to a random place among all the
-- import's entries, so each batch of sessions dirtied (and wrote to the WAL) most pages of the
-- three indexes. In a bucket of 17.5 minutes a batch's entries land among a few hundred pages.
-- The 400 MB session-heavy benchmark capture (4 hours) imported 11 % faster.
--
-- A search without a time bound seeks every bucket (skip-scan): about 2,500 a month instead of
-- 160, a few milliseconds. The fixed statistics say so: rows per bucket 300 instead of 5,000.

DROP INDEX sessions_dst_ip;
DROP INDEX sessions_src_port;
DROP INDEX sessions_cid;
CREATE INDEX sessions_dst_ip ON sessions (id >> 28, dst_ip);
CREATE INDEX sessions_src_port ON sessions (id >> 28, src_port);
CREATE INDEX sessions_cid ON sessions (id >> 28, cid >> 32);

DELETE FROM sqlite_stat1 WHERE idx IN ('sessions_dst_ip', 'sessions_src_port', 'sessions_cid');
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('sessions', 'sessions_dst_ip', '1000000 300 10'),
    ('sessions', 'sessions_src_port', '1000000 300 10'),
    ('sessions', 'sessions_cid', '1000000 300 1');
