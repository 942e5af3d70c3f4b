"""DHCP (UDP 67/68) and DHCPv6 (UDP 546/547): message types, transaction ids, client MAC, host
name, requested address and vendor class, as Arkime's dhcp parser writes them.

The session table keys DHCPv4 on the client's MAC so that a whole DISCOVER..ACK exchange is one
session, as in Arkime.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any, Final

from appliance import fields
from appliance.protocols import UDP, Parser, Protocol, register

TYPES_V4: Final = ("", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM",
                   "FORCERENEW", "LEASEQUERY", "LEASEUNASSIGNED", "LEASEUNKNOWN", "LEASEACTIVE",
                   "BULKLEASEQUERY", "LEASEQUERYDONE", "ACTIVELEASEQUERY", "LEASEQUERYSTATUS", "TLS")
TYPES_V6: Final = ("", "SOLICIT", "ADVERTISE", "REQUEST", "CONFIRM", "RENEW", "REBIND", "REPLY", "RELEASE",
                   "DECLINE", "RECONFIGURE", "INFORMATION_REQUEST", "RELAY_FORW", "RELAY_REPL",
                   "LEASEQUERY", "LEASEQUERY_REPLY", "LEASEQUERY_DONE", "LEASEQUERY_DATA",
                   "LEASEQUERY_NO_DATA", "LEASEQUERY_STATUS", "LEASEQUERY_RECONF", "LEASEQUERY_RECONF_REPLY")
MAGIC: Final = b"\x63\x82\x53\x63"
MIN_V4: Final = 256  # Arkime ignores shorter BOOTP messages
OPTIONS_V4: Final = 240  # fixed BOOTP header (236) + magic cookie
RELAY_V6: Final = (12, 13)  # relay messages carry link/peer addresses instead of a transaction id
_U16: Final = struct.Struct(">HH").unpack_from

fields.register(
    fields.field("dhcp.type", "dhcp.type", "uptermfield", "dhcp", "DHCP message types", multi=True),
    fields.field("dhcp.host", "dhcp.host", "lotermfield", "dhcp", "DHCP client host names", multi=True),
    fields.field("dhcp.mac", "dhcp.mac", "lotermfield", "dhcp", "DHCP client MAC addresses", multi=True),
    fields.field("dhcp.id", "dhcp.id", "lotermfield", "dhcp", "DHCP transaction ids (hex)", multi=True),
    fields.field("dhcp.classId", "dhcp.classId", "termfield", "dhcp", "DHCP vendor class identifiers",
                 multi=True),
    fields.field("dhcp.requestIp", "dhcp.requestIp", "ip", "dhcp", "DHCP requested IP addresses",
                 multi=True),
)


def detect_v4(session: Any, data: bytes, direction: int) -> bool:
    """A BOOTP request or reply for Ethernet with the DHCP magic cookie."""
    return (len(data) >= MIN_V4 and data[0] in (1, 2) and data[1] == 1 and data[2] == 6
            and data[236:240] == MAGIC)


def detect_v6(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 4 and 0 < data[0] < len(TYPES_V6)


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


class DHCPParser(Parser):
    name = "dhcp"

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}

    def _add(self, path: str, value: str) -> None:
        values = self.values.setdefault(path, [])
        if value not in values and len(values) < 1000:
            values.append(value)

    def data(self, session: Any, data: bytes, direction: int) -> None:
        if len(data) < MIN_V4:
            return
        if data[1] == 1:
            self._add("dhcp.mac", _mac(data[28:34]))
        self._add("dhcp.id", f"{int.from_bytes(data[4:8], 'big'):x}")
        self._options(data, OPTIONS_V4)

    def _options(self, data: bytes, pos: int) -> None:
        end = len(data)
        while end - pos >= 2:
            code = data[pos]
            pos += 1
            if code == 255:
                break
            if code == 0:
                continue
            size = data[pos]
            pos += 1
            if size == 0 or size > end - pos:
                break
            self._option(code, data[pos:pos + size])
            pos += size

    def _option(self, code: int, value: bytes) -> None:
        if code == 12:
            self._add("dhcp.host", _text(value).lower())
        elif code == 53 and len(value) == 1 and 0 < value[0] < len(TYPES_V4):
            self._add("dhcp.type", TYPES_V4[value[0]])
        elif code == 60:
            self._add("dhcp.classId", _text(value))
        elif code == 50 and len(value) == 4:
            self._add("dhcp.requestIp", str(ipaddress.IPv4Address(value)))
        elif code == 61 and len(value) == 7 and value[0] == 1:
            self._add("dhcp.mac", _mac(value[1:7]))
        elif code == 81 and len(value) > 3 and value[0] == 0:
            # Client FQDN: flags, two RCODEs, then the name; only the ASCII form is understood.
            self._add("dhcp.host", _text(value[3:]).lower())

    def finish(self, session: Any) -> None:
        for path, values in self.values.items():
            if values:
                session.fields[path] = list(values)


class DHCPv6Parser(DHCPParser):
    name = "dhcpv6"

    def data(self, session: Any, data: bytes, direction: int) -> None:
        if not detect_v6(session, data, direction):
            return
        kind = data[0]
        self._add("dhcp.type", TYPES_V6[kind])
        if kind in RELAY_V6:
            if len(data) < 34:
                return
            pos = 34
        else:
            self._add("dhcp.id", f"{int.from_bytes(data[1:4], 'big'):x}")
            pos = 4
        while len(data) - pos >= 4:
            code, size = _U16(data, pos)
            pos += 4
            if size > len(data) - pos:
                break
            if code == 16 and size:  # vendor class, stored raw as Arkime does
                self._add("dhcp.classId", _text(data[pos:pos + size]))
            pos += size


register(Protocol("dhcp", UDP, detect_v4, parser=DHCPParser, ports=(67, 68)))
register(Protocol("dhcpv6", UDP, detect_v6, parser=DHCPv6Parser, ports=(546, 547)))
