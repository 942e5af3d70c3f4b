"""A session's packets for the Packets view and the pcap downloads (over ``pcapstore.reader``).

The view shows each packet's transport payload (or the whole frame when it cannot be decoded),
marked as sent by the session's source or destination, as Arkime's packet view does: either packet
by packet, or reassembled, each run of packets sent the same way merged into one block of payload.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import dpkt

from appliance.pcapstore import FILE_SHIFT
from appliance.pcapstore.reader import PacketsGone, StoreReader, positions_from_document

__all__ = ["Frame", "PacketsGone", "frames", "packet_view", "packet_view_of", "positions", "reassemble", "session_pcap", "sessions_pcap"]
_RECORD = struct.Struct("<IIII")
_SEQ_MASK = 0xFFFFFFFF


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


@dataclass(frozen=True)
class Frame:
    """One captured packet as the Packets view needs it."""

    number: int  # 1-based, in capture order within the session
    ts_ms: int
    from_src: bool
    wirelen: int
    caplen: int
    payload: bytes  # the transport payload, or the whole frame when it cannot be decoded
    seq: int | None = None  # TCP sequence number of the first payload byte
    syn: bool = False


def _network_layer(frame: bytes, linktype: int) -> Any:
    """The IP or IPv6 packet inside a frame, or None."""
    if linktype == 1:  # Ethernet (dpkt also unwraps 802.1Q/802.1ad tags)
        return dpkt.ethernet.Ethernet(frame).data
    if linktype in (101, 228, 229, 12, 14):  # raw IP
        return dpkt.ip.IP(frame) if frame[:1] and frame[0] >> 4 == 4 else dpkt.ip6.IP6(frame)
    if linktype == 113:  # Linux cooked capture
        return dpkt.sll.SLL(frame).data
    if linktype == 276:  # Linux cooked capture v2
        return dpkt.sll2.SLL2(frame).data
    if linktype in (0, 108):  # BSD loopback
        return dpkt.loopback.Loopback(frame).data
    return None


def _decode(frame: bytes, linktype: int) -> tuple[str | None, int | None, bytes, int | None, bool]:
    """(source address, source port, payload, TCP seq, SYN) of a frame; payload is the frame when undecodable."""
    try:
        ip = _network_layer(frame, linktype)
    except (dpkt.UnpackError, IndexError, struct.error, ValueError, AttributeError):
        return None, None, frame, None, False
    if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
        return None, None, frame, None, False
    family = socket.AF_INET if isinstance(ip, dpkt.ip.IP) else socket.AF_INET6
    src = socket.inet_ntop(family, ip.src)
    l4 = ip.data
    if isinstance(l4, dpkt.tcp.TCP):
        return src, l4.sport, bytes(l4.data), l4.seq, bool(l4.flags & dpkt.tcp.TH_SYN)
    if isinstance(l4, dpkt.udp.UDP):
        return src, l4.sport, bytes(l4.data), None, False
    return src, None, bytes(l4) if isinstance(l4, (bytes, bytearray)) else bytes(l4.data or b""), None, False


def frames(reader: StoreReader, doc: dict[str, Any], limit: int = 200) -> list[Frame]:
    """The first ``limit`` packets of a session, each marked as sent by its source or its destination."""
    out: list[Frame] = []
    src_ip, src_port = doc.get("source.ip"), doc.get("source.port")
    wanted = positions(doc)[:max(0, limit)]
    for i, (pos, (ts_us, record)) in enumerate(zip(wanted, reader.records(wanted), strict=False)):
        linktype = reader.file(pos >> FILE_SHIFT).linktype
        _, _, caplen, wirelen = _RECORD.unpack_from(record)
        ip, port, payload, seq, syn = _decode(record[16:], linktype)
        # Port 0: a session without ports (ICMP, corrupt-ip), whose packets may still carry some.
        from_src = ip is None or (ip == src_ip and (not src_port or port in (None, src_port)))
        out.append(Frame(i + 1, ts_us // 1000, from_src, wirelen, caplen, payload, seq, syn))
    return out


def packet_view_of(packets: Sequence[Frame]) -> list[dict[str, Any]]:
    """Packets as JSON: number, time, direction (src/dst), lengths and payload bytes as hex."""
    return [{"n": f.number, "ts": f.ts_ms, "dir": "src" if f.from_src else "dst", "len": f.wirelen,
             "caplen": f.caplen, "data": f.payload.hex()} for f in packets]


def packet_view(reader: StoreReader, doc: dict[str, Any], limit: int = 200) -> list[dict[str, Any]]:
    """Up to ``limit`` packets of a session, as :func:`packet_view_of` gives them."""
    return packet_view_of(frames(reader, doc, limit))


def _signed(delta: int) -> int:
    """A difference of TCP sequence numbers (modulo 2**32) as a signed number."""
    delta &= _SEQ_MASK
    return delta - (1 << 32) if delta >= 1 << 31 else delta


# A segment that arrives ahead of a gap waits for the bytes before it; after this many packets
# waiting, the gap is taken for lost (the capture missed it) and what waits is shown after it.
HOLD_PACKETS = 8
_Piece = tuple[int, int, bytes]  # packet number, time (ms), payload bytes


@dataclass
class _Stream:
    """One direction of a TCP connection: the next sequence number wanted, and what waits for it."""

    next: int | None = None
    held: dict[int, _Piece] = field(default_factory=dict)  # segment start -> piece, ahead of a gap

    def accept(self, start: int, piece: _Piece) -> list[_Piece]:
        """What this segment makes showable, in stream order (nothing while a gap is before it)."""
        if self.next is None:
            self.next = (start + len(piece[2])) & _SEQ_MASK
            return [piece] if piece[2] else []
        if not piece[2]:
            return []
        if _signed(start - self.next) > 0:  # the bytes before it have not come yet
            waiting = self.held.get(start)
            if waiting is None or len(waiting[2]) < len(piece[2]):
                self.held[start] = piece
            return self.drain(give_up=len(self.held) > HOLD_PACKETS)
        out: list[_Piece] = []
        self._take(start, piece, out)
        return out + self.drain()

    def drain(self, give_up: bool = False) -> list[_Piece]:
        """Held segments that now follow on; with ``give_up``, past every gap (the end, or lost data)."""
        out: list[_Piece] = []
        while self.held:
            assert self.next is not None
            start = min(self.held, key=lambda s: _signed(s - self.next))  # type: ignore[operator]
            if _signed(start - self.next) > 0:
                if not give_up:
                    break
                self.next = start  # skip the gap
            self._take(start, self.held.pop(start), out)
        return out

    def _take(self, start: int, piece: _Piece, out: list[_Piece]) -> None:
        """Append the part of a segment not seen yet (retransmitted and overlapping bytes are dropped)."""
        assert self.next is not None
        number, ts, data = piece
        behind = -_signed(start - self.next)
        if behind > 0:
            data = data[behind:]
        if data:
            out.append((number, ts, data))
            self.next = (start + len(piece[2])) & _SEQ_MASK


def reassemble(packets: Sequence[Frame]) -> list[dict[str, Any]]:
    """Payloads merged into one block per run of packets sent the same way (Arkime's natural view).

    TCP data is put in sequence order per direction: data sent again (retransmissions, overlapping
    segments) is shown once, and a segment that arrives ahead of a gap waits for the bytes before
    it (at most ``HOLD_PACKETS`` packets; a gap still open at the end is skipped). Packets without
    payload (handshakes, bare ACKs) add nothing. A block says which packets it came from.
    """
    blocks: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    parts: list[bytes] = []

    def close() -> None:
        if current is not None:
            data = b"".join(parts)
            current.update(bytes=len(data), data=data.hex())
            blocks.append(current)

    def show(from_src: bool, pieces: list[_Piece]) -> None:
        nonlocal current, parts
        direction = "src" if from_src else "dst"
        for number, ts, data in pieces:
            if current is None or current["dir"] != direction:
                close()
                current, parts = {"dir": direction, "ts": ts, "first": number, "last": number, "packets": 0}, []
            current["first"] = min(current["first"], number)
            current["last"] = max(current["last"], number)
            current["packets"] += 1
            parts.append(data)

    streams = {True: _Stream(), False: _Stream()}
    for f in packets:
        piece = (f.number, f.ts_ms, f.payload)
        if f.seq is None:
            show(f.from_src, [piece] if f.payload else [])
        else:
            start = (f.seq + 1) & _SEQ_MASK if f.syn else f.seq
            show(f.from_src, streams[f.from_src].accept(start, piece))
    for from_src, stream in streams.items():
        show(from_src, stream.drain(give_up=True))
    close()
    return blocks
