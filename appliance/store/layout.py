"""Where each registry field lives in the store: a column, a derived value, postings or the doc blob.

Shared by the writer (``sessions.py``) and the query compiler (``appliance/query``) so that both
agree; every field not named here is placed by a rule on its registry entry (``storage_of``).
The SQL expressions in this module are constants: no user text ever reaches them.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Final

from appliance import documents
from appliance.fields import Field

EPOCH_MS: Final = 1_577_836_800_000  # 2020-01-01T00:00:00Z: keeps ids of 2003..2036 in 6-byte integers
SEQ_BITS: Final = 8  # sessions per millisecond of lastPacket before the id spills into the next ms

# Scalar core fields kept as typed columns: path -> column.
COLUMNS: Final[dict[str, str]] = {
    "segmentCnt": "segments",
    "ipProtocol": "proto",
    "ethertype": "ethertype",
    "source.ip": "src_ip",
    "destination.ip": "dst_ip",
    "source.port": "src_port",
    "destination.port": "dst_port",
    "source.packets": "src_packets",
    "destination.packets": "dst_packets",
    "source.bytes": "src_bytes",
    "destination.bytes": "dst_bytes",
    "client.bytes": "src_databytes",
    "server.bytes": "dst_databytes",
    "initRTT": "init_rtt",
    "tcpflags.syn": "tcp_syn",
    "tcpflags.syn-ack": "tcp_synack",
    "tcpflags.ack": "tcp_ack",
    "tcpflags.psh": "tcp_psh",
    "tcpflags.fin": "tcp_fin",
    "tcpflags.rst": "tcp_rst",
    "tcpflags.urg": "tcp_urg",
    "tcpflags.srcZero": "tcp_srczero",
    "tcpflags.dstZero": "tcp_dstzero",
}
IP_COLUMNS: Final = ("src_ip", "dst_ip")

# Fields computed from columns on read (and checked on write: a document that disagrees keeps
# its own value in the blob). path -> SQL expression over the sessions row `s`.
LAST_SQL: Final = f"((s.id >> {SEQ_BITS}) + {EPOCH_MS})"
DERIVED: Final[dict[str, str]] = {
    "lastPacket": LAST_SQL,
    "firstPacket": f"({LAST_SQL} - s.length)",
    "length": "s.length",
    "network.packets": "(s.src_packets + s.dst_packets)",
    "network.bytes": "(s.src_bytes + s.dst_bytes)",
    "totDataBytes": "(s.src_databytes + s.dst_databytes)",
}
# Per-minute maxima kept in session_minutes (sql/007): path -> (column there, the session
# columns whose sum it is). `field > N` and `field >= N` read only minutes whose maximum allows it.
MINUTE_MAXIMA: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "network.bytes": ("max_bytes", ("src_bytes", "dst_bytes")),
    "network.packets": ("max_packets", ("src_packets", "dst_packets")),
    "totDataBytes": ("max_databytes", ("src_databytes", "dst_databytes")),
    "source.bytes": ("max_src_bytes", ("src_bytes",)),
    "destination.bytes": ("max_dst_bytes", ("dst_bytes",)),
    "source.packets": ("max_src_packets", ("src_packets",)),
    "destination.packets": ("max_dst_packets", ("dst_packets",)),
    "client.bytes": ("max_src_databytes", ("src_databytes",)),
    "server.bytes": ("max_dst_databytes", ("dst_databytes",)),
    "length": ("max_length", ("length",)),
}
COMMUNITY_ID: Final = "network.community_id"
NODE: Final = "node"  # stored as a term id in sessions.node (one node name, many sessions)

# Kept in the blob only: per-packet lists, and values unique to a session that would cost more
# as terms than they are worth searching quickly (still searchable, by decoding the blob).
DOC_ONLY: Final = frozenset({
    "packetPos", "packetLen", "srcTTL", "dstTTL", "srcDscp", "dstDscp",
    "srcPayload8", "dstPayload8", "tls.srcSessionId", "tls.dstSessionId", "http.requestBody",
})

# Lists derived from another blob field, searched through a blob function (fk_files, query/search.py):
# fileId is the files that packetPos's -file markers name, in order (documents.packet_positions).
# The blob keeps a document's own list only where it says otherwise (~6 bytes a session saved).
DERIVED_LISTS: Final[dict[str, str]] = {"fileId": "packetPos"}

# Blob lists stored as differences between neighbours (blob.py): offsets that grow within a file.
DELTA_ENCODED: Final = frozenset({"packetPos"})

TEXT_TYPES: Final = ("termfield", "lotermfield", "uptermfield", "textfield")


@dataclass(frozen=True)
class Storage:
    """How a field is stored: kind is column, derived, derived_list, cid, node, postings, doc or object."""

    kind: str
    column: str = ""
    object_root: str = ""  # for sub-paths of object fields (dns.host inside dns[])


def storage_of(field: Field, objects: tuple[str, ...]) -> Storage:
    """The storage of one registry field; ``objects`` are the paths of object-type fields."""
    path = field.path
    if path in COLUMNS:
        return Storage("column", COLUMNS[path])
    if path in DERIVED:
        return Storage("derived", DERIVED[path])
    if path == "packetRange":  # {gte: firstPacket, lte: lastPacket}, rebuilt on read
        return Storage("derived")
    if path in DERIVED_LISTS:
        return Storage("derived_list")
    if path == COMMUNITY_ID:
        return Storage("cid", "s.cid")
    if path == NODE:
        return Storage("node", "s.node")
    if field.type == "object":
        return Storage("object")
    root = next((o for o in objects if path.startswith(o + ".")), "")
    if root:
        return Storage("postings", object_root=root)
    if path in DOC_ONLY or (field.type == "integer" and not field.multi):
        return Storage("doc")
    return Storage("postings")


# Addresses are keyed by a class byte and the address: 5 bytes for IPv4 (class 4), 17 for IPv6.
# Keys sort as Elasticsearch sorts its ip type (IPv4 as ::ffff:a.b.c.d among the IPv6 addresses):
# the few IPv6 addresses below ::ffff:0:0 (::, ::1) take class 0 and the rest class 6. So a CIDR,
# IPv4 or IPv6, is still one BETWEEN on the index, and an IPv4 address costs 5 bytes in the row
# and in each index instead of 16.
V4: Final = b"\x04"
V6_LOW: Final = b"\x00"
V6: Final = b"\x06"
V4_MAPPED: Final = b"\0" * 10 + b"\xff\xff"  # ::ffff:a.b.c.d is the IPv4 address a.b.c.d


def ip_key(text: str) -> bytes:
    """Sortable key of an address (ValueError if not one); IPv4-mapped IPv6 keys as IPv4."""
    # socket's parsers are ~10x faster than ipaddress's, and this runs per session on insert.
    # Only IPv6 has a colon: trying IPv4 first on every address cost an exception per IPv6 one.
    if ":" not in text:
        try:
            return V4 + socket.inet_pton(socket.AF_INET, text)
        except (OSError, TypeError):
            raise ValueError(f"{text!r} is not an address") from None
    try:
        raw = socket.inet_pton(socket.AF_INET6, text)
    except (OSError, TypeError):
        raise ValueError(f"{text!r} is not an address") from None
    return key_of_packed(raw)


def key_of_packed(raw: bytes) -> bytes:
    """The key of a packed address: 4 bytes (IPv4) or 16 (IPv6); keeps the order of the 16-byte form."""
    if len(raw) == 4:
        return V4 + raw
    if raw[:12] == V4_MAPPED:
        return V4 + raw[12:]
    return (V6_LOW if raw[:12] < V4_MAPPED else V6) + raw


def packed(key: bytes) -> bytes:
    """The address bytes of a key: 4 for IPv4, 16 for IPv6 (as the community id hashes them)."""
    return key[1:]


def is_ip_key(value: object) -> bool:
    if not isinstance(value, bytes):
        return False
    return (len(value) == 5 and value[:1] == V4) or (len(value) == 17 and value[:1] in (V6, V6_LOW))


def ip_text(key: bytes) -> str:
    """Back from ``ip_key`` (IPv4 as a.b.c.d, as Arkime prints it)."""
    return documents.ip_text(key[1:])


def session_id(last_ms: int, seq: int) -> int:
    return ((last_ms - EPOCH_MS) << SEQ_BITS) | seq


def id_range(start_ms: int | None, stop_ms: int | None) -> tuple[int | None, int | None]:
    """Session id bounds for lastPacket within [start_ms, stop_ms] (either may be open)."""
    lo = None if start_ms is None else (start_ms - EPOCH_MS) << SEQ_BITS
    hi = None if stop_ms is None else ((stop_ms - EPOCH_MS + 1) << SEQ_BITS) - 1
    return lo, hi


def closed_id_range(start_ms: int | None, stop_ms: int | None) -> tuple[int, int]:
    """``id_range`` with open ends replaced by the smallest and largest ids, for BETWEEN."""
    lo, hi = id_range(start_ms, stop_ms)
    return (-(1 << 63) if lo is None else lo), ((1 << 63) - 1 if hi is None else hi)


def last_packet(sid: int) -> int:
    return (sid >> SEQ_BITS) + EPOCH_MS
