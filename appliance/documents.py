"""Session documents in Arkime's shape (``sessions3`` bodies), built from a finished session."""

from __future__ import annotations

import socket
import sys
from collections.abc import Sequence
from typing import Any, Final

from appliance.community_id import community_id
from appliance.fields import nest
from appliance.sessions import FLAG_NAMES, Q_TCP, Session

# Document keys made by joining strings are interned once here, like the registry's paths (see
# fields.Field): the store looks every key up in a dict keyed by those.
FLAG_PATHS: Final = tuple(sys.intern("tcpflags." + name) for name in FLAG_NAMES)
# Each as a Final literal: compiled, a constant, where names unpacked from FLAG_PATHS would be
# looked up in the module's dict at every use.
_SYN: Final = "tcpflags.syn"
_SYN_ACK: Final = "tcpflags.syn-ack"
_ACK: Final = "tcpflags.ack"
_PSH: Final = "tcpflags.psh"
_FIN: Final = "tcpflags.fin"
_RST: Final = "tcpflags.rst"
_URG: Final = "tcpflags.urg"
_SRC_ZERO: Final = "tcpflags.srcZero"
_DST_ZERO: Final = "tcpflags.dstZero"
assert FLAG_PATHS == (_SYN, _SYN_ACK, _ACK, _PSH, _FIN, _RST, _URG, _SRC_ZERO, _DST_ZERO)


# The decimal text of each byte value. glibc's inet_ntop writes a dotted quad with sprintf (~3,800
# instructions, and every session has two addresses); from this table it is one string build.
_OCTETS: Final = tuple(str(byte) for byte in range(256))


def ip_text(addr: bytes) -> str:
    """An address as Arkime prints it (dotted quad, or compressed IPv6 as inet_ntop writes it)."""
    if len(addr) == 4:
        return f"{_OCTETS[addr[0]]}.{_OCTETS[addr[1]]}.{_OCTETS[addr[2]]}.{_OCTETS[addr[3]]}"
    return socket.inet_ntop(socket.AF_INET6, addr)


def mac_text(mac: bytes) -> str:
    return mac.hex(":")


def flat_document(session: Session, node: str = "fukurou") -> dict[str, Any]:
    """Every field of the session as ``{document path: value}``."""
    s = session
    first_ms, last_ms = s.first // 1000, s.last // 1000
    doc: dict[str, Any] = {
        "node": node,
        "firstPacket": first_ms,
        "lastPacket": last_ms,
        "length": last_ms - first_ms,
        "packetRange": {"gte": first_ms, "lte": last_ms},
        "ipProtocol": s.proto,
        "segmentCnt": s.segments,
        "protocol": sorted(s.protocols),
        "source.packets": s.src_packets,
        "destination.packets": s.dst_packets,
        "source.bytes": s.src_bytes,
        "destination.bytes": s.dst_bytes,
        "network.packets": s.src_packets + s.dst_packets,
        "network.bytes": s.src_bytes + s.dst_bytes,
        "client.bytes": s.src_data,
        "server.bytes": s.dst_data,
        "totDataBytes": s.src_data + s.dst_data,
    }
    if s.ethertype:
        doc["ethertype"] = s.ethertype
    if s.ipver:
        _addresses(s, doc)
    # Each side by a constant index: compiled, a loop's variable index would build each pair
    # as a Python tuple first (see sessions._side).
    macs, ttls, payload8 = s.macs, s.ttls, s.payload8
    if macs[0]:
        doc["source.mac"] = sorted(mac_text(m) for m in macs[0])
    if macs[1]:
        doc["destination.mac"] = sorted(mac_text(m) for m in macs[1])
    if ttls[0]:
        doc["srcTTL"] = list(ttls[0])
    if ttls[1]:
        doc["dstTTL"] = list(ttls[1])
    if payload8[0]:
        doc["srcPayload8"] = payload8[0].hex()
    if payload8[1]:
        doc["dstPayload8"] = payload8[1].hex()
    if s.vlans:
        doc["network.vlan.id"] = list(s.vlans)

    if s.queue == Q_TCP:  # what ``s.flags`` asks, without building the list it returns
        _tcp(s, doc)
    if s.icmp is not None and s.icmp[0]:
        doc["icmp.type"], doc["icmp.code"] = sorted(s.icmp[0]), sorted(s.icmp[1])
    if s.outer:
        _outer(s, doc)
    if s.tags:
        doc["tags"] = sorted(s.tags)
    doc["fileId"], doc["packetPos"] = packet_positions(s.positions)
    if s.segments > 1:
        doc["rootId"] = "SET"
    doc.update(s.fields)
    return doc


