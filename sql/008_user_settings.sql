-- Each viewer user's own settings (the Sessions table's columns, ...), as one JSON object: they
-- follow the user from browser to browser, as Arkime's user settings do. Keys and value types are
-- checked by appliance/web/user_settings.py before anything is written.

ALTER TABLE users ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
