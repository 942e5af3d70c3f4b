"""MAC vendors from the IEEE OUI registry file that the OS ships (no copy in this package).

Debian's ``ieee-data`` installs /usr/share/ieee-data/oui.txt, EL's ``hwdata``
/usr/share/hwdata/oui.txt; the ``ouiFile`` setting names another. Only the "(hex)" lines are
read (``00-00-0C   (hex)\t\tCisco Systems, Inc``), which both files have. The table (about
35,000 entries) is loaded once per file and kept while the file is unchanged.
"""

from __future__ import annotations

import os
import threading

SYSTEM_FILES = ("/usr/share/ieee-data/oui.txt", "/usr/share/hwdata/oui.txt")
LOCAL = "(locally administered)"  # random/private MACs (phones' per-network addresses) have no vendor

_lock = threading.Lock()
_loaded: dict[str, tuple[float, dict[str, str]]] = {}


def find_file(setting: str | None = None) -> str | None:
    """The OUI file to use: the setting when given, else the first system file that exists."""
    if setting:
        return setting if os.path.exists(setting) else None
    return next((p for p in SYSTEM_FILES if os.path.exists(p)), None)


def load(path: str) -> dict[str, str]:
    """{"00000c": "Cisco Systems, Inc", ...} from one file (cached by modification time)."""
    mtime = os.stat(path).st_mtime
    with _lock:
        cached = _loaded.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
    table = parse(path)
    with _lock:
        _loaded[path] = (mtime, table)
    return table


def parse(path: str) -> dict[str, str]:
    table: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if "(hex)" not in line:
                continue
            prefix, _, name = line.partition("(hex)")
            key = prefix.strip().replace("-", "").lower()
            if len(key) == 6:
                table[key] = name.strip()
    return table


class Vendors:
    """Vendor lookups for one OUI file (or none: every answer is then None, except LOCAL)."""

    def __init__(self, setting: str | None = None) -> None:
        self.path = find_file(setting)
        self.table = load(self.path) if self.path else {}

    def vendor(self, mac: str) -> str | None:
        key = mac.replace(":", "").replace("-", "").lower()[:6]
        if len(key) < 6:
            return None
        found = self.table.get(key)
        if found is None and int(key[:2], 16) & 2:
            return LOCAL
        return found
