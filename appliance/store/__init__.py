"""The session store: one SQLite file (apsw) with numbered migrations from ``sql/``."""
