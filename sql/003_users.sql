-- Viewer users, their API tokens and their login sessions (issue 6).
--
-- Passwords: hashlib.scrypt with a per-user random salt; the parameters used are stored with each
-- hash (pw_params, JSON {"n":..,"r":..,"p":..}) so they can be raised later without breaking old
-- hashes. API tokens and session ids are stored as their SHA-256 only: a copy of the database does
-- not let anyone log in.
CREATE TABLE IF NOT EXISTS users (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    role        TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    pw_hash     BLOB    NOT NULL,
    pw_salt     BLOB    NOT NULL,
    pw_params   TEXT    NOT NULL,
    expression  TEXT    NOT NULL DEFAULT '',     -- Arkime's forced expression, ANDed into every search
    time_limit  INTEGER,                         -- most hours one query may span; NULL = no limit
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  REAL    NOT NULL,
    last_used   REAL
);

CREATE TABLE IF NOT EXISTS api_tokens (
    token_sha256 BLOB    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   REAL    NOT NULL,
    last_used    REAL
);

CREATE TABLE IF NOT EXISTS web_sessions (
    id_sha256   BLOB    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf        TEXT    NOT NULL,
    created_at  REAL    NOT NULL,
    last_seen   REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions (user_id);
CREATE INDEX IF NOT EXISTS api_tokens_user ON api_tokens (user_id);
