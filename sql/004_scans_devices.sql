-- Aggregates for the scan finder and the device inventory (issue 9), kept by
-- appliance/insights/aggregates.py inside the session store's batch transactions.
--
-- Days are UTC days since the epoch (lastPacket // 86400000); times are ms since the epoch.
-- The pages read these few rows per (source, day) / device instead of weeks of sessions.

-- One row per source address and day: what the source started.
CREATE TABLE IF NOT EXISTS scan_days (
    src        TEXT    NOT NULL,        -- source.ip as Arkime prints it
    day        INTEGER NOT NULL,
    sessions   INTEGER NOT NULL,
    probes     INTEGER NOT NULL,        -- one-packet or SYN-only (no SYN-ACK) sessions
    answered   INTEGER NOT NULL,        -- replies, and data both ways or >= 3 packets
    first_ms   INTEGER NOT NULL,        -- first session start, last session end
    last_ms    INTEGER NOT NULL,
    gap_n      INTEGER NOT NULL DEFAULT 0,  -- gaps (s) between consecutive session starts
    gap_sum    REAL    NOT NULL DEFAULT 0,
    gap_sumsq  REAL    NOT NULL DEFAULT 0,
    ports_n    INTEGER NOT NULL,        -- distinct destination ports / hosts this day (estimates)
    hosts_n    INTEGER NOT NULL,
    ports      BLOB    NOT NULL,        -- distinct-value sketches (appliance/insights/sketch.py)
    hosts      BLOB    NOT NULL,
    PRIMARY KEY (src, day)
) WITHOUT ROWID;
-- The ranking reads every source's totals over the window: this covering index lets it skip
-- the sketches (most of the table's bytes); it is ordered by src, so GROUP BY needs no sort.
CREATE INDEX IF NOT EXISTS scan_days_totals ON scan_days (src, day, sessions, probes, answered, first_ms,
    last_ms, gap_n, gap_sum, gap_sumsq, ports_n, hosts_n);

-- The last session start of each source, so gaps continue across batches and days.
CREATE TABLE IF NOT EXISTS scan_last (
    src        TEXT    PRIMARY KEY,
    start_ms   INTEGER NOT NULL
) WITHOUT ROWID;

-- Devices by MAC address (unicast only).
CREATE TABLE IF NOT EXISTS devices (
    mac        TEXT    PRIMARY KEY,
    first_ms   INTEGER NOT NULL,
    last_ms    INTEGER NOT NULL,
    dhcp_host  TEXT,                    -- latest DHCP host name and vendor class id
    dhcp_class TEXT
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS device_ips (
    mac        TEXT    NOT NULL,
    ip         TEXT    NOT NULL,
    first_ms   INTEGER NOT NULL,
    last_ms    INTEGER NOT NULL,
    PRIMARY KEY (mac, ip)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS device_days (
    mac        TEXT    NOT NULL,
    day        INTEGER NOT NULL,
    sessions   INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    PRIMARY KEY (mac, day)
) WITHOUT ROWID;

-- Destinations by name (http.host, which holds TLS SNI too; DNS query names; QUIC hosts).
CREATE TABLE IF NOT EXISTS device_hosts (
    mac        TEXT    NOT NULL,
    host       TEXT    NOT NULL,
    sessions   INTEGER NOT NULL,
    last_ms    INTEGER NOT NULL,
    PRIMARY KEY (mac, host)
) WITHOUT ROWID;
