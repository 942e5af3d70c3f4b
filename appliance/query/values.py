"""Value syntax of Arkime's expressions: addresses and nets, integers and ranges, times, lists."""

from __future__ import annotations

import calendar
import ipaddress
import re
import time
import warnings
from datetime import UTC, datetime
from functools import lru_cache

from appliance.query.parser import QueryError, Token
from appliance.store.layout import V4, V6, V6_LOW, key_of_packed

PROTOCOL_NAMES = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "icmp6": 58,
                  "ipv6-icmp": 58, "ospf": 89, "pim": 103, "sctp": 132}

IpRange = tuple[bytes, bytes]
V4_ALL: IpRange = (V4 + b"\0" * 4, V4 + b"\xff" * 4)
ALL: IpRange = (V6_LOW + b"\0" * 16, V6 + b"\xff" * 16)


@lru_cache(maxsize=256)
def regex(pattern: str) -> re.Pattern[str]:
    """A user's /regex/, compiled once. Python's notices about syntax that may mean something
    else in a later version ("possible nested set") are not the user's error: kept out of the logs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(pattern)


def list_items(token: Token) -> list[tuple[str, bool]]:
    """(text, quoted) of each item of a list token (or of a single value token)."""
    if token.kind == "QUOTED":
        return [(_unquote(token.text), True)]
    if token.kind != "LIST":
        return [(token.text, False)]
    body = token.text[1:-1]
    items = re.findall(r'\s*("(?:\\.|[^"\\])*"|[^,]*)\s*(?:,|$)', body)
    out = [(_unquote(i), True) if i.startswith('"') else (i.strip(), False) for i in items]
    out = [(text, quoted) for text, quoted in out if text or quoted]
    if not out:
        raise QueryError("empty list", token.pos)
    return out


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def ip_range(text: str, pos: int) -> tuple[IpRange, int | None]:
    """(lowest, highest key: ``layout.ip_key``) of an address, CIDR or shorthand net; and a port
    if given."""
    port: int | None = None
    if text in ("ipv4", "ipv6"):
        return (V4_ALL if text == "ipv4" else ALL), None  # ipv6: ALL minus IPv4 (compile.py)
    if text.startswith(":"):  # just a port (ip.src == :80)
        return ALL, _port(text[1:], pos)
    if text.count(":") == 1:  # v4 with a port: 1.2.3.4:80
        text, port_text = text.split(":")
        port = _port(port_text, pos)
    elif ":" in text and "/" not in text and re.search(r"\.\d+$", text) and not _is_v6(text):
        text, port_text = text.rsplit(".", 1)  # v6 with a port: ::1.80
        port = _port(port_text, pos)
    try:
        return _net(text), port
    except ValueError:
        raise QueryError(f"{text!r} is not an address, CIDR or net", pos) from None


def _is_v6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _port(text: str, pos: int) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise QueryError(f"{text!r} is not a port", pos)
    return int(text)


def _net(text: str) -> IpRange:
    if ":" not in text and "/" not in text:
        parts = text.rstrip(".").split(".")
        if 1 <= len(parts) < 4:  # shorthand: 10.1 = 10.1.0.0/16
            text = ".".join(parts + ["0"] * (4 - len(parts))) + f"/{8 * len(parts)}"
    net = ipaddress.ip_network(text, strict=False)
    # Keys keep the order of the 16-byte form, so the net's first and last addresses bound it.
    return key_of_packed(net.network_address.packed), key_of_packed(net.broadcast_address.packed)


def integer_range(text: str, pos: int, protocol_names: bool = False) -> tuple[int, int]:
    """An integer or an inclusive range ``80-90``; ``tcp`` etc. for ip.protocol."""
    if protocol_names and text.lower() in PROTOCOL_NAMES:
        n = PROTOCOL_NAMES[text.lower()]
        return n, n
    match = re.fullmatch(r"(-?\d+)(?:-(-?\d+))?", text)
    if not match:
        if protocol_names:
            raise QueryError(f"Unknown protocol string {text!r}", pos)
        raise QueryError(f"{text!r} is not an integer or a range (80-90)", pos)
    lo = int(match.group(1))
    hi = int(match.group(2)) if match.group(2) is not None else lo
    if abs(lo) >= 1 << 63 or abs(hi) >= 1 << 63:
        raise QueryError(f"{text!r} is out of range", pos)
    return lo, hi


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def time_ms(text: str, pos: int, now: float | None = None) -> int:
    """Milliseconds since the epoch of an absolute, epoch or relative (-1d, -2h@h) time (UTC)."""
    now = time.time() if now is None else now
    match = re.fullmatch(r"([-+]\d+)([smhdwMqy])?(?:@([smhdwMy]))?|@([smhdwMy])", text)
    if match:
        return int(_relative(match, now) * 1000)
    if re.fullmatch(r"\d{9,11}", text):
        return int(text) * 1000
    for fmt in ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d"):
        try:
            return calendar.timegm(time.strptime(text, fmt)) * 1000
        except ValueError:
            pass
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{text!r} is not a time (YYYY/MM/DD HH:mm:ss, ISO 8601, epoch or -1d)",
                         pos) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1000)


def _relative(match: re.Match[str], now: float) -> float:
    if match.group(4):
        return _snap(now, match.group(4))
    amount, unit, snap = int(match.group(1)), match.group(2) or "s", match.group(3)
    if unit in _UNITS:
        value = now + amount * _UNITS[unit]
    else:
        value = _add_months(now, amount * {"M": 1, "q": 3, "y": 12}[unit])
    return _snap(value, snap) if snap else value


def _add_months(now: float, months: int) -> float:
    t = datetime.fromtimestamp(now, UTC)
    index = t.year * 12 + t.month - 1 + months
    year, month = divmod(index, 12)
    day = min(t.day, calendar.monthrange(year, month + 1)[1])
    return t.replace(year=year, month=month + 1, day=day).timestamp()


def _snap(now: float, unit: str) -> float:
    t = datetime.fromtimestamp(now, UTC)
    if unit in "smhd":
        size = _UNITS[unit]
        return now - now % size
    if unit == "w":
        day = now - now % 86400
        return day - t.weekday() * 86400
    if unit == "M":
        return t.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    return t.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
