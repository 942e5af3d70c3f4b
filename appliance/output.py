"""Session output for the command line: a readable table, Arkime's ``sessions3`` JSON, or JSON lines."""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

from appliance.documents import flat_document
from appliance.fields import BY_PATH, nest
from appliance.sessions import Session

# The table's columns, by document path: headings come from the field registry.
TABLE_COLUMNS = ("firstPacket", "protocol", "source.ip", "source.port", "destination.ip",
                 "destination.port", "network.packets", "network.bytes", "totDataBytes")
# What the "info" column shows: the first of these the session has (as Arkime's info column).
INFO_FIELDS = ("http.host", "dns", "email.subject", "ssh.version", "dhcp.host", "arp.ip", "quic.host")


class SessionWriter:
    """Writes sessions as they are saved, so a big capture never sits in memory."""

    def __init__(self, fmt: str, out: TextIO, node: str = "fukurou") -> None:
        self.fmt, self.out, self.node = fmt, out, node
        self.count = 0
        if fmt == "arkime":
            out.write('{"sessions3":[\n')
        elif fmt == "table":
            out.write(self._row([BY_PATH[c].expr for c in TABLE_COLUMNS] + ["info"]) + "\n")

    def write(self, session: Session) -> None:
        if self.fmt == "summary":
            return
        flat = flat_document(session, self.node)
        if self.fmt == "table":
            cells = [_cell(c, flat.get(c)) for c in TABLE_COLUMNS] + [_info(flat)]
            self.out.write(self._row(cells).rstrip() + "\n")
        else:
            doc = nest(flat)
            if self.fmt == "arkime":
                _as_arkime_writes(doc)
            text = json.dumps(doc, separators=(",", ":"))
            if self.fmt == "arkime":
                text = ("," if self.count else "") + '{"body":' + text + "}"
            self.out.write(text + "\n")
        self.count += 1

    def close(self) -> None:
        if self.fmt == "arkime":
            self.out.write("]}\n")
        self.out.flush()

    @staticmethod
    def _row(cells: list[str]) -> str:
        widths = (23, 14, 39, 8, 39, 8, 8, 10, 10, 0)
        return " ".join(c.rjust(w) if i in (3, 5, 6, 7, 8) else c.ljust(w)
                        for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


# Arkime writes a TTL list with more than one value as strings (["63", "64"]) and a single TTL as a
# number ([64]); the sessions3 export copies that, so its documents read like Arkime's own.
_TTL_FIELDS = ("srcTTL", "dstTTL")


def _as_arkime_writes(doc: dict[str, Any]) -> None:
    for name in _TTL_FIELDS:
        values = doc.get(name)
        if isinstance(values, list) and len(values) > 1:
            doc[name] = sorted(str(v) for v in values)


def _info(flat: dict[str, Any]) -> str:
    for name in INFO_FIELDS:
        value = flat.get(name)
        if value:
            if name == "dns":
                value = sorted({q.get("queryHost", "") for q in value if q.get("queryHost")})
            return ",".join(str(v) for v in value)[:60] if isinstance(value, list) else str(value)[:60]
    return ""


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if column == "firstPacket":
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value / 1000)) + f".{value % 1000:03d}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
