-- Sessions, packets and bytes per minute of lastPacket: the viewer's unfiltered totals and
-- histogram read a few thousand of these rows instead of counting millions of sessions.
--
-- minute = lastPacket // 60000 (minutes since the Unix epoch). SessionStore adds each batch's
-- counts in the batch's transaction; the trigger takes deleted sessions back out, whatever
-- deletes them (retention, a user), so the counts always equal the sessions table.

CREATE TABLE session_minutes (
    minute   INTEGER PRIMARY KEY,
    sessions INTEGER NOT NULL,
    packets  INTEGER NOT NULL,
    bytes    INTEGER NOT NULL
);

INSERT INTO session_minutes (minute, sessions, packets, bytes)
SELECT ((id >> 8) + 1577836800000) / 60000 AS m, count(*),
       sum(coalesce(src_packets, 0) + coalesce(dst_packets, 0)),
       sum(coalesce(src_bytes, 0) + coalesce(dst_bytes, 0))
FROM sessions GROUP BY m;

CREATE TRIGGER session_minutes_delete AFTER DELETE ON sessions BEGIN
    UPDATE session_minutes
       SET sessions = sessions - 1,
           packets = packets - coalesce(old.src_packets, 0) - coalesce(old.dst_packets, 0),
           bytes = bytes - coalesce(old.src_bytes, 0) - coalesce(old.dst_bytes, 0)
     WHERE minute = ((old.id >> 8) + 1577836800000) / 60000;
END;
