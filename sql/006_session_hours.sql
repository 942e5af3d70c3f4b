-- Sessions, packets and bytes per hour of lastPacket, beside the per-minute totals (005): an
-- all-time total or a month's histogram sums ~700 hour rows instead of ~43,000 minute rows.
-- hour = lastPacket // 3600000. Kept like session_minutes: SessionStore adds each batch, the
-- trigger takes deleted sessions out.

CREATE TABLE session_hours (
    hour     INTEGER PRIMARY KEY,
    sessions INTEGER NOT NULL,
    packets  INTEGER NOT NULL,
    bytes    INTEGER NOT NULL
);

INSERT INTO session_hours (hour, sessions, packets, bytes)
SELECT minute / 60 AS h, sum(sessions), sum(packets), sum(bytes) FROM session_minutes GROUP BY h;

DROP TRIGGER session_minutes_delete;

CREATE TRIGGER session_totals_delete AFTER DELETE ON sessions BEGIN
    UPDATE session_minutes
       SET sessions = sessions - 1,
           packets = packets - coalesce(old.src_packets, 0) - coalesce(old.dst_packets, 0),
           bytes = bytes - coalesce(old.src_bytes, 0) - coalesce(old.dst_bytes, 0)
     WHERE minute = ((old.id >> 8) + 1577836800000) / 60000;
    UPDATE session_hours
       SET sessions = sessions - 1,
           packets = packets - coalesce(old.src_packets, 0) - coalesce(old.dst_packets, 0),
           bytes = bytes - coalesce(old.src_bytes, 0) - coalesce(old.dst_bytes, 0)
     WHERE hour = ((old.id >> 8) + 1577836800000) / 3600000;
END;
