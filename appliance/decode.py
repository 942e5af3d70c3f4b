"""Link, network and transport decoding on the fast path.

Plain ``struct`` on the captured bytes and one small object per packet (``Frame``): no object
tree per layer. Each ``_layer`` function reads its header, fills the frame and hands the rest
to the next layer by returning. A packet that makes no sense never raises. When
it fails before an IP header was read it yields no frame and is counted by reason in
``Decoder.errors``; when an IP header was read (a bad transport header, a broken tunnel inside)
it yields a frame marked ``corrupt``, counted in ``Decoder.corrupt``, which the session table
keeps in a ``corrupt-ip`` session of the two addresses, as Arkime does: its packets can still be
found and read back.
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import Final

# Link types (LINKTYPE_* from tcpdump.org)
LINK_NULL: Final = 0
LINK_ETHERNET: Final = 1
LINK_PPP: Final = 9
LINK_RAW: Final = 101
LINK_RAW_BSD: Final = 12
LINK_FRELAY: Final = 107
LINK_LOOP: Final = 108
LINK_SLL: Final = 113
LINK_SLL2: Final = 276
LINK_IPV4: Final = 228
LINK_IPV6: Final = 229

ETH_IP4: Final = 0x0800
ETH_IP6: Final = 0x86DD
ETH_ARP: Final = 0x0806
ETH_VLAN: Final = 0x8100
ETH_QINQ: Final = 0x88A8
ETH_QINQ_OLD: Final = 0x9100
ETH_MPLS: Final = 0x8847
ETH_MPLS_MC: Final = 0x8848
ETH_PPPOE: Final = 0x8864
ETH_TEB: Final = 0x6558
ETH_ERSPAN2: Final = 0x88BE
ETH_ERSPAN3: Final = 0x22EB
ETH_PPP: Final = 0x880B
ETH_NSH: Final = 0x894F
ETH_CISCO_METADATA: Final = 0x8909

IPPROTO_ICMP: Final = 1
IPPROTO_IPIP: Final = 4
IPPROTO_TCP: Final = 6
IPPROTO_UDP: Final = 17
IPPROTO_IPV6: Final = 41
IPPROTO_GRE: Final = 47
IPPROTO_ESP: Final = 50
IPPROTO_ICMP6: Final = 58
IPPROTO_SCTP: Final = 132
IPV6_EXTENSIONS: Final = frozenset((0, 43, 44, 51, 60, 135, 139, 140))

UDP_VXLAN: Final = 4789
UDP_VXLAN_GPE: Final = 4790
UDP_GENEVE: Final = 6081
UDP_GTPU: Final = 2152
MAX_TUNNEL_DEPTH: Final = 4  # a packet nested deeper than this is treated as hostile

_U16: Final = struct.Struct("!H").unpack_from
_U32: Final = struct.Struct("!I").unpack_from
_PORTS: Final = struct.Struct("!HH").unpack_from


class Frame:
    """What the session engine needs to know about one packet."""

    __slots__ = (
        "ts", "caplen", "wirelen", "offset", "src_mac", "dst_mac", "ethertype", "vlans", "dot1ad",
        "ipver", "src", "dst", "ttl", "proto", "sport", "dport", "l4", "l4len", "flags", "seq",
        "ack", "win", "payload", "outer", "tags", "corrupt", "dscp", "trailer",
    )

    def __init__(self, ts: int, caplen: int, wirelen: int, offset: int) -> None:
        self.ts = ts
        self.caplen = caplen
        self.wirelen = wirelen
        self.offset = offset
        self.src_mac: bytes | None = None  # of the innermost Ethernet header
        self.dst_mac: bytes | None = None
        self.ethertype = 0
        self.vlans: list[int] | None = None
        self.dot1ad: list[int] | None = None
        self.ipver = 0
        self.src = self.dst = b""
        self.ttl = 0
        self.proto = 0
        self.sport = self.dport = 0
        self.l4 = b""  # the transport header and what follows
        self.l4len = 0  # transport length as the IP header says (the wire), not as captured
        self.flags = 0
        self.seq = self.ack = self.win = 0
        self.payload = b""  # transport payload (TCP/UDP data, ICMP message, ...)
        self.outer: list[tuple[bytes, bytes, bytes | None, bytes | None]] | None = None
        self.tags: list[str] | None = None  # protocols met on the way (gre, mpls, ...)
        self.corrupt: str | None = None  # why the packet could not be decoded past its IP header
        self.dscp = 0
        # Captured bytes after the IP packet (Ethernet padding of a short frame): Arkime counts
        # them in an ICMP session's data bytes, which it takes as "to the end of the packet".
        self.trailer = 0

    def tag(self, name: str) -> None:
        if self.tags is None:
            self.tags = [name]
        elif name not in self.tags:
            self.tags.append(name)


class Fragments:
    """IPv4 datagrams in pieces, put back together the way Arkime does before sessions see them.

    Bounded: at most ``MAX_PENDING`` datagrams wait, each for at most ``MAX_AGE_US`` of packet
    time; what does not complete is dropped and counted.
    """

    MAX_PENDING = 1024
    MAX_AGE_US = 30_000_000
    MAX_DATAGRAM = 65535

    def __init__(self, errors: Counter[str]) -> None:
        self.pending: dict[tuple[bytes, bytes, int, int], tuple[int, dict[int, bytes], int]] = {}
        self.errors = errors

    def add(self, frame: Frame, piece: bytes, ident: int, frag: int) -> bytes | None:
        """Store one fragment; the whole transport payload once every piece is there."""
        key = (frame.src, frame.dst, frame.proto, ident)
        entry = self.pending.get(key)
        if entry is None:
            self._expire(frame.ts)
            entry = (frame.ts, {}, -1)
        start, pieces, total = entry
        offset = (frag & 0x1FFF) * 8
        if offset + len(piece) > self.MAX_DATAGRAM:
            self.errors["ipv4 fragment beyond 64 KiB"] += 1
            return None
        pieces[offset] = piece
        if not frag & 0x2000:  # the last piece says how long the datagram is
            total = offset + len(piece)
        self.pending[key] = (start, pieces, total)
        if total < 0:
            return None
        whole, have = [], 0
        for off in sorted(pieces):
            if off > have:
                return None  # a hole: wait for more
            chunk = pieces[off]
            if off + len(chunk) > have:
                whole.append(chunk[have - off :])
                have = off + len(chunk)
        if have < total:
            return None
        del self.pending[key]
        return b"".join(whole)[:total]

    def _expire(self, now: int) -> None:
        if len(self.pending) < self.MAX_PENDING and not self.pending:
            return
        for key in [k for k, (start, _, _) in self.pending.items() if now - start > self.MAX_AGE_US]:
            del self.pending[key]
            self.errors["ipv4 fragments never completed"] += 1
        while len(self.pending) >= self.MAX_PENDING:
            del self.pending[next(iter(self.pending))]
            self.errors["ipv4 fragments never completed"] += 1


def _as_corrupt(frame: Frame, reason: str) -> Frame:
    """``frame`` as a corrupt packet of its last IP header's addresses: no ports, no transport,
    nothing for the parsers (flags -1, as for a later IP fragment: counted, not read)."""
    frame.corrupt = reason
    frame.sport = frame.dport = 0
    frame.l4 = frame.payload = b""
    frame.flags = -1
    frame.seq = frame.ack = frame.win = 0
    return frame


class Decoder:
    """Turns captured bytes into frames; keeps counters of what it could not decode."""

    def __init__(self) -> None:
        self.errors: Counter[str] = Counter()  # packets without a frame, by reason
        self.corrupt: Counter[str] = Counter()  # frames marked corrupt, by reason
        self.fragments = Fragments(self.errors)
        self._reason = ""  # why the packet being decoded failed ("": it did not)
        self._link = {
            LINK_ETHERNET: self._ethernet,
            LINK_SLL: self._sll,
            LINK_SLL2: self._sll2,
            LINK_RAW: self._raw,
            LINK_RAW_BSD: self._raw,
            14: self._raw,
            LINK_IPV4: self._raw,
            LINK_IPV6: self._raw,
            LINK_NULL: self._null,
            LINK_LOOP: self._loop,
            LINK_PPP: self._ppp_link,
            LINK_FRELAY: self._frame_relay,
        }

    def decode(self, ts: int, caplen: int, wirelen: int, data: bytes, offset: int, linktype: int) -> Frame | None:
        """One packet to one frame, or None (counted in ``errors``)."""
        frame = Frame(ts, caplen, wirelen, offset)
        link = None
        if linktype != LINK_ETHERNET:
            link = self._link.get(linktype)
            if link is None:
                self.errors[f"unsupported link type {linktype}"] += 1
                return None
        self._reason = ""
        try:
            # Ethernet, nearly every capture, is a direct call; a bound method from the table
            # is a generic Python call.
            ok = self._ethernet(frame, data, 0, 0) if link is None else link(frame, data, 0, 0)
        except (struct.error, IndexError, ValueError):
            # Decoders check lengths, but a short read that slips through must not stop the loop.
            ok, self._reason = False, "truncated header"
        if ok:
            return frame
        reason = self._reason
        if not reason:
            return None  # an IPv4 fragment held until its datagram is complete
        if frame.ipver:
            self.corrupt[reason] += 1
            return _as_corrupt(frame, reason)
        self.errors[reason] += 1
        return None

    def _fail(self, reason: str) -> bool:
        self._reason = reason
        return False

    # --- link layer -------------------------------------------------------------------------

    def _ethernet(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        if len(data) - i < 14:
            return self._fail("short ethernet header")
        if frame.src_mac is not None:  # an inner Ethernet header: the outer MACs move aside
            frame.outer = frame.outer or []
            frame.outer.append((b"", b"", frame.src_mac, frame.dst_mac))
        frame.dst_mac = data[i : i + 6]
        frame.src_mac = data[i + 6 : i + 12]
        return self._ethertype(frame, data, i + 14, (data[i + 12] << 8) | data[i + 13], depth)

    def _ethertype(self, frame: Frame, data: bytes, i: int, etype: int, depth: int) -> bool:
        while etype in (ETH_VLAN, ETH_QINQ, ETH_QINQ_OLD):
            if len(data) - i < 4:
                return self._fail("short vlan header")
            vid = _U16(data, i)[0] & 0x0FFF
            if etype == ETH_VLAN:
                frame.vlans = (frame.vlans or []) + [vid]
            else:
                frame.dot1ad = (frame.dot1ad or []) + [vid]
                frame.vlans = (frame.vlans or []) + [vid]
            etype = _U16(data, i + 2)[0]
            i += 4
        if not frame.ethertype:  # Arkime reports the outermost type (after VLAN tags)
            frame.ethertype = etype
        if etype == ETH_IP4 or etype == ETH_IP6:
            return self._ip(frame, data, i, depth)
        if etype in (ETH_MPLS, ETH_MPLS_MC):
            return self._mpls(frame, data, i, depth)
        if etype == ETH_PPPOE:
            return self._pppoe(frame, data, i, depth)
        if etype == ETH_ERSPAN2 and len(data) - i >= 8 + 14 and depth < MAX_TUNNEL_DEPTH:
            return self._ethernet(frame, data, i + 8, depth + 1)  # ERSPAN without GRE around it
        if etype == ETH_NSH and len(data) - i >= 8 and depth < MAX_TUNNEL_DEPTH:
            return self._nsh(frame, data, i, depth)
        if etype == ETH_CISCO_METADATA and len(data) - i >= 8 and depth < MAX_TUNNEL_DEPTH:
            return self._ethertype(frame, data, i + 8, _U16(data, i + 6)[0], depth + 1)
        # Not IP: Arkime keeps a session per ethertype for these (ARP, LLDP, ...).
        frame.payload = data[i:]
        return True

    def _nsh(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        """Network Service Header: a length in 4-byte words, then IPv4, IPv6 or Ethernet."""
        length = (data[i + 1] & 0x3F) * 4
        nxt = data[i + 3]
        if length < 8 or len(data) - i < length:
            return self._fail("bad nsh header")
        if nxt == 3:
            return self._ethernet(frame, data, i + length, depth + 1)
        if nxt in (1, 2):
            return self._ip(frame, data, i + length, depth + 1)
        frame.payload = data[i:]
        return True

    def _sll(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        if len(data) < 16:
            return self._fail("short linux sll header")
        addr_len = _U16(data, 4)[0]
        if addr_len == 6:
            frame.src_mac = data[6:12]
        return self._ethertype(frame, data, 16, _U16(data, 14)[0], depth)

    def _sll2(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        if len(data) < 20:
            return self._fail("short linux sll2 header")
        if data[11] == 6:
            frame.src_mac = data[12:18]
        return self._ethertype(frame, data, 20, _U16(data, 0)[0], depth)

    def _raw(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        if not data:
            return self._fail("empty packet")
        frame.ethertype = ETH_IP6 if data[0] >> 4 == 6 else ETH_IP4
        return self._ip(frame, data, 0, depth)

    def _null(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        if len(data) < 4:
            return self._fail("short loopback header")
        family = struct.unpack_from("<I", data)[0]
        if family > 0xFFFF:  # written by a big-endian host
            family = struct.unpack_from(">I", data)[0]
        return self._loop_family(frame, data, family)

    def _loop(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        if len(data) < 4:
            return self._fail("short loopback header")
        return self._loop_family(frame, data, _U32(data)[0])

    def _loop_family(self, frame: Frame, data: bytes, family: int) -> bool:
        if family == 2:
            frame.ethertype = frame.ethertype or ETH_IP4
        elif family in (10, 23, 24, 28, 30):  # AF_INET6 differs between systems
            frame.ethertype = frame.ethertype or ETH_IP6
        else:
            return self._fail("unknown loopback family")
        return self._ip(frame, data, 4, 0)

    def _ppp_link(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        if len(data) >= 2 and data[0] == 0xFF and data[1] == 0x03:
            i = 2
        return self._ppp(frame, data, i, depth)

    def _ppp(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        if len(data) - i < 2:
            return self._fail("short ppp header")
        if data[i] == 0xFF and data[i + 1] == 0x03:  # HDLC address and control
            i += 2
        if len(data) - i < 1:
            return self._fail("short ppp header")
        if data[i] & 1:  # protocol field compressed to one byte
            proto, i = data[i], i + 1
        else:
            proto, i = _U16(data, i)[0], i + 2
        if proto == 0x21:
            frame.ethertype = frame.ethertype or ETH_IP4
            return self._ip(frame, data, i, depth)
        if proto == 0x57:
            frame.ethertype = frame.ethertype or ETH_IP6
            return self._ip(frame, data, i, depth)
        return self._fail("ppp without ip")

    def _frame_relay(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        # Q.922 address (2 bytes), then UI control 0x03 and NLPID 0xcc (IPv4) / 0x8e (IPv6)
        if len(data) < 4 or data[2] != 0x03:
            return self._fail("unsupported frame relay")
        if data[3] == 0xCC:
            frame.ethertype = frame.ethertype or ETH_IP4
        elif data[3] == 0x8E:
            frame.ethertype = frame.ethertype or ETH_IP6
        else:
            return self._fail("frame relay without ip")
        return self._ip(frame, data, 4, depth)

    def _mpls(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        frame.tag("mpls")
        while True:
            if len(data) - i < 4:
                return self._fail("short mpls header")
            bottom = data[i + 2] & 1
            i += 4
            if bottom:
                break
        if len(data) <= i:
            return self._fail("mpls without payload")
        if data[i] >> 4 not in (4, 6):
            return self._fail("mpls payload not ip")
        return self._ip(frame, data, i, depth)

    def _pppoe(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        if len(data) - i < 8:
            return self._fail("short pppoe header")
        frame.tag("pppoe")
        if _U16(data, i + 6)[0] not in (0x21, 0x57):
            return self._fail("pppoe without ip")
        return self._ip(frame, data, i + 8, depth)

    # --- network layer ----------------------------------------------------------------------

    def _ip(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        if len(data) - i < 1:
            return self._fail("short ip header")
        version = data[i] >> 4
        if version == 4:
            return self._ip4(frame, data, i, depth)
        if version == 6:
            return self._ip6(frame, data, i, depth)
        return self._fail("bad ip version")

    def _tunnel(self, frame: Frame, depth: int) -> bool:
        """Before decoding an inner IP packet: remember the outer addresses."""
        if depth >= MAX_TUNNEL_DEPTH:
            return self._fail("too many nested tunnels")
        frame.outer = frame.outer or []
        frame.outer.append((frame.src, frame.dst, None, None))
        return True

    def _ip4(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        if len(data) - i < 20:
            return self._fail("short ipv4 header")
        # Fields by byte, not struct: compiled, byte indexing is a C array read (no tuple, no ints).
        vhl, tos, total = data[i], data[i + 1], (data[i + 2] << 8) | data[i + 3]
        frag, ttl, proto = (data[i + 6] << 8) | data[i + 7], data[i + 8], data[i + 9]
        src, dst = data[i + 12 : i + 16], data[i + 16 : i + 20]
        hlen = (vhl & 0x0F) * 4
        if hlen < 20 or len(data) - i < hlen:
            return self._fail("bad ipv4 header length")
        if total < hlen:
            if total != 0:  # 0 is TSO offload on the capturing host: trust the capture
                return self._fail("bad ipv4 total length")
            total = len(data) - i
        frame.ipver, frame.src, frame.dst, frame.ttl, frame.proto = 4, src, dst, ttl, proto
        frame.dscp = tos >> 2
        end = min(len(data), i + total)
        if frag & 0x3FFF:  # more-fragments flag or an offset: wait for the whole datagram
            whole = self.fragments.add(frame, data[i + hlen : end], _U16(data, i + 4)[0], frag)
            if whole is None:
                return False
            frame.caplen = i + hlen + len(whole)
            return self._transport(frame, whole, 0, len(whole), len(whole), depth)
        return self._transport(frame, data, i + hlen, end, total - hlen, depth)

    def _ip6(self, frame: Frame, data: bytes, i: int, depth: int) -> bool:
        if len(data) - i < 40:
            return self._fail("short ipv6 header")
        plen = _U16(data, i + 4)[0]
        nxt = data[i + 6]
        frame.ipver, frame.src, frame.dst, frame.ttl = 6, data[i + 8 : i + 24], data[i + 24 : i + 40], data[i + 7]
        frame.dscp = (_U16(data, i)[0] >> 6) & 0x3F
        j = i + 40
        end = min(len(data), j + plen) if plen else len(data)
        remaining = plen if plen else len(data) - j
        later_fragment = False
        while nxt in IPV6_EXTENSIONS:
            if end - j < 8:
                return self._fail("short ipv6 extension header")
            if nxt == 44:  # fragment header
                later_fragment = (_U16(data, j + 2)[0] & 0xFFF8) != 0
                size = 8
            elif nxt == 51:  # authentication header counts 4-byte words
                size = (data[j + 1] + 2) * 4
            else:
                size = (data[j + 1] + 1) * 8
            nxt = data[j]
            j += size
            remaining -= size
        frame.proto = nxt
        if later_fragment:
            frame.l4, frame.l4len, frame.flags = data[j:end], remaining, -1
            return True
        return self._transport(frame, data, j, end, remaining, depth)

    # --- transport layer --------------------------------------------------------------------

    def _transport(self, frame: Frame, data: bytes, i: int, end: int, wire_len: int, depth: int) -> bool:
        proto = frame.proto
        frame.l4 = l4 = data[i:end]
        frame.l4len = wire_len
        frame.trailer = len(data) - end
        n = len(l4)
        if proto == IPPROTO_TCP:
            if n < 20:
                return self._fail("short tcp header")
            frame.sport, frame.dport = (l4[0] << 8) | l4[1], (l4[2] << 8) | l4[3]
            frame.seq = (l4[4] << 24) | (l4[5] << 16) | (l4[6] << 8) | l4[7]
            frame.ack = (l4[8] << 24) | (l4[9] << 16) | (l4[10] << 8) | l4[11]
            off, frame.win = l4[12], (l4[14] << 8) | l4[15]
            frame.flags = l4[13] | ((off & 1) << 8)
            hlen = (off >> 4) * 4
            if hlen < 20:
                return self._fail("bad tcp header length")
            frame.payload = l4[hlen:]
            return True
        if proto == IPPROTO_UDP:
            if n < 8:
                return self._fail("short udp header")
            if l4[4] == 0 and l4[5] < 8:  # a length that cannot hold the header (Arkime: corrupt)
                return self._fail("bad udp length")
            frame.sport, frame.dport = (l4[0] << 8) | l4[1], (l4[2] << 8) | l4[3]
            frame.payload = l4[8:]
            return self._udp_tunnel(frame, depth) if depth < MAX_TUNNEL_DEPTH else True
        if proto == IPPROTO_SCTP:
            if n < 12:
                return self._fail("short sctp header")
            frame.sport, frame.dport = _PORTS(l4)
            frame.payload = l4[12:]
            return True
        if proto == IPPROTO_GRE:
            return self._gre(frame, l4, depth)
        if proto == IPPROTO_IPIP or proto == IPPROTO_IPV6:
            if not self._tunnel(frame, depth):
                return False
            return self._ip(frame, l4, 0, depth + 1)
        frame.payload = l4
        return True

    def _udp_tunnel(self, frame: Frame, depth: int) -> bool:
        """VXLAN, Geneve and GTP-U carry whole packets in UDP: decode to the inner session."""
        payload, dport = frame.payload, frame.dport
        if dport == UDP_VXLAN and len(payload) >= 8 + 14 and payload[0] & 0x08:
            inner, name, link = 8, "vxlan", True
        elif dport == UDP_VXLAN_GPE and len(payload) >= 8 and payload[3] in (1, 2, 3):
            inner, name, link = 8, "vxlan-gpe", payload[3] == 3
        elif dport == UDP_GENEVE and len(payload) >= 8 and payload[0] >> 6 == 0:
            inner = 8 + (payload[0] & 0x3F) * 4
            ptype = _U16(payload, 2)[0]
            if ptype not in (ETH_TEB, ETH_IP4, ETH_IP6):
                return True
            name, link = "geneve", ptype == ETH_TEB
        elif (dport == UDP_GTPU or frame.sport == UDP_GTPU) and len(payload) >= 8 and payload[0] >> 5 == 1:
            if payload[1] != 0xFF:  # only G-PDU carries user packets
                return True
            inner = 8 + (4 if payload[0] & 0x07 else 0)
            if payload[0] & 0x04:  # extension headers: each says its length in 4-byte units
                while inner <= len(payload) and payload[inner - 1]:
                    if inner >= len(payload):
                        return True
                    inner += payload[inner] * 4
            if inner >= len(payload) or payload[inner] >> 4 not in (4, 6):
                return True
            name, link = "gtp", False
        else:
            return True
        saved = (frame.src, frame.dst, frame.proto, frame.sport, frame.dport, frame.ttl)
        snapshot = frame.outer
        if not self._tunnel(frame, depth):
            return False
        frame.tag(name)
        ok = self._ethernet(frame, payload, inner, depth + 1) if link else self._ip(frame, payload, inner, depth + 1)
        if not ok:  # not really a tunnel: keep the outer UDP session
            frame.src, frame.dst, frame.proto, frame.sport, frame.dport, frame.ttl = saved
            frame.outer = snapshot
            if frame.tags:
                frame.tags.remove(name)
            return True
        return True

    def _gre(self, frame: Frame, l4: bytes, depth: int) -> bool:
        if len(l4) < 4:
            frame.payload = l4
            return True
        flags, ptype = _U16(l4, 0)[0], _U16(l4, 2)[0]
        version = flags & 0x7
        i = 4
        if flags & 0x8000 or flags & 0x4000:  # checksum or routing present
            i += 4
        if flags & 0x2000:  # key
            i += 4
        if flags & 0x1000:  # sequence number
            i += 4
        if version == 1:  # enhanced GRE (PPTP): acknowledgement number
            if flags & 0x0080:
                i += 4
        if i > len(l4) or depth >= MAX_TUNNEL_DEPTH:
            frame.payload = l4
            return True
        if ptype in (ETH_IP4, ETH_IP6, ETH_TEB, ETH_ERSPAN2, ETH_ERSPAN3, ETH_PPP, ETH_MPLS):
            frame.tag("gre")
            self._tunnel(frame, depth)
            if ptype == ETH_TEB:
                return self._ethernet(frame, l4, i, depth + 1)
            if ptype == ETH_ERSPAN2:
                return self._ethernet(frame, l4, i + 8, depth + 1)
            if ptype == ETH_ERSPAN3:
                extra = 8 if len(l4) > i + 11 and l4[i + 11] & 1 else 0
                return self._ethernet(frame, l4, i + 12 + extra, depth + 1)
            if ptype == ETH_PPP:
                frame.tag("ppp")  # Arkime names PPP carried in GRE (not PPPoE's)
                return self._ppp(frame, l4, i, depth + 1)
            if ptype == ETH_MPLS:
                return self._mpls(frame, l4, i, depth + 1)
            return self._ip(frame, l4, i, depth + 1)
        frame.payload = l4
        return True
