-- The PCAP store's file registry and the record of imported captures (issue 4).
--
-- pcap_files: one row per file in pcapDir. A packet's position is num << 40 | byte offset, so
-- num must never be reused: rows are kept (state 'deleted') after the file is removed.
-- Times are microseconds since the epoch (packet time); sizes are bytes.
CREATE TABLE IF NOT EXISTS pcap_files (
    num           INTEGER PRIMARY KEY,          -- file number, the fileId in Arkime's packetPos
    name          TEXT    NOT NULL UNIQUE,      -- file name inside pcapDir (the published name)
    node          TEXT    NOT NULL,
    first_us      INTEGER,                      -- first and last packet time in the file
    last_us       INTEGER,
    size          INTEGER NOT NULL DEFAULT 0,   -- bytes, pcap header included
    packets       INTEGER NOT NULL DEFAULT 0,
    linktype      INTEGER NOT NULL DEFAULT 1,
    snaplen       INTEGER NOT NULL,
    state         TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'deleted')),
    opened_at     REAL    NOT NULL,             -- wall clock, seconds
    closed_at     REAL,
    deleted_at    REAL,
    note          TEXT                          -- why it was closed/deleted when not the usual reason
);
CREATE INDEX IF NOT EXISTS pcap_files_state ON pcap_files (state, num);
CREATE INDEX IF NOT EXISTS pcap_files_time ON pcap_files (first_us);

-- imported_files: each capture given to `fukurou import` or dropped in pcapImportDir, so that a
-- file is imported exactly once across restarts. A file is "the same" when path, size, mtime
-- and the SHA-256 of its first MiB all match.
CREATE TABLE IF NOT EXISTS imported_files (
    id            INTEGER PRIMARY KEY,
    path          TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    mtime_ns      INTEGER NOT NULL,
    head_sha256   TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('started', 'done', 'failed')),
    started_at    REAL    NOT NULL,
    finished_at   REAL,
    packets       INTEGER NOT NULL DEFAULT 0,
    sessions      INTEGER NOT NULL DEFAULT 0,
    first_file    INTEGER,                      -- pcap_files.num range the packets went to
    last_file     INTEGER,
    message       TEXT,
    UNIQUE (path, size, mtime_ns, head_sha256)
);
