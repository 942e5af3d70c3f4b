"""A session's packets for the Packets view and the pcap downloads (over ``pcapstore.reader``).

The view shows each packet's transport payload (or the whole frame when it cannot be decoded) as
hex and ASCII, marked as sent by the session's source or destination, as Arkime's packet view does.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator, Sequence
from typing import Any

import dpkt

from appliance.pcapstore.reader import PacketsGone, StoreReader, positions_from_document

__all__ = ["PacketsGone", "packet_view", "positions", "session_pcap", "sessions_pcap"]
_RECORD = struct.Struct("<IIII")


def positions(doc: dict[str, Any]) -> list[int]:
    """Store positions of a session's packets ([] when the document has none)."""
    file_ids, packet_pos = doc.get("fileId") or [], doc.get("packetPos") or []
    if not packet_pos or not file_ids:  # no file ids: offsets in a parsed capture, not the store
        return []
    return positions_from_document(file_ids, packet_pos)


def session_pcap(reader: StoreReader, doc: dict[str, Any]) -> Iterator[bytes]:
    return reader.session_pcap(positions(doc))


def sessions_pcap(reader: StoreReader, docs: Sequence[dict[str, Any]]) -> Iterator[bytes]:
    return reader.sessions_pcap([positions(d) for d in docs])


def _endpoints(frame: bytes, linktype: int) -> tuple[str | None, int | None, bytes]:
    """(source address, source port, payload) of a frame; payload is the frame when undecodable."""
    try:
        pkt = dpkt.ethernet.Ethernet(frame) if linktype == 1 else None
        ip = pkt.data if pkt is not None else None
        if linktype in (101, 228, 229):  # raw IP
            ip = dpkt.ip.IP(frame) if frame[:1] and frame[0] >> 4 == 4 else dpkt.ip6.IP6(frame)
    except (dpkt.UnpackError, IndexError, struct.error):
        return None, None, frame
    if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
        return None, None, frame
    family = socket.AF_INET if isinstance(ip, dpkt.ip.IP) else socket.AF_INET6
    src = socket.inet_ntop(family, ip.src)
    l4 = ip.data
    if isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
        return src, l4.sport, bytes(l4.data)
    return src, None, bytes(l4) if isinstance(l4, (bytes, bytearray)) else bytes(l4.data or b"")


def packet_view(reader: StoreReader, doc: dict[str, Any], limit: int = 200) -> list[dict[str, Any]]:
    """Up to ``limit`` packets: time, direction (src/dst), length and payload bytes as hex."""
    out = []
    src_ip, src_port = doc.get("source.ip"), doc.get("source.port")
    linktype = None
    for i, (ts_us, record) in enumerate(reader.records(positions(doc))):
        if i >= limit:
            break
        if linktype is None:
            linktype = next(iter(reader.files.values())).linktype if reader.files else 1
        _, _, caplen, wirelen = _RECORD.unpack_from(record)
        ip, port, payload = _endpoints(record[16:], linktype)
        from_src = ip is None or (ip == src_ip and (src_port is None or port in (None, src_port)))
        out.append({"ts": ts_us // 1000, "dir": "src" if from_src else "dst", "len": wirelen,
                    "caplen": caplen, "data": payload.hex()})
    return out
