-- Sessions: Arkime's session documents, small enough for a home router's disk.
--
-- Layout (see appliance/store/sessions.py for the code that fills it):
--   sessions   one row per session; typed columns for the scalar core fields, the rest of the
--              document in `doc` (a compact binary blob, appliance/store/blob.py).
--   fields     field id <-> registry path; filled at open from appliance.fields, so fields that
--              new parsers register simply get the next id.
--   terms      distinct values of the searchable multi-valued / protocol fields, one row per
--              (field, value); `sessions` counts the sessions holding it (all-time top-N).
--   postings   (term, session) pairs: the "values table", normalised so that a long value
--              (a host, a JA3 string) is stored once, not once per session.
--   terms_fts  trigram FTS5 index over the text terms: *wildcard* searches touch only the
--              matching distinct values.
--
-- The session id is time-ordered: (lastPacket - 2020-01-01 in ms) << 8 | sequence. Time bounds
-- (Arkime bounds on lastPacket) are therefore rowid ranges, on sessions and on postings, and
-- no lastPacket column or index is needed. Ids within 2003..2036 fit SQLite's 6-byte integers.

CREATE TABLE fields (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,  -- Arkime document path (source.ip, http.host, dns.host)
    expr TEXT NOT NULL,         -- Arkime expression name (ip.src, host.http, host.dns)
    type TEXT NOT NULL          -- registry type (ip, integer, termfield, ...)
);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,     -- time-ordered, see above
    length INTEGER NOT NULL,    -- lastPacket - firstPacket, ms
    node INTEGER,               -- term id of the node name
    segments INTEGER,           -- segmentCnt
    proto INTEGER,              -- ipProtocol
    ethertype INTEGER,
    src_ip BLOB,                -- address key (appliance/store/layout.py, ip_key; see sql/009)
    dst_ip BLOB,
    src_port INTEGER,
    dst_port INTEGER,
    src_packets INTEGER,
    dst_packets INTEGER,
    src_bytes INTEGER,
    dst_bytes INTEGER,
    src_databytes INTEGER,      -- client.bytes
    dst_databytes INTEGER,      -- server.bytes
    cid INTEGER,                -- community id: first 8 bytes of the SHA-1, signed
    init_rtt INTEGER,
    -- TCP flag counters: small integers cost 0-1 byte each as columns, less than in JSON.
    tcp_syn INTEGER, tcp_synack INTEGER, tcp_ack INTEGER, tcp_psh INTEGER, tcp_fin INTEGER,
    tcp_rst INTEGER, tcp_urg INTEGER, tcp_srczero INTEGER, tcp_dstzero INTEGER,
    doc BLOB                    -- the rest of the document, see appliance/store/blob.py
);

CREATE INDEX sessions_src_ip ON sessions (src_ip);
CREATE INDEX sessions_dst_ip ON sessions (dst_ip);
CREATE INDEX sessions_src_port ON sessions (src_port);
CREATE INDEX sessions_dst_port ON sessions (dst_port);
CREATE INDEX sessions_cid ON sessions (cid);

CREATE TABLE terms (
    id INTEGER PRIMARY KEY,
    field_id INTEGER NOT NULL,
    value NOT NULL,             -- no type, so no affinity: TEXT, INTEGER or a 16-byte ip BLOB
    sessions INTEGER NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX terms_field_value ON terms (field_id, value);

CREATE TABLE postings (
    term_id INTEGER NOT NULL,
    session_id INTEGER NOT NULL,
    PRIMARY KEY (term_id, session_id)
) WITHOUT ROWID;

-- External content (the text lives in `terms` only); kept in step by SessionStore, not by
-- triggers, because only text terms belong here and terms are only ever added or deleted.
CREATE VIRTUAL TABLE terms_fts USING fts5 (
    value, content = 'terms', content_rowid = 'id', tokenize = 'trigram', detail = 'none'
);