FILE_SHIFT: Final = 40  # a stored packet's position is file_number << 40 | byte offset in that file


def packet_positions(positions: Sequence[int]) -> tuple[list[int], list[int]]:
    """Arkime's ``fileId`` and ``packetPos``: offsets, with ``-file`` before each file's run.

    Positions below 2**40 are offsets in the capture being parsed (``fukurou parse``, Arkime's
    test mode): no file ids, plain offsets.
    """
    if not positions or positions[0] >> FILE_SHIFT == 0:
        return [], list(positions)
    files: list[int] = []
    out: list[int] = []
    current = -1
    mask = (1 << FILE_SHIFT) - 1
    for pos in positions:
        number = pos >> FILE_SHIFT
        if number != current:
            current = number
            out.append(-number)
            if number not in files:
                files.append(number)
        out.append(pos & mask)
    return files, out


def file_numbers(packet_pos: Sequence[Any]) -> list[int]:
    """The ``fileId`` that goes with a ``packetPos``: the files its ``-file`` markers name, in
    order of first mention (as ``packet_positions`` lists them). A stored document may hold
    anything, so items that are not integers are passed over (typed ``Any`` for the compiled build)."""
    files: list[int] = []
    for pos in packet_pos:
        if type(pos) is int and pos < 0 and -pos not in files:
            files.append(-pos)
    return files


def _addresses(s: Session, doc: dict[str, Any]) -> None:
    doc["source.ip"] = ip_text(s.addr1)
    doc["destination.ip"] = ip_text(s.addr2)
    has_ports = s.proto in (6, 17, 132)
    doc["source.port"] = s.port1 if has_ports else 0
    doc["destination.port"] = s.port2 if has_ports else 0
    if s.proto in (1, 58):
        itype = s.icmp[0][0] if s.icmp and s.icmp[0] else 0
        icode = s.icmp[1][0] if s.icmp and s.icmp[1] else 0
        doc["network.community_id"] = community_id(s.addr1, s.addr2, s.proto, itype, icode)
    else:
        doc["network.community_id"] = community_id(s.addr1, s.addr2, s.proto, s.port1, s.port2)


def _tcp(s: Session, doc: dict[str, Any]) -> None:
    # The counters one by one, in FLAG_NAMES order: zipping the paths with ``s.flags`` built a
    # list, an iterator and a tuple per flag, ~9,000 instructions a TCP session against ~1,500.
    doc[_SYN] = s.n_syn
    doc[_SYN_ACK] = s.n_synack
    doc[_ACK] = s.n_ack
    doc[_PSH] = s.n_psh
    doc[_FIN] = s.n_fin
    doc[_RST] = s.n_rst
    doc[_URG] = s.n_urg
    doc[_SRC_ZERO] = s.n_srczero
    doc[_DST_ZERO] = s.n_dstzero
    if s.syn_time and s.ack_time:
        doc["initRTT"] = _c_div(_ms_since_first(s.first, s.ack_time) - _ms_since_first(s.first, s.syn_time), 2)


def _ms_since_first(first: int, since: int) -> int:
    """A handshake time (``Session.syn_time``/``ack_time``: microseconds after the first packet,
    plus one) in milliseconds as Arkime counts them for initRTT: whole seconds apart, plus the
    microsecond fields' difference divided toward zero, as C divides. Across a second boundary
    that is a millisecond more than the microseconds would say (305 of 305 handshakes in the
    Arkime corpus agree; plain microseconds got 297)."""
    at = first + since - 1
    return (at // 1_000_000 - first // 1_000_000) * 1000 + _c_div(at % 1_000_000 - first % 1_000_000, 1000)


def _c_div(a: int, b: int) -> int:
    """``a / b`` rounded toward zero (C's integer division; Python's ``//`` floors)."""
    return a // b if a >= 0 else -(-a // b)


def _outer(s: Session, doc: dict[str, Any]) -> None:
    assert s.outer is not None
    src_ips = [ip_text(o[0]) for o in s.outer if o[0]]
    dst_ips = [ip_text(o[1]) for o in s.outer if o[1]]
    src_macs = [mac_text(o[2]) for o in s.outer if o[2]]
    dst_macs = [mac_text(o[3]) for o in s.outer if o[3]]
    if src_ips:
        doc["srcOuterIp"], doc["dstOuterIp"] = src_ips, dst_ips
    if src_macs:
        doc["srcOuterMac"], doc["dstOuterMac"] = src_macs, dst_macs


def document(session: Session, node: str = "fukurou") -> dict[str, Any]:
    """The nested Arkime document of a session."""
    return nest(flat_document(session, node))
