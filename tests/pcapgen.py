"""Build packets and capture files in code, for tests (standard library only).

Packets are plain ``bytes`` built from the outside in::

    pkt = ethernet(ipv4(tcp(1234, 80, flags=SYN, seq=1), "10.0.0.1", "10.0.0.2"))

``ipv4``/``ipv6`` fill in the checksums of a TCP/UDP/ICMP payload built by ``tcp``/``udp``/
``icmp`` (they get the pseudo-header then). Capture files take records ``(ts_us, data)`` or
``(ts_us, data, wirelen)``: ``pcap_bytes`` (either byte order, micro- or nanoseconds),
``pcapng_bytes`` (either byte order, any if_tsresol), ``gzipped``; ``write`` puts any of them
in a file. ``TcpFlow`` produces a consistent TCP conversation (handshake, data, close) with
sequence numbers tracked per side.
"""

from __future__ import annotations

import gzip
import socket
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

# TCP flags
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 1, 2, 4, 8, 16, 32, 64, 128

# Link types
LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_LOOP, LINK_SLL, LINK_SLL2 = 0, 1, 101, 108, 113, 276

ETH_IP4, ETH_IP6, ETH_ARP, ETH_VLAN, ETH_QINQ = 0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8
ETH_MPLS, ETH_PPPOE, ETH_TEB = 0x8847, 0x8864, 0x6558

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")

Record = tuple[int, bytes] | tuple[int, bytes, int]


# --- helpers --------------------------------------------------------------------------------

def addr(text: str | bytes) -> bytes:
    """An IPv4 or IPv6 address as packed bytes (bytes pass through)."""
    if isinstance(text, bytes):
        return text
    if ":" in text:
        return socket.inet_pton(socket.AF_INET6, text)
    return socket.inet_aton(text)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class L4(bytes):
    """Transport bytes that still need their checksum (at ``csum_at``) once the addresses are known."""

    proto: int
    csum_at: int | None

    def __new__(cls, data: bytes, proto: int, csum_at: int | None) -> L4:
        obj = super().__new__(cls, data)
        obj.proto = proto
        obj.csum_at = csum_at
        return obj


def _finish_l4(payload: bytes, pseudo: bytes) -> bytes:
    if not isinstance(payload, L4) or payload.csum_at is None:
        return bytes(payload)
    data = bytearray(payload)
    at = payload.csum_at
    data[at : at + 2] = b"\0\0"
    value = checksum(pseudo + bytes(data))
    if payload.proto == 17 and value == 0:
        value = 0xFFFF
    data[at : at + 2] = struct.pack("!H", value)
    return bytes(data)


# --- link layer -----------------------------------------------------------------------------

def ethernet(payload: bytes, src: bytes = MAC_A, dst: bytes = MAC_B, ethertype: int | None = None,
             vlans: Sequence[int] = (), qinq: Sequence[int] = ()) -> bytes:
    """An Ethernet II frame; ``qinq`` tags (0x88a8) go outside the ``vlans`` tags (0x8100)."""
    if ethertype is None:
        ethertype = ETH_IP6 if payload[:1] and payload[0] >> 4 == 6 else ETH_IP4
    tags = b""
    for vid in qinq:
        tags += struct.pack("!HH", ETH_QINQ, vid & 0x0FFF)
    for vid in vlans:
        tags += struct.pack("!HH", ETH_VLAN, vid & 0x0FFF)
    return dst + src + tags + struct.pack("!H", ethertype) + payload


def mpls(payload: bytes, labels: Sequence[int] = (100,), ttl: int = 64) -> bytes:
    """An MPLS label stack (the last label has the bottom-of-stack bit) in front of ``payload``."""
    out = b""
    for n, label in enumerate(labels):
        bottom = 1 if n == len(labels) - 1 else 0
        out += struct.pack("!I", (label << 12) | (bottom << 8) | ttl)
    return out + payload


def pppoe(ip_packet: bytes, session_id: int = 1) -> bytes:
    """A PPPoE session frame carrying an IPv4 or IPv6 packet (for ethertype 0x8864)."""
    proto = 0x57 if ip_packet[0] >> 4 == 6 else 0x21
    ppp = struct.pack("!H", proto) + ip_packet
    return struct.pack("!BBHH", 0x11, 0, session_id, len(ppp)) + ppp


