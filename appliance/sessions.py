"""The session table: bidirectional flows with Arkime's semantics.

A frame from ``decode`` finds its session by a direction-free key, updates per-direction
counters, and for TCP goes through Arkime's small in-order queue so that data bytes, the first
payload bytes and what protocol parsers see are what Arkime would count. Timeouts run on packet
time, so an import gives the same sessions as a live capture of the same traffic. Finished
sessions (and segments of long ones) go to ``on_save``; nothing is lost when the table is full:
the oldest idle session is saved first.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from appliance.decode import Frame
from appliance.memo import itself, remembered

if TYPE_CHECKING:  # for the compiler: calls into the application layer are then direct calls
    from appliance.protocols import AppLayer, Parser

TH_FIN: Final = 1
TH_SYN: Final = 2
TH_RST: Final = 4
TH_PSH: Final = 8
TH_ACK: Final = 16
TH_URG: Final = 32
TH_ECE: Final = 64
TH_CWR: Final = 128
MAX_TCP_QUEUE: Final = 256  # Arkime's maxTcpOutOfOrderPackets: past this the stream is given up
# The order of ``Session.flags`` (the counters n_syn ... n_dstzero).
FLAG_NAMES: Final = ("syn", "syn-ack", "ack", "psh", "fin", "rst", "urg", "srcZero", "dstZero")

# IP protocols that Arkime keeps in one session per protocol, and the names it gives IP protocols.
PROTOCOL_SESSIONS: Final = frozenset((2, 103))
DHCP_PORTS: Final = (67, 68)
IP_PROTOCOL_NAMES: Final = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp", 132: "sctp", 50: "esp", 51: "esp",
                            2: "igmp", 89: "ospf", 103: "pim"}
ETHER_NAMES: Final = {0x0806: "arp", 0x88CC: "lldp"}


def _ether_key(frame: Frame, vlan: int) -> tuple[Any, ...]:
    """Sessions of non-IP frames: ARP by the address asked about, the rest by type and receiver."""
    payload = frame.payload
    if frame.ethertype == 0x0806 and len(payload) >= 28:
        asked = payload[24:28] if payload[7] == 1 else payload[14:18]
        return ("arp", asked, vlan)
    if frame.ethertype <= 1500:  # 802.3: the type field is a length, so it cannot key the session
        return ("llc", frame.dst_mac, vlan)
    return ("ether", frame.ethertype, frame.dst_mac, vlan)


def ether_protocol(frame: Frame) -> str:
    """Arkime's protocol name for a non-IP frame (802.3 frames carry a length, not a type)."""
    name = ETHER_NAMES.get(frame.ethertype)
    if name:
        return name
    if frame.ethertype > 1500:
        return "unknown-ether"
    llc = frame.payload
    if len(llc) >= 4 and llc[0] == 0xFE and llc[1] == 0xFE and llc[3] == 0x83:
        return "isis"
    if len(llc) >= 3 and llc[2] & 0xEF == 0xAF:
        return "xid"
    return "corrupt-ether"


# The empty pairs every session starts with (immutable, so all sessions share them).
NO_MACS: Final[tuple[tuple[bytes, ...], tuple[bytes, ...]]] = ((), ())
NO_BYTES: Final[tuple[bytes, bytes]] = (b"", b"")
BYTE: Final = [bytes((i,)) for i in range(256)]
# Distinct values kept for sharing; checked as sessions start (a session adds only a few).
MAX_SHARED: Final = 16384
# Compressing idle sessions (compressSessionsAbove, compressed_sessions): a session idle this
# long (packet time) may be compressed; the table looks for such sessions this often while it is
# over the limit (more often than it sweeps: at 5,000 new sessions a second, each second a session
# waits as an object is ~7 MiB); one look compresses, one sweep wakes, at most so many.
COMPRESS_IDLE_US: Final = 500_000
COMPRESS_EVERY_US: Final = 250_000
COMPRESS_PER_SWEEP: Final = 20_000
WAKE_PER_SWEEP: Final = 500
# Arkime's limits per timeout check (it checks before every packet; see SessionTable.sweep).
SWEEP_IDLE_MAX: Final = 10
SWEEP_SEGMENTS_MAX: Final = 50

# Protocol lists are tuples shared by every session with the same list (a handful of distinct
# ones: ("tcp", "tls"), ("udp", "dns"), ...): a list of its own cost each session 88 bytes.
_PROTOCOL_LISTS: Final[dict[tuple[str, ...], tuple[str, ...]]] = {}
_MAX_PROTOCOL_LISTS: Final = 4096


def _shared_protocols(names: tuple[str, ...]) -> tuple[str, ...]:
    shared: tuple[str, ...] = remembered(_PROTOCOL_LISTS, names, itself, _MAX_PROTOCOL_LISTS)
    return shared


# Packet positions are kept as 8-byte unsigned machine integers: 'L' where that is 8 bytes (every
# 64-bit Linux), as positions above 2**30 (file_number << 40 | offset) go into an unsigned long
# digit by digit, where 'Q' sends each through CPython's general int-to-bytes routine, twice per
# append (~580 instructions a packet against ~300).
POSITION_TYPE: Final = "L" if array("L").itemsize == 8 else "Q"


# Timeout classes: each has its own idle queue so that expiry is a look at the queue's head.
Q_TCP: Final = 0
Q_UDP: Final = 1
Q_ICMP: Final = 2
Q_SCTP: Final = 3
Q_ESP: Final = 4
Q_OTHER: Final = 5


# The fields of ``Session.state``/``Session.restore``, in order: every slot but the key, the
# timeout class and the chain links, which belong to the table.
STATE_FIELDS: Final = (
    "proto", "ipver", "addr1", "addr2", "port1", "port2", "ethertype", "first", "last",
    "seg_first", "src_packets", "dst_packets", "src_bytes", "dst_bytes", "src_data", "dst_data",
    "src_seq", "dst_seq", "src_close", "dst_close", "src_isn", "dst_isn", "macs", "ttls", "vlans",
    "payload8", "n_syn", "n_synack", "n_ack", "n_psh", "n_fin", "n_rst", "n_urg", "n_srczero",
    "n_dstzero", "syn_time", "ack_time", "syn_set", "tcp_queue", "closing", "protocols", "_fields",
    "segments", "outer", "icmp", "positions", "parsers", "tags", "fid", "consumed", "pending",
    "have_tcp", "stop_tcp", "src_low",
)