def sll(payload: bytes, ethertype: int = ETH_IP4, src: bytes = MAC_A, pkttype: int = 0) -> bytes:
    """Linux cooked capture v1 (link type 113)."""
    return struct.pack("!HHH", pkttype, 1, len(src)) + src.ljust(8, b"\0") + struct.pack("!H", ethertype) + payload


def sll2(payload: bytes, ethertype: int = ETH_IP4, src: bytes = MAC_A, ifindex: int = 1,
         pkttype: int = 0) -> bytes:
    """Linux cooked capture v2 (link type 276)."""
    return (struct.pack("!HHIHBB", ethertype, 0, ifindex, 1, pkttype, len(src)) + src.ljust(8, b"\0")
            + payload)


def null_link(payload: bytes, family: int = 2, endian: str = "<") -> bytes:
    """BSD loopback (link type 0): the address family in the writer's byte order."""
    return struct.pack(endian + "I", family) + payload


def loop_link(payload: bytes, family: int = 2) -> bytes:
    """OpenBSD loopback (link type 108): the address family in network byte order."""
    return struct.pack("!I", family) + payload


# --- network layer --------------------------------------------------------------------------

def ipv4(payload: bytes, src: str | bytes = "10.0.0.1", dst: str | bytes = "10.0.0.2",
         proto: int | None = None, ttl: int = 64, ident: int = 1, df: bool = False, mf: bool = False,
         frag_offset: int = 0, options: bytes = b"", tos: int = 0, total: int | None = None) -> bytes:
    """An IPv4 packet. ``frag_offset`` is in bytes (a multiple of 8); ``options`` is padded to 4."""
    s, d = addr(src), addr(dst)
    if proto is None:
        proto = payload.proto if isinstance(payload, L4) else 0
    options = options + b"\0" * (-len(options) % 4)
    hlen = 20 + len(options)
    if not frag_offset and not mf:
        payload = _finish_l4(payload, s + d + struct.pack("!BBH", 0, proto, len(payload)))
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_offset // 8)
    length = hlen + len(payload) if total is None else total
    head = struct.pack("!BBHHHBBH4s4s", 0x40 | hlen // 4, tos, length, ident, flags, ttl, proto, 0, s, d)
    head += options
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return head + bytes(payload)


def ipv4_fragments(payload: bytes, src: str | bytes = "10.0.0.1", dst: str | bytes = "10.0.0.2",
                   proto: int | None = None, size: int = 16, ident: int = 77, ttl: int = 64) -> list[bytes]:
    """``payload`` (checksummed as a whole) cut into IPv4 fragments of ``size`` bytes (multiple of 8)."""
    assert size % 8 == 0
    s, d = addr(src), addr(dst)
    if proto is None:
        proto = payload.proto if isinstance(payload, L4) else 0
    whole = _finish_l4(payload, s + d + struct.pack("!BBH", 0, proto, len(payload)))
    out = []
    for off in range(0, len(whole), size):
        piece = whole[off : off + size]
        more = off + size < len(whole)
        out.append(ipv4(piece, s, d, proto=proto, ident=ident, mf=more, frag_offset=off, ttl=ttl))
    return out


def ipv6(payload: bytes, src: str | bytes = "fd00::1", dst: str | bytes = "fd00::2",
         nh: int | None = None, hlim: int = 64, flow: int = 0) -> bytes:
    """An IPv6 packet (no extension headers)."""
    s, d = addr(src), addr(dst)
    if nh is None:
        nh = payload.proto if isinstance(payload, L4) else 59
    payload = _finish_l4(payload, s + d + struct.pack("!I3xB", len(payload), nh))
    return struct.pack("!IHBB", (6 << 28) | flow, len(payload), nh, hlim) + s + d + payload


# --- transport layer ------------------------------------------------------------------------

def tcp(sport: int, dport: int, flags: int = ACK, seq: int = 0, ack: int = 0, payload: bytes = b"",
        win: int = 65535, options: bytes = b"", urg: int = 0) -> L4:
    """A TCP segment; its checksum is filled in by ``ipv4``/``ipv6``."""
    options = options + b"\0" * (-len(options) % 4)
    off = (20 + len(options)) // 4
    head = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4, flags,
                       win, 0, urg)
    return L4(head + options + payload, 6, 16)


def udp(sport: int, dport: int, payload: bytes = b"") -> L4:
    """A UDP datagram; its checksum is filled in by ``ipv4``/``ipv6``."""
    return L4(struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload, 17, 6)


def icmp(icmp_type: int = 8, code: int = 0, ident: int = 1, seq: int = 1, payload: bytes = b"ping") -> L4:
    """An ICMPv4 echo-style message with its checksum."""
    body = struct.pack("!BBHHH", icmp_type, code, 0, ident, seq) + payload
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    return L4(body, 1, None)


def gre(payload: bytes, ptype: int = ETH_IP4, key: int | None = None) -> L4:
    """A GRE header (version 0, optional key) in front of ``payload`` (IP protocol 47)."""
    flags = 0x2000 if key is not None else 0
    head = struct.pack("!HH", flags, ptype) + (struct.pack("!I", key) if key is not None else b"")
    return L4(head + payload, 47, None)


def vxlan(inner_frame: bytes, vni: int = 42, sport: int = 49152) -> L4:
    """A VXLAN packet (UDP port 4789) carrying an Ethernet frame."""
    return udp(sport, 4789, struct.pack("!II", 0x08000000, vni << 8) + inner_frame)


def ipip(inner: bytes) -> L4:
    """An IP packet as the payload of an outer IPv4 packet (protocol 4, or 41 for IPv6 inside)."""
    return L4(inner, 41 if inner[0] >> 4 == 6 else 4, None)


# --- whole conversations --------------------------------------------------------------------