class Session:
    """One bidirectional flow; slots because there can be a hundred thousand of them."""

    __slots__ = (
        "key", "queue", "proto", "ipver", "addr1", "addr2", "port1", "port2", "ethertype",
        "first", "last", "seg_first", "src_packets", "dst_packets", "src_bytes", "dst_bytes",
        "src_data", "dst_data", "src_seq", "dst_seq", "src_close", "dst_close", "src_isn", "dst_isn",
        "macs", "ttls", "vlans", "payload8", "n_syn", "n_synack", "n_ack", "n_psh", "n_fin", "n_rst",
        "n_urg", "n_srczero", "n_dstzero",
        "syn_time", "ack_time", "syn_set", "tcp_queue", "closing",
        "protocols", "_fields", "segments", "outer", "icmp", "positions", "parsers", "tags", "fid",
        "consumed", "pending", "older", "newer", "age_older", "age_newer",
        "have_tcp", "stop_tcp", "src_low",
    )

    def __init__(self, key: Any, queue: int, frame: Frame) -> None:
        self.key = key
        self.queue = queue
        self.proto = frame.proto
        self.ipver = frame.ipver
        self.addr1, self.addr2 = frame.src, frame.dst
        self.port1, self.port2 = frame.sport, frame.dport
        self.ethertype = frame.ethertype
        self.first = self.last = self.seg_first = frame.ts
        # Per-direction numbers (src_ the source's side, dst_ the destination's) are native
        # integer fields, 8 bytes each inside the object. As one list they cost 152 bytes plus a
        # 32-byte int object for every value above 256 (byte counts, sequence numbers): ~400
        # bytes per open session, and a new int object for every packet's byte count.
        self.src_packets = self.dst_packets = 0
        self.src_bytes = self.dst_bytes = 0  # captured bytes of the packets
        self.src_data = self.dst_data = 0  # application bytes, as Arkime counts them
        self.src_seq = self.dst_seq = 0  # the next TCP sequence number expected
        self.src_close = self.dst_close = 0  # TCP close state: 1 FIN seen, 2 closed
        # Initial sequence numbers, -1 until seen: a SYN with another one reuses the ports.
        self.src_isn = self.dst_isn = -1
        # MACs, TTLs and first payload bytes per direction are immutable pairs that the table
        # shares between sessions (``SessionTable.shared``): a new value replaces the pair.
        self.macs: tuple[tuple[bytes, ...], tuple[bytes, ...]] = NO_MACS
        self.ttls: tuple[bytes, bytes] = NO_BYTES  # each side's distinct TTLs as bytes, at most 10
        self.vlans: list[int] | None = None
        self.payload8: tuple[bytes, bytes] = NO_BYTES
        # Arkime's TCP flag counters (tcpflags.*), kept for TCP sessions: native fields,
        # 72 bytes inside the object, where a list of nine took 128 bytes more beside it.
        self.n_syn = self.n_synack = self.n_ack = self.n_psh = self.n_fin = self.n_rst = self.n_urg = 0
        self.n_srczero = self.n_dstzero = 0
        self.syn_time = self.ack_time = 0
        self.syn_set = 0
        self.tcp_queue: list[list[Any]] | None = None  # out-of-order TCP data; a list only while some waits
        self.closing = 0  # packet time at which a TCP close was seen, 0 if open
        self.protocols: tuple[str, ...] = ()
        self._fields: dict[str, Any] | None = None  # see ``fields``
        self.segments = 1
        self.outer: list[tuple[bytes, bytes, bytes | None, bytes | None]] | None = None
        self.icmp: tuple[list[int], list[int]] | None = None
        # Packet positions as 8-byte machine integers (POSITION_TYPE; a list held a 32-byte int
        # per packet); positions are offsets or file_number << 40 | offset, far below 2**64.
        self.positions = array(POSITION_TYPE)
        self.parsers: tuple[Parser, ...] | None = None
        self.tags: list[str] | None = None
        self.fid = 0
        self.consumed = 0  # bit d: side d's first data was classified (an int, not a 72-byte list)
        self.pending: list[Any] | None = None  # mid-stream data: [count, direction, first payload]
        # Links of the table's chains (see Chain): idle order, and for TCP the segment-start order.
        self.older: Session | None = None
        self.newer: Session | None = None
        self.age_older: Session | None = None
        self.age_newer: Session | None = None
        # The bools last and together: the compiled class lays its fields out in the order they
        # are first set, and one byte each between 8-byte fields would pad each to 8.
        self.have_tcp = False
        self.stop_tcp = False
        # Whether the source's address + port sorts first in the key: the fast path's direction
        # test (a shared bool rather than 40 bytes of the source's address and port).
        self.src_low = True

    # --- the compressed form (compressed_sessions) ---------------------------------------------
    # Field by field rather than by name: compiled, these are direct loads and stores (~0.5 µs
    # a session against ~6 µs through getattr/setattr); ``STATE_FIELDS`` names the order, and
    # tests/test_compressed_sessions.py checks it against the class.

    def state(self) -> list[Any]:
        """What a compressed session keeps: every field but its key, timeout class and links,
        in ``STATE_FIELDS`` order (packet positions as bytes)."""
        return [self.proto, self.ipver, self.addr1, self.addr2, self.port1, self.port2, self.ethertype,
                self.first, self.last, self.seg_first, self.src_packets, self.dst_packets, self.src_bytes,
                self.dst_bytes, self.src_data, self.dst_data, self.src_seq, self.dst_seq, self.src_close,
                self.dst_close, self.src_isn, self.dst_isn, self.macs, self.ttls, self.vlans, self.payload8,
                self.n_syn, self.n_synack, self.n_ack, self.n_psh, self.n_fin, self.n_rst, self.n_urg,
                self.n_srczero, self.n_dstzero, self.syn_time, self.ack_time, self.syn_set, self.tcp_queue,
                self.closing, self.protocols, self._fields, self.segments, self.outer, self.icmp,
                self.positions.tobytes(), self.parsers, self.tags, self.fid, self.consumed, self.pending,
                self.have_tcp, self.stop_tcp, self.src_low]

    def restore(self, values: list[Any]) -> None:
        """Set the fields from ``state()``'s list."""
        self.proto = values[0]
        self.ipver = values[1]
        self.addr1 = values[2]
        self.addr2 = values[3]
        self.port1 = values[4]
        self.port2 = values[5]
        self.ethertype = values[6]
        self.first = values[7]
        self.last = values[8]
        self.seg_first = values[9]
        self.src_packets = values[10]
        self.dst_packets = values[11]
        self.src_bytes = values[12]
        self.dst_bytes = values[13]
        self.src_data = values[14]
        self.dst_data = values[15]
        self.src_seq = values[16]
        self.dst_seq = values[17]
        self.src_close = values[18]
        self.dst_close = values[19]
        self.src_isn = values[20]
        self.dst_isn = values[21]
        self.macs = values[22]
        self.ttls = values[23]
        self.vlans = values[24]
        self.payload8 = values[25]
        self.n_syn = values[26]
        self.n_synack = values[27]
        self.n_ack = values[28]
        self.n_psh = values[29]
        self.n_fin = values[30]
        self.n_rst = values[31]
        self.n_urg = values[32]
        self.n_srczero = values[33]
        self.n_dstzero = values[34]
        self.syn_time = values[35]
        self.ack_time = values[36]
        self.syn_set = values[37]
        self.tcp_queue = values[38]
        self.closing = values[39]
        self.protocols = values[40]
        self._fields = values[41]
        self.segments = values[42]
        self.outer = values[43]
        self.icmp = values[44]
        self.positions = array(POSITION_TYPE, values[45])
        self.parsers = values[46]
        self.tags = values[47]
        self.fid = values[48]
        self.consumed = values[49]
        self.pending = values[50]
        self.have_tcp = values[51]
        self.stop_tcp = values[52]
        self.src_low = values[53]

    @property
    def flags(self) -> list[int] | None:
        """The TCP flag counters in ``FLAG_NAMES`` order; None for a session that is not TCP (a
        corrupt-ip session of TCP packets is not: it is kept with the other queue's sessions)."""
        if self.queue != Q_TCP:
            return None
        return [self.n_syn, self.n_synack, self.n_ack, self.n_psh, self.n_fin, self.n_rst, self.n_urg,
                self.n_srczero, self.n_dstzero]

    def clear_flags(self) -> None:
        self.n_syn = self.n_synack = self.n_ack = self.n_psh = self.n_fin = self.n_rst = self.n_urg = 0
        self.n_srczero = self.n_dstzero = 0

    @property
    def packets(self) -> list[int]:
        """Packets sent by the source and by the destination (a view for the tests)."""
        return [self.src_packets, self.dst_packets]

    # Direction-indexed access for the table (d: 0 source, 1 destination).
    def add_packet(self, d: int, caplen: int) -> None:
        if d:
            self.dst_packets += 1
            self.dst_bytes += caplen
        else:
            self.src_packets += 1
            self.src_bytes += caplen

    def add_data(self, d: int, n: int) -> None:
        if d:
            self.dst_data += n
        else:
            self.src_data += n

    def next_seq(self, d: int) -> int:
        return self.dst_seq if d else self.src_seq

    def set_next_seq(self, d: int, seq: int) -> None:
        if d:
            self.dst_seq = seq
        else:
            self.src_seq = seq

    def close_state(self, d: int) -> int:
        return self.dst_close if d else self.src_close

    def set_close_state(self, d: int, state: int) -> None:
        if d:
            self.dst_close = state
        else:
            self.src_close = state

    def isn(self, d: int) -> int:
        return self.dst_isn if d else self.src_isn

    def set_isn(self, d: int, isn: int) -> None:
        if d:
            self.dst_isn = isn
        else:
            self.src_isn = isn

    @property
    def fields(self) -> dict[str, Any]:
        """Fields written by the parsers, as flat Arkime paths; made on first use: an open session
        rarely has any before it is saved, and an empty dict of its own cost each one 80 bytes."""
        fields = self._fields
        if fields is None:
            fields = self._fields = {}
        return fields

    @fields.setter
    def fields(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def add_protocol(self, name: str) -> None:
        if name not in self.protocols:
            self.protocols = _shared_protocols(self.protocols + (name,))

    def remove_protocol(self, name: str) -> None:
        if name in self.protocols:
            self.protocols = _shared_protocols(tuple(p for p in self.protocols if p != name))

    def add_tag(self, name: str) -> None:
        if self.tags is None:
            self.tags = [name]
        elif name not in self.tags:
            self.tags.append(name)


def _esp_data_length(frame: Frame) -> int:
    """IPsec data: what follows the first 8 bytes (ESP's SPI and sequence; Arkime does the same for AH)."""
    if frame.proto == 51 and not _ah_carries_esp(frame):
        return 0
    return max(0, len(frame.l4) - 8)


def _ah_carries_esp(frame: Frame) -> bool:
    """Arkime steps over an IPv4 authentication header to the protocol it names: ESP makes an esp
    session (kept under IP protocol 51), anything else an unknown-ip one, which counts no data."""
    return len(frame.l4) > 0 and frame.l4[0] == 50


def _reuses_ports(session: Session, frame: Frame) -> bool:
    """A SYN whose sequence number is not the one this session started with: a new connection."""
    if frame.proto != 6 or frame.flags & (TH_SYN | TH_ACK) != TH_SYN:
        return False
    d = 0 if frame.src == session.addr1 and frame.sport == session.port1 else 1
    isn = session.isn(d)
    return isn >= 0 and isn != frame.seq


def seq_diff(a: int, b: int) -> int:
    """b - a on the 32-bit sequence circle (Arkime's tcp_sequence_diff)."""
    if a > 0xC0000000 and b < 0x40000000:
        return b + 0x100000000 - a
    if b > 0xC0000000 and a < 0x40000000:
        return b - a - 0x100000000
    return b - a


class Chain:
    """Sessions oldest first: a doubly linked list threaded through the sessions' own link fields,
    ``older``/``newer`` for the idle order of a timeout class, ``age_older``/``age_newer`` for
    the order of TCP segment starts (tcpSaveTimeout).

    An OrderedDict entry kept that order for ~105 bytes a session (a TCP session was in two) and
    a method call per packet; a session's links take 8 bytes each, and moving one to the newest
    end is a few stores."""

    __slots__ = ("head", "tail", "age")

    def __init__(self, age: bool) -> None:
        self.head: Session | None = None
        self.tail: Session | None = None
        self.age = age  # which pair of link fields this chain uses

    def append(self, session: Session) -> None:
        """Add a session that is not in the chain, as the newest."""
        tail = self.tail
        if self.age:
            session.age_older, session.age_newer = tail, None
            if tail is not None:
                tail.age_newer = session
        else:
            session.older, session.newer = tail, None
            if tail is not None:
                tail.newer = session
        if tail is None:
            self.head = session
        self.tail = session

    def remove(self, session: Session) -> None:
        """Take out a session that is in the chain (``holds``)."""
        if self.age:
            older, newer = session.age_older, session.age_newer
            session.age_older = session.age_newer = None
            if older is not None:
                older.age_newer = newer
            if newer is not None:
                newer.age_older = older
        else:
            older, newer = session.older, session.newer
            session.older = session.newer = None
            if older is not None:
                older.newer = newer
            if newer is not None:
                newer.older = older
        if older is None:
            self.head = newer
        if newer is None:
            self.tail = older

    def insert(self, session: Session) -> None:
        """Add a session that is not in the chain at its place in time (its last packet, or the
        start of its segment), searched from the oldest end: a session that comes back from
        compression is older than most."""
        node = self.head
        if self.age:
            start = session.seg_first
            while node is not None and node.seg_first <= start:
                node = node.age_newer
        else:
            last = session.last
            while node is not None and node.last <= last:
                node = node.newer
        if node is None:
            self.append(session)
            return
        if self.age:
            older = node.age_older
            session.age_older, session.age_newer = older, node
            node.age_older = session
            if older is not None:
                older.age_newer = session
        else:
            older = node.older
            session.older, session.newer = older, node
            node.older = session
            if older is not None:
                older.newer = session
        if older is None:
            self.head = session

    def holds(self, session: Session) -> bool:
        return (session.age_older if self.age else session.older) is not None or self.head is session

    def touch(self, session: Session) -> None:
        """Make a session of the chain the newest."""
        if self.tail is not session:
            self.remove(session)
            self.append(session)


def _seen(values: tuple[bytes, ...], value: bytes) -> bool:
    """``value in values``, the usual case (the one MAC a side has) first: compiled, ``in`` on a
    tuple goes through Python's generic comparison, a bytes ``==`` is a length check and memcmp."""
    return (len(values) > 0 and values[0] == value) or value in values


def _side(pair: tuple[bytes, bytes], d: int) -> bytes:
    """``pair[d]``. Compiled, a fixed-length tuple indexed by a variable is first built as a
    Python tuple (~200 instructions with its freeing, several times a packet); by a constant, it
    is read where it is."""
    return pair[0] if d == 0 else pair[1]


def _macs_side(macs: tuple[tuple[bytes, ...], tuple[bytes, ...]], d: int) -> tuple[bytes, ...]:
    """``macs[d]``, for the same reason as ``_side``."""
    return macs[0] if d == 0 else macs[1]


def _has_byte(data: bytes, byte: int) -> bool:
    """``byte in data``, the usual case (the one TTL a side has) first, for the same reason."""
    return (len(data) > 0 and data[0] == byte) or byte in data


class SessionTable:
    """Builds sessions from frames; calls ``on_save(session)`` for each finished one."""

    def __init__(self, settings: Any, on_save: Callable[[Session], None], app: AppLayer | None = None) -> None:
        self.on_save = on_save
        self.app = app
        s = settings
        us = 1_000_000
        # Typed ints (the settings arrive untyped): compiled, the checks made for every packet and
        # every new session compare machine integers instead of calling Python's comparison.
        self.timeouts: list[int] = [int(t * us) for t in (s.tcpTimeout, s.udpTimeout, s.icmpTimeout,
                                                           s.sctpTimeout, s.espTimeout, s.udpTimeout)]
        self.save_timeout: int = int(s.tcpSaveTimeout * us)
        self.closing_timeout: int = int(s.tcpClosingTimeout * us)
        self.max_packets: int = int(s.maxPackets)
        self.max_streams: int = int(s.maxStreams)
        # Per timeout class: the open sessions by key, and the same sessions least recently
        # seen first (expiry looks at the chain's head).
        self.tables: list[dict[Any, Session]] = [{} for _ in range(6)]
        self.idle: list[Chain] = [Chain(False) for _ in range(6)]
        # TCP sessions by the start of their current segment, for tcpSaveTimeout.
        self.tcp_age = Chain(True)
        self.count = 0
        # TCP sessions that saw their close, saved after a delay. A dict, not a set: a set of
        # sessions iterates in memory-address order, so the order in which closed sessions were
        # saved (and written) changed with any change in allocation; a dict keeps the order of
        # the closes.
        self.closing: dict[Session, None] = {}
        self.clock = 0  # packet time of the newest packet
        self.next_sweep = 0
        self.next_second = 0  # packet time of the next whole second (see sweep)
        self.saved = 0
        self.segments_saved = 0
        # Equal immutable values of different sessions (MAC pairs, TTLs, first payload bytes)
        # are one object: on a LAN most sessions have the same MACs, TTLs and "GET / HT".
        self.shared: dict[Any, Any] = {}
        # Idle sessions past the first compressSessionsAbove open ones, kept compressed: per
        # timeout class, key -> bytes (compressed_sessions). ``wake`` is a heap of the seconds at
        # which some are due (idle or save timeout), ``wake_at`` each second's [queue, key, ...];
        # an entry whose session came back, or was compressed again since, is skipped.
        self.compress_above: int = int(s.compressSessionsAbove)
        self.compressed: list[dict[Any, bytes]] = [{} for _ in range(6)]
        self.compressed_count = 0
        self.wake: list[int] = []
        self.wake_at: dict[int, list[Any]] = {}
        self.compressor: Any = None  # made at the first compression
        self.next_compress = 0

    # --- the packet path --------------------------------------------------------------------

    def add(self, frame: Frame) -> None:
        """Account one decoded frame to its session."""
        key, queue = self._key(frame)
        sessions = self.tables[queue]
        session = sessions.get(key)
        if session is None and self.compressed_count:
            session = self._expand(queue, key)
        ts = frame.ts
        if session is not None and (
            (session.closing and ts - session.closing > self.closing_timeout) or _reuses_ports(session, frame)
        ):
            # Closed and past the closing delay, or a SYN with a new ISN reuses the ports.
            self._save(self._remove(session))
            session = None
        if session is None:
            session = self._new(key, queue, frame)
            sessions[key] = session
            self.idle[queue].append(session)
            if queue == Q_TCP:
                self.tcp_age.append(session)
        else:
            self.idle[queue].touch(session)
        self._count(session, frame)
        if ts > self.clock:
            self.clock = ts
            if ts >= self.next_sweep:
                self.sweep(ts)
        if session.src_packets + session.dst_packets >= self.max_packets:
            self._mid_save(session)
        # New sessions come this way (not add_ipv4's), so this is where the table grows.
        if ts >= self.next_compress and self.count - self.compressed_count > self.compress_above:
            self.compress_idle(ts)

    def add_ipv4(self, ts: int, caplen: int, data: bytes, offset: int) -> bool:  # noqa: C901, PLR0911, PLR0912
        """The fast path: an Ethernet/IPv4 TCP or UDP packet of a session already known.

        Handles the common case only (no IP options or fragments, no VLAN, no SYN/FIN/RST/URG, no
        zero window, TCP data in order) and returns False before changing anything for every
        other packet, which then takes the general path (``decode`` + ``add``). The effect on
        the session is the same either way; ``tests/test_sessions.py`` checks both paths agree.
        """
        if data[12] != 8 or data[13] != 0 or data[14] != 0x45 or data[20] & 0x3F or data[21]:
            return False
        proto = data[23]
        if proto == 6:
            sessions = self.tables[Q_TCP]
        elif proto == 17:
            sessions = self.tables[Q_UDP]
            if data[34] == 0 and data[35] in (67, 68):  # DHCP has its own key
                return False
            if data[38] == 0 and data[39] < 8:  # a UDP length too short for its header: corrupt
                return False
        else:
            return False
        # The key (see _key): both addresses, then both ports, the lower address + port first.
        # Compared as numbers and cut as one slice when the sender is the lower side.
        sip = (data[26] << 24) | (data[27] << 16) | (data[28] << 8) | data[29]
        dip = (data[30] << 24) | (data[31] << 16) | (data[32] << 8) | data[33]
        low = sip < dip or (sip == dip and (data[34] << 8) | data[35] <= (data[36] << 8) | data[37])
        key = data[26:38] if low else data[30:34] + data[26:30] + data[36:38] + data[34:36]
        session = sessions.get(key)
        if session is None or session.closing:
            return False
        end = 14 + ((data[16] << 8) | data[17])
        if proto == 6:
            flags = data[47]
            if flags & 0x27 or (data[48] == 0 and data[49] == 0) or session.stop_tcp:
                return False  # SYN, FIN, RST, URG or a zero window: the general path counts those
            d = 0 if low is session.src_low else 1
            if session.close_state(1 - d) == 1 or session.tcp_queue:  # the other side sent a FIN, or data is queued
                return False
            start = 34 + (data[46] >> 4) * 4
            n = min(end, len(data)) - start
            if n < 0:
                return False
            seq = (data[38] << 24) | (data[39] << 16) | (data[40] << 8) | data[41]
            want = session.next_seq(d)
            if n and (want == 0 or seq != want):
                return False
            if flags & 0x1F == 0x10:
                session.n_ack += 1
                if not session.ack_time:
                    session.ack_time = ts - session.first + 1
            if flags & 0x08:
                session.n_psh += 1
        else:
            d = 0 if low is session.src_low else 1
            start, n = 42, min(end, len(data)) - 42
        self.idle[session.queue].touch(session)
        session.last = ts
        session.add_packet(d, caplen)
        session.positions.append(offset)
        src, dst, macs = data[6:12], data[0:6], session.macs
        if not _seen(_macs_side(macs, d), src) or not _seen(_macs_side(macs, 1 - d), dst):
            session.macs = self._add_macs(macs, d, src, dst)
        ttls = session.ttls
        mine = _side(ttls, d)
        if not _has_byte(mine, data[22]) and len(mine) < 10:
            session.ttls = self._with(ttls, d, mine + data[22:23])
        if n > 0:
            payload = data[start : start + n]
            if proto == 6:
                session.set_next_seq(d, (want + n) & 0xFFFFFFFF)  # the data started at ``want`` (checked above)
            session.add_data(d, n)
            pair = session.payload8
            p8 = _side(pair, d)
            if len(p8) < 8 and (proto == 6 or not p8):  # TCP fills 8 bytes from the stream, UDP one datagram
                session.payload8 = self._with(pair, d, p8 + payload[: 8 - len(p8)])
            self._to_app(session, payload, d)
        if ts > self.clock:
            self.clock = ts
            if ts >= self.next_sweep:
                self.sweep(ts)
        if session.src_packets + session.dst_packets >= self.max_packets:
            self._mid_save(session)
        return True

    def _key(self, frame: Frame) -> tuple[Any, int]:
        proto = frame.proto
        # VLANs are not part of the key: a mirror port often tags each direction differently.
        vlan = 0
        if frame.ipver == 0:
            return _ether_key(frame, vlan), Q_OTHER
        a, b = frame.src, frame.dst
        if frame.corrupt is not None:  # one corrupt-ip session per pair of addresses, as Arkime keeps
            return ("corrupt", a, b) if a <= b else ("corrupt", b, a), Q_OTHER
        if proto == 17 and frame.sport in DHCP_PORTS and frame.dport in DHCP_PORTS and len(frame.payload) >= 34:
            # DHCP answers go to an address the client does not have yet: key on the client's MAC.
            return ("dhcp", frame.payload[28:34], vlan), Q_UDP
        if proto == 6 or proto == 17 or proto == 132:
            # Bytes keys, the same ones the IPv4 fast path builds straight from the packet: the
            # lower (address, port) side's address, the other's, then their ports in that order.
            # Each protocol has its own table, so the protocol is not part of the key.
            ports = frame.l4[0:4]
            if a < b or (a == b and frame.sport <= frame.dport):
                k = a + b + ports
            else:
                k = b + a + ports[2:4] + ports[0:2]
            return k, Q_TCP if proto == 6 else (Q_UDP if proto == 17 else Q_SCTP)
        if proto in PROTOCOL_SESSIONS:
            # Multicast control protocols: one session per protocol, as Arkime keeps them.
            return (proto, vlan), Q_OTHER
        pair: tuple[Any, ...] = (a, b, proto, vlan) if a <= b else (b, a, proto, vlan)
        if proto == 1 or proto == 58:
            return pair, Q_ICMP
        return pair, Q_ESP if proto == 50 else Q_OTHER

    def _new(self, key: Any, queue: int, frame: Frame) -> Session:
        if self.count >= self.max_streams:
            self._evict()
        if len(self.shared) >= MAX_SHARED:
            self.shared.clear()  # sessions keep what they hold; only later ones share anew
        self.count += 1
        session = Session(key, queue, frame)
        proto = frame.proto
        # By queue, not by protocol: a corrupt-ip session of TCP or ICMP packets is neither.
        if queue == Q_TCP:
            flags = frame.flags
            if flags & (TH_SYN | TH_ACK) == TH_SYN | TH_ACK or (not flags & TH_SYN and frame.sport < frame.dport):
                # The SYN was missed: the answer's receiver (or the higher port) is the caller.
                session.addr1, session.addr2 = frame.dst, frame.src
                session.port1, session.port2 = frame.dport, frame.sport
        elif queue == Q_ICMP:
            session.icmp = ([], [])
        # One address object for all the sessions of an address (a home network has a few
        # devices, and a server is met again and again): 48 bytes each instead of per session.
        shared = self.shared
        session.addr1 = shared.setdefault(session.addr1, session.addr1)
        session.addr2 = shared.setdefault(session.addr2, session.addr2)
        # For keys of two equal endpoints both orders are "low", so both directions count as the source's.
        session.src_low = session.addr1 + session.port1.to_bytes(2, "big") <= session.addr2 + session.port2.to_bytes(2, "big")
        if frame.corrupt is not None:
            session.add_protocol("corrupt-ip")
        elif frame.ipver:
            known = proto != 51 or _ah_carries_esp(frame)
            session.add_protocol(IP_PROTOCOL_NAMES.get(proto, "unknown-ip") if known else "unknown-ip")
        else:
            session.add_protocol(ether_protocol(frame))
        if frame.tags:
            for name in frame.tags:
                session.add_protocol(name)
        if self.app is not None:
            self.app.start(session, frame)
        return session

    def _count(self, session: Session, frame: Frame) -> None:
        if frame.ipver and session.proto not in PROTOCOL_SESSIONS:
            d = 0 if frame.src == session.addr1 and frame.sport == session.port1 else 1
            if session.addr1 == session.addr2 and session.port1 == session.port2:
                d = 0
        else:
            d = 0
        session.last = frame.ts
        session.add_packet(d, frame.caplen)
        session.positions.append(frame.offset)
        src, dst = frame.src_mac, frame.dst_mac
        if src is not None:
            macs = session.macs
            # A session's first frame (inline: every session). Not ``macs is NO_MACS``: compiled,
            # that builds both as Python tuples and compares the new objects, never the same.
            if not macs[0] and not macs[1] and dst is not None:
                new: Any = ((src,), (dst,)) if d == 0 else ((dst,), (src,))  # Any: boxed once
                session.macs = self.shared.setdefault(new, new)
            elif not _seen(_macs_side(macs, d), src) or (dst is not None and not _seen(_macs_side(macs, 1 - d), dst)):
                session.macs = self._add_macs(macs, d, src, dst)
        if frame.ipver:
            ttls = session.ttls
            mine = _side(ttls, d)
            if not _has_byte(mine, frame.ttl) and len(mine) < 10:
                session.ttls = self._with(ttls, d, mine + BYTE[frame.ttl])
        if frame.vlans:
            self._add_vlans(session, frame.vlans, frame.dot1ad)
        if frame.outer and session.outer is None:
            session.outer = frame.outer
        if frame.flags == -1:  # a later IP fragment: counted, nothing to parse
            return
        proto = frame.proto
        if proto == 6:
            self._tcp(session, frame, d)
        elif proto == 17:
            self._datagram(session, frame.payload, d)
        elif proto == 132:
            self._sctp(session, frame.payload, d)
        elif proto == 1 or proto == 58:
            self._icmp(session, frame, d)
        elif proto == 50 or proto == 51:
            session.add_data(d, _esp_data_length(frame))
        if self.app is not None and session.parsers:
            self.app.packet(session, frame, d)

    def _to_app(self, session: Session, data: bytes, d: int) -> None:
        """Application bytes of side ``d``. The application layer classifies each side's first
        data and feeds attached parsers: past that, a side without parsers needs no call."""
        app = self.app
        if app is not None and (session.parsers or not session.consumed >> d & 1):
            app.data(session, data, d)

    def _with(self, pair: tuple[bytes, bytes], d: int, value: bytes) -> tuple[bytes, bytes]:
        """``pair`` with direction ``d`` replaced by ``value``: the shared copy (see ``shared``)."""
        # Any: the new pair is built as a Python tuple once, not once as the key and again as the value.
        new: Any = (value, pair[1]) if d == 0 else (pair[0], value)
        return self.shared.setdefault(new, new)

    def _add_macs(self, macs: tuple[tuple[bytes, ...], tuple[bytes, ...]], d: int, src: bytes,
                  dst: bytes | None) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
        """The MAC pair with ``src`` seen on side ``d`` and ``dst`` on the other."""
        mine, other = _macs_side(macs, d), _macs_side(macs, 1 - d)
        if src not in mine:
            mine += (src,)
        if dst is not None and dst not in other:
            other += (dst,)
        new: Any = (mine, other) if d == 0 else (other, mine)  # Any: see _with
        if len(mine) + len(other) > 4:
            return new  # a flow of many MACs: sharing its ever longer pairs would only hold them
        return self.shared.setdefault(new, new)

    def _add_vlans(self, session: Session, vlans: list[int], outer: list[int] | None) -> None:
        """All VLAN ids in ``network.vlan.id``; 802.1ad (QinQ service) and 802.1Q ids apart, too."""
        if session.vlans is None:
            session.vlans = []
        fields = session.fields
        for vid in vlans:
            if vid not in session.vlans:
                session.vlans.append(vid)
            path = "dot1ad.id" if outer and vid in outer else "dot1q.id"
            ids = fields.setdefault(path, [])
            if vid not in ids:
                ids.append(vid)

    def _datagram(self, session: Session, payload: bytes, d: int) -> None:
        n = len(payload)
        if not n:
            return
        session.add_data(d, n)
        if not session.payload8[d]:
            session.payload8 = self._with(session.payload8, d, payload[:8])
        self._to_app(session, payload, d)

    def _sctp(self, session: Session, chunks: bytes, d: int) -> None:
        """SCTP: every chunk counts as data, but parsers and payload8 see DATA chunks' user data."""
        session.add_data(d, len(chunks))
        i, n = 0, len(chunks)
        while i + 4 <= n:
            kind, length = chunks[i], (chunks[i + 2] << 8) | chunks[i + 3]
            if length < 4:
                return
            if kind == 0 and length > 16:
                user = chunks[i + 16 : i + length]
                if not session.payload8[d]:
                    session.payload8 = self._with(session.payload8, d, user[:8])
                self._to_app(session, user, d)
            i += (length + 3) & ~3

    def _icmp(self, session: Session, frame: Frame, d: int) -> None:
        l4 = frame.l4
        session.add_data(d, len(l4) + frame.trailer)  # to the end of the packet, as Arkime counts
        if len(l4) >= 2 and session.icmp is not None:
            types, codes = session.icmp
            if l4[0] not in types:
                types.append(l4[0])
            if l4[1] not in codes:
                codes.append(l4[1])

    # --- TCP: Arkime's counters and in-order queue ------------------------------------------

    def _tcp(self, session: Session, frame: Frame, d: int) -> None:  # noqa: C901, PLR0912
        flags, seq = frame.flags, frame.seq
        if frame.win == 0 and not flags & TH_RST:
            if d:
                session.n_dstzero += 1
            else:
                session.n_srczero += 1
        if flags & TH_URG:
            session.n_urg += 1
        if flags & TH_SYN:
            if flags & TH_ACK:
                session.n_synack += 1
                if not session.have_tcp:
                    session.set_next_seq(1 - d, frame.ack)
                    if session.isn(1 - d) < 0:
                        session.set_isn(1 - d, (frame.ack - 1) & 0xFFFFFFFF)
            else:
                session.n_syn += 1
                if not session.syn_time:
                    session.syn_time = frame.ts - session.first + 1
                    session.ack_time = 0
            session.have_tcp = True
            if not session.syn_set & (1 << d):
                session.set_next_seq(d, (seq + 1) & 0xFFFFFFFF)
                session.syn_set |= 1 << d
                if session.isn(d) < 0:
                    session.set_isn(d, seq)
            return
        if flags & TH_RST:
            session.n_rst += 1
            diff = seq_diff(seq, session.next_seq(d))
            if diff <= 0:
                if diff == 0 and not session.closing:
                    self._mark_closing(session, frame.ts)
                return
            session.set_close_state(d, 2)
        if flags & TH_FIN:
            session.n_fin += 1
            session.set_close_state(d, 1)
        if flags & (TH_FIN | TH_RST | TH_PSH | TH_SYN | TH_ACK) == TH_ACK:
            session.n_ack += 1
            if not session.ack_time:
                session.ack_time = frame.ts - session.first + 1
        if flags & TH_PSH:
            session.n_psh += 1
        if session.stop_tcp:
            return
        if session.next_seq(d) == 0 and session.have_tcp and session.n_synack == 0:
            # A SYN but no SYN-ACK seen: this side starts where we first see it (Arkime: no-syn-ack).
            session.set_next_seq(d, seq)
        if session.tcp_queue is not None and len(session.tcp_queue) > MAX_TCP_QUEUE:
            session.tcp_queue = None
            session.add_tag("incomplete-tcp")
            session.stop_tcp = True
            return
        if flags & (TH_ACK | TH_RST):
            other = 1 - d
            if session.close_state(other) == 1:
                session.set_close_state(other, 2)
                if session.close_state(d) == 2:
                    if not session.closing:
                        self._mark_closing(session, frame.ts)
                    return
        payload = frame.payload
        n = len(payload)
        if n <= 0 or flags & TH_RST:
            return
        if not session.have_tcp:
            # Joined mid-stream: Arkime cannot place the bytes in the stream and counts none;
            # queueing them would only hold memory. Like Arkime, a lone data packet is still
            # parsed when the session ends (see ``_save``), so only the first one is kept.
            if session.pending is None:
                session.pending = [1, d, payload[:65536]]
            else:
                session.pending[0] += 1
            return
        if seq_diff(session.next_seq(d), (seq + n) & 0xFFFFFFFF) <= 0:
            return  # all of it was seen already
        self._tcp_enqueue(session, [d, seq, frame.ack, payload])
        self._tcp_deliver(session)

    def _tcp_enqueue(self, session: Session, item: list[Any]) -> None:
        queue = session.tcp_queue
        if not queue:
            session.tcp_queue = [item]
            return
        d, seq, ack, payload = item
        for i in range(len(queue) - 1, -1, -1):
            od, oseq, oack, opayload = queue[i]
            diff = seq_diff(oseq if od == d else oack, seq)
            if diff == 0:
                if od == d:
                    if len(payload) > len(opayload):
                        queue[i] = item
                    return
                if seq_diff(ack, oseq) < 0:
                    queue.insert(i + 1, item)
                    return
            elif diff > 0:
                queue.insert(i + 1, item)
                return
        queue.insert(0, item)

    def _tcp_deliver(self, session: Session) -> None:
        queue = session.tcp_queue
        while queue:
            d, seq, _, payload = queue[0]
            want = session.next_seq(d)
            offset = seq_diff(seq, want)
            if offset < 0:
                return
            del queue[0]
            if offset >= len(payload):
                continue
            data = payload[offset:] if offset else payload
            p8 = session.payload8[d]
            if len(p8) < 8:
                session.payload8 = self._with(session.payload8, d, p8 + data[: 8 - len(p8)])
            session.set_next_seq(d, (want + len(data)) & 0xFFFFFFFF)
            session.add_data(d, len(data))
            self._to_app(session, data, d)
        session.tcp_queue = None  # all delivered: an open session holds no empty list

    # --- saving -----------------------------------------------------------------------------

    def sweep(self, now: int) -> None:
        """Save sessions idle past their timeout, mid-save TCP sessions past tcpSaveTimeout, and
        save closed ones past the closing delay.

        Like Arkime, the checks compare whole seconds of packet time and idle comes first, so
        the same capture always gives the same sessions and segments. Arkime saves at most 10
        idle sessions per queue and 50 segments per check, and checks before every packet; so
        when a limit is reached here, the next packet checks again instead of the next second
        (with one check a second, a link opening more than 10 flows a second piled up open
        sessions that were long past their timeout).
        """
        # Closing sessions and compression are looked at once a second, not at each repeat.
        new_second = now >= self.next_second
        if new_second:
            self.next_second = (now // 1_000_000 + 1) * 1_000_000
        self.next_sweep = self.next_second
        now_s = now // 1_000_000
        if self.wake and self.wake[0] <= now_s:
            self._wake(now_s)
        full = False
        for queue, chain in enumerate(self.idle):
            limit = now_s - self.timeouts[queue] // 1_000_000
            saved = 0
            while saved < SWEEP_IDLE_MAX:
                head = chain.head
                if head is None or head.last // 1_000_000 >= limit:
                    break
                self._save(self._remove(head))
                saved += 1
            full = full or saved == SWEEP_IDLE_MAX
        age = self.tcp_age
        limit = now_s - self.save_timeout // 1_000_000
        segments = 0
        while segments < SWEEP_SEGMENTS_MAX:
            session = age.head
            if session is None or session.seg_first // 1_000_000 >= limit:
                break
            segments += 1
            if session.src_packets or session.dst_packets:
                self._mid_save(session)
            else:  # nothing new since the last segment: no empty segment, just restart the clock
                session.seg_first = self.clock
                age.touch(session)
        if full or segments == SWEEP_SEGMENTS_MAX:
            self.next_sweep = now + 1
        if not new_second:
            return
        closing = self.closing
        if closing:
            limit = now - self.closing_timeout
            for session in [c for c in closing if c.closing < limit]:
                del closing[session]
                if self.tables[Q_TCP].get(session.key) is session:
                    self._save(self._remove(session))
        if self.count - self.compressed_count > self.compress_above:
            self.compress_idle(now)

    # --- compressed idle sessions --------------------------------------------------------------

    def compress_idle(self, now: int, idle_us: int = COMPRESS_IDLE_US, by_age: bool = True) -> int:
        """Compress the longest idle sessions, idle at least ``idle_us`` at packet time ``now``
        (and, ``by_age``, a quarter of their age), until at most compressSessionsAbove are left
        as objects (or the sweep's share is done); returns how many were. The table calls it as
        packet time goes on; tests call it after every packet."""
        if self.compressor is None:
            from appliance.compressed_sessions import SessionCompressor  # only tables that grow big need it

            self.compressor = SessionCompressor()
        self.next_compress = now + COMPRESS_EVERY_US
        budget = min(self.count - self.compressed_count - self.compress_above, COMPRESS_PER_SWEEP)
        steps = 2 * budget + 100  # sessions that cannot be compressed are passed over, not retried at length
        before = now - idle_us
        done = 0
        for chain in self.idle:
            session = chain.head
            while session is not None and done < budget and steps > 0 and session.last <= before:
                newer = session.newer
                steps -= 1
                # The longer a session has been going, the longer it must be quiet: one that has
                # exchanged packets for a minute likely sends again soon, and compressing it
                # only to expand it at its next packet costs ~35 µs for nothing.
                patient = not by_age or (now - session.last) * 4 >= session.last - session.first
                if patient and not session.closing and self._compress(session, now // 1_000_000):
                    done += 1
                session = newer
        return done

    def _compress(self, session: Session, now_s: int) -> bool:
        queue = session.queue
        due = session.last // 1_000_000 + self.timeouts[queue] // 1_000_000 + 1
        if queue == Q_TCP:
            due = min(due, session.seg_first // 1_000_000 + self.save_timeout // 1_000_000 + 1)
        if due <= now_s + 1:
            return False  # its timeout is (nearly) due: the sweep is about to save it
        blob: bytes | None = self.compressor.compress(session, due)
        if blob is None:
            return False
        key = session.key
        del self.tables[queue][key]
        self.idle[queue].remove(session)
        if queue == Q_TCP:
            self.tcp_age.remove(session)
        self.compressed[queue][key] = blob
        self.compressed_count += 1
        entries = self.wake_at.get(due)
        if entries is None:
            entries = self.wake_at[due] = []
            heapq.heappush(self.wake, due)
        entries.append(queue)
        entries.append(key)
        return True

    def _expand(self, queue: int, key: Any) -> Session | None:
        """The compressed session of this key, back in the table as the newest (a packet came
        for it); None if there is none."""
        blob = self.compressed[queue].pop(key, None)
        if blob is None:
            return None
        session = self._restore(blob, key, queue)
        self._reopen(session, True)
        return session

    def _reopen(self, session: Session, newest: bool) -> None:
        """Put a restored session back in its table and chains: as the newest of its idle chain
        (a packet came for it), or at its place in time (its timeout is due)."""
        queue = session.queue
        self.tables[queue][session.key] = session
        if newest:
            self.idle[queue].append(session)
        else:
            self.idle[queue].insert(session)
        if queue == Q_TCP:
            self.tcp_age.insert(session)

    def _restore(self, blob: bytes, key: Any, queue: int) -> Session:
        """A compressed session as an object again, sharing what open sessions share."""
        self.compressed_count -= 1
        session: Session = self.compressor.expand(blob, key, queue)
        shared = self.shared
        session.addr1 = shared.setdefault(session.addr1, session.addr1)
        session.addr2 = shared.setdefault(session.addr2, session.addr2)
        session.protocols = _shared_protocols(session.protocols)
        # The empty pairs are the constants (shared like the rest; empty MACs mark a session's first frame).
        session.macs = NO_MACS if session.macs == NO_MACS else shared.setdefault(session.macs, session.macs)
        session.ttls = self._shared_pair(session.ttls)
        session.payload8 = self._shared_pair(session.payload8)
        return session

    def _shared_pair(self, pair: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
        return NO_BYTES if pair == NO_BYTES else self.shared.setdefault(pair, pair)

    def _due(self, now_s: int, budget: int) -> list[Session]:
        """Up to ``budget`` compressed sessions due by ``now_s``, earliest first, taken out of
        compression (in no table or chain yet)."""
        found: list[Session] = []
        wake, wake_at, compressed = self.wake, self.wake_at, self.compressed
        while wake and wake[0] <= now_s and len(found) < budget:
            second = wake[0]
            entries = wake_at[second]
            while entries and len(found) < budget:
                key = entries.pop()
                queue: int = entries.pop()
                blob = compressed[queue].get(key)
                if blob is not None and self.compressor.due(blob) == second:  # else a stale entry
                    del compressed[queue][key]
                    found.append(self._restore(blob, key, queue))
            if not entries:
                heapq.heappop(wake)
                del wake_at[second]
        return found

    def _wake(self, now_s: int) -> None:
        """Put the compressed sessions whose timeout is due back in their place in the chains,
        where this sweep finds them."""
        for session in self._due(now_s, WAKE_PER_SWEEP):
            self._reopen(session, False)

    def _evict(self) -> None:
        """The table is full: save the session that has been idle the longest (of the compressed
        ones, which have all been idle longer than the rest, the one whose timeout comes first)."""
        if self.compressed_count:
            for session in self._due(1 << 62, 1):
                self._save(session)
                return
        oldest: Session | None = None
        for chain in self.idle:
            head = chain.head
            if head is not None and (oldest is None or head.last < oldest.last):
                oldest = head
        if oldest is not None:
            self._save(self._remove(oldest))

    def _remove(self, session: Session) -> Session:
        """Take an open session out of its timeout class (its table and idle chain)."""
        del self.tables[session.queue][session.key]
        self.idle[session.queue].remove(session)
        return session

    def _save(self, session: Session) -> None:
        if session.queue == Q_TCP:
            if self.tcp_age.holds(session):
                self.tcp_age.remove(session)
            self.closing.pop(session, None)
        self.count -= 1
        self.saved += 1
        pending = session.pending
        if pending is not None and self.app is not None:
            session.pending = None
            if pending[0] == 1 and session.proto == 6 and session.n_psh == 1:
                self.app.data(session, pending[2], pending[1])
        if self.app is not None and session.parsers:
            self.app.finish(session)
        self.on_save(session)

    def _mark_closing(self, session: Session, ts: int) -> None:
        """A TCP session that closed (both FINs acknowledged, or a RST in sequence) is saved once
        tcpClosingTimeout has passed. Like Arkime's, it leaves the save-timeout chain: a closed
        session is never cut into segments, which would end it with an empty one."""
        session.closing = ts
        self.closing[session] = None
        if self.tcp_age.holds(session):
            self.tcp_age.remove(session)

    def _mid_save(self, session: Session) -> None:
        """A long session is saved as a segment and goes on, as Arkime's mid save does."""
        self.segments_saved += 1
        if self.app is not None and session.parsers:
            self.app.finish(session)
        self.on_save(session)
        session.segments += 1
        session.seg_first = self.clock
        if session.queue == Q_TCP and self.tcp_age.holds(session):
            self.tcp_age.touch(session)
        # The counters start again; the TCP state (sequence numbers, close state) goes on.
        session.src_packets = session.dst_packets = session.src_bytes = session.dst_bytes = 0
        session.src_data = session.dst_data = 0
        session.positions = array(POSITION_TYPE)
        session.syn_time = session.ack_time = 0
        session.clear_flags()
        session._fields = None

    def flush(self) -> None:
        """Save every session still open (end of a file, or shutdown)."""
        for queue, blobs in enumerate(self.compressed):
            items = list(blobs.items())  # oldest compressed first
            blobs.clear()
            for key, blob in items:
                self._save(self._restore(blob, key, queue))
        self.wake.clear()
        self.wake_at.clear()
        for chain in self.idle:
            head = chain.head
            while head is not None:
                self._save(self._remove(head))
                head = chain.head