class TcpFlow:
    """A TCP conversation between a client and a server with consistent sequence numbers.

    Each method returns one Ethernet frame (or with ``link=None`` the IP packet) and advances the
    sequence number of the side that sent it.
    """

    def __init__(self, client: str = "10.0.0.1", server: str = "10.0.0.2", cport: int = 40000,
                 sport: int = 80, cisn: int = 1000, sisn: int = 5000, ipver: int = 4,
                 link: str | None = "eth") -> None:
        self.addrs = (client, server)
        self.ports = (cport, sport)
        self.seq = [cisn, sisn]
        self.ipver = ipver
        self.link = link

    def _frame(self, side: int, flags: int, payload: bytes = b"", seq: int | None = None,
               advance: bool = True, win: int = 65535) -> bytes:
        other = 1 - side
        s = self.seq[side] if seq is None else seq
        ack = self.seq[other] if flags & ACK else 0
        seg = tcp(self.ports[side], self.ports[other], flags, s, ack, payload, win=win)
        ip = (ipv4 if self.ipver == 4 else ipv6)(seg, self.addrs[side], self.addrs[other])
        if advance and seq is None:
            self.seq[side] = (self.seq[side] + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        if self.link == "eth":
            macs = (MAC_A, MAC_B) if side == 0 else (MAC_B, MAC_A)
            return ethernet(ip, macs[0], macs[1])
        return ip

    def syn(self) -> bytes:
        return self._frame(0, SYN)

    def synack(self) -> bytes:
        return self._frame(1, SYN | ACK)

    def ack(self, side: int = 0) -> bytes:
        return self._frame(side, ACK)

    def data(self, side: int, payload: bytes, seq: int | None = None, advance: bool = True) -> bytes:
        """Data from ``side`` (0 client, 1 server); ``seq`` to send at another place (retransmit)."""
        return self._frame(side, PSH | ACK, payload, seq=seq, advance=advance)

    def fin(self, side: int) -> bytes:
        return self._frame(side, FIN | ACK)

    def rst(self, side: int) -> bytes:
        return self._frame(side, RST | ACK)

    def handshake(self) -> list[bytes]:
        return [self.syn(), self.synack(), self.ack(0)]

    def close(self) -> list[bytes]:
        """FIN from the client, FIN-ACK from the server, last ACK from the client."""
        return [self.fin(0), self.fin(1), self.ack(0)]


def timed(packets: Iterable[bytes], start_us: int = 1_600_000_000_000_000, step_us: int = 1000) -> list[Record]:
    """Records for a list of packets, ``step_us`` apart."""
    return [(start_us + n * step_us, p) for n, p in enumerate(packets)]


# --- capture files --------------------------------------------------------------------------

def _split(record: Record) -> tuple[int, bytes, int]:
    if len(record) == 3:
        return record[0], record[1], record[2]  # type: ignore[misc]
    return record[0], record[1], len(record[1])


def pcap_header(linktype: int = LINK_ETHERNET, endian: str = "<", nanos: bool = False,
                snaplen: int = 262144) -> bytes:
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    return struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(record: Record, endian: str = "<", nanos: bool = False) -> bytes:
    ts, data, wirelen = _split(record)
    sec, frac = divmod(ts, 1_000_000)
    if nanos:
        frac *= 1000
    return struct.pack(endian + "IIII", sec, frac, len(data), wirelen) + data


def pcap_bytes(records: Iterable[Record], linktype: int = LINK_ETHERNET, endian: str = "<",
               nanos: bool = False, snaplen: int = 262144) -> bytes:
    """A classic pcap file: ``endian`` '<' or '>', ``nanos`` for the nanosecond magic."""
    parts = [pcap_header(linktype, endian, nanos, snaplen)]
    parts += [pcap_record(r, endian, nanos) for r in records]
    return b"".join(parts)


def pcap_offsets(records: Sequence[Record]) -> list[int]:
    """The offset of each record header in the file ``pcap_bytes`` makes."""
    out, pos = [], 24
    for r in records:
        out.append(pos)
        pos += 16 + len(r[1])
    return out


def _block(block_type: int, body: bytes, endian: str) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(endian + "II", block_type, length) + body + struct.pack(endian + "I", length)


def _option(code: int, value: bytes, endian: str) -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def pcapng_bytes(records: Iterable[Record], linktype: int = LINK_ETHERNET, endian: str = "<",
                 tsresol: int | None = None, snaplen: int = 262144, comment: bool = True) -> bytes:
    """A pcapng file: one section, one interface, enhanced packet blocks.

    ``tsresol`` is the raw if_tsresol byte (6 microseconds when None, 9 nanoseconds, 0x80|n for
    2**-n seconds). ``comment`` adds an shb_comment option and an opt_endofopt, as real writers do.
    """
    e = endian
    units = 1_000_000
    if tsresol is not None:
        units = 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol
    shb_opts = (_option(1, b"made by pcapgen", e) + _option(0, b"", e)) if comment else b""
    out = [_block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts, e)]
    idb_opts = b""
    if tsresol is not None:
        idb_opts = _option(9, bytes([tsresol]), e) + _option(0, b"", e)
    out.append(_block(1, struct.pack(e + "HHI", linktype, 0, snaplen) + idb_opts, e))
    for record in records:
        ts, data, wirelen = _split(record)
        t = ts * units // 1_000_000
        body = struct.pack(e + "IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(data), wirelen) + data
        out.append(_block(6, body, e))
    return b"".join(out)


def pcapng_offsets(records: Sequence[Record], tsresol: int | None = None, comment: bool = True) -> list[int]:
    """The offset of each enhanced packet block in the file ``pcapng_bytes`` makes."""
    pos = 28 + (len(_option(1, b"made by pcapgen", "<")) + 4 if comment else 0)
    pos += 20 + (12 if tsresol is not None else 0)
    out = []
    for r in records:
        out.append(pos)
        pos += 32 + len(r[1]) + (-len(r[1]) % 4)
    return out


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def write(path: str | Path, data: bytes) -> str:
    Path(path).write_bytes(data)
    return str(path)


def write_pcap(path: str | Path, records: Iterable[Record], **kwargs: object) -> str:
    """``pcap_bytes(records, **kwargs)`` into ``path``; returns the path as a string."""
    return write(path, pcap_bytes(records, **kwargs))  # type: ignore[arg-type]
