"""Capture file readers: classic pcap (either byte order, micro- or nanosecond), pcapng, gzip.

Every reader gives records as plain tuples ``(ts_us, caplen, wirelen, data, offset, linktype)``,
one per ``next_record()`` call (``END``, with caplen -1, after the last), and iterating a reader
gives the same records. The packet path calls ``next_record``: compiled (appliance/native.py), a
fixed tuple comes back in registers, where a generator builds a tuple and its int objects for
every packet and switches frames to do it (~900 instructions a packet, 8 % of L2-L4).
``offset`` is the byte offset of the record header in the (uncompressed) file, Arkime's
``packetPos``. Damage is not an exception in the middle of a loop: the reader stops, and
``reader.damage`` says where and what, so the caller keeps every session up to the cut.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

PCAP_MAGIC_US: Final = 0xA1B2C3D4
PCAP_MAGIC_NS: Final = 0xA1B23C4D
PCAPNG_SHB: Final = 0x0A0D0D0A
# Read in 256 KiB chunks. Each chunk is joined to the previous one's unread tail, so two are alive
# at a time: 1 MiB chunks held ~2 MiB more of the import's peak, and reading the 1 GB home
# capture takes 0.33-0.35 s of CPU either way (tcpdump -r: 0.35 s).
CHUNK: Final = 1 << 18
MAX_RECORD: Final = 1 << 24  # a record bigger than 16 MiB is damage, not a packet

Record = tuple[int, int, int, bytes, int, int]
END: Final[Record] = (0, -1, 0, b"", 0, 0)  # next_record's answer after the last record


class CaptureError(Exception):
    """The file is not a capture we can read at all (bad magic, empty, unreadable)."""


@dataclass
class Damage:
    """Where a capture stopped making sense."""

    offset: int
    reason: str

    def __str__(self) -> str:
        return f"offset {self.offset}: {self.reason}"


def open_capture(path: str) -> CaptureReader:
    """Open a capture file of any supported format (gzip is detected by content)."""
    raw = open(path, "rb")  # noqa: SIM115 - the reader owns and closes it
    stream: BinaryIO = raw
    if raw.read(2) == b"\x1f\x8b":
        stream = GunzipStream(raw)  # type: ignore[assignment]
    raw.seek(0)
    head = stream.read(4)
    if len(head) < 4:
        stream.close()
        raise CaptureError(f"{path}: empty or too short to be a capture")
    if isinstance(stream, GunzipStream):
        stream.unread(head)
    else:
        raw.seek(0)
    magic_le = struct.unpack("<I", head)[0]
    if magic_le == PCAPNG_SHB:
        return PcapngReader(path, stream)
    if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) or struct.unpack(">I", head)[0] in (
        PCAP_MAGIC_US,
        PCAP_MAGIC_NS,
    ):
        return PcapReader(path, stream)
    stream.close()
    raise CaptureError(f"{path}: not a pcap, pcapng or gzip file (magic {head.hex()})")


class GunzipStream:
    """gzip decompression that keeps every byte it could decode when the stream is cut or corrupt.

    ``gzip.GzipFile`` throws away a whole read when it meets damage; capture files are often
    cut short, so this decodes incrementally with zlib and reports damage in ``error``.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.raw.seek(0)
        self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.buffer = b""
        self.error: str | None = None
        self.done = False

    def unread(self, data: bytes) -> None:
        self.buffer = data + self.buffer

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self.buffer) < size) and not self.done:
            self._fill()
        if size < 0:
            size = len(self.buffer)
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out

    def _fill(self) -> None:
        chunk = self.raw.read(CHUNK)
        try:
            if not chunk:
                if not self.inflater.eof and self.error is None:
                    self.error = "compressed stream ends early"
                self.done = True
                return
            self.buffer += self.inflater.decompress(chunk)
            while self.inflater.eof and self.inflater.unused_data:  # a multi-member gzip file
                rest = self.inflater.unused_data
                self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self.buffer += self.inflater.decompress(rest)
        except zlib.error as err:
            self.error = f"compressed stream is damaged: {err}"
            self.done = True

    def close(self) -> None:
        self.raw.close()


class CaptureReader:
    """Common part of the readers: a name, a stream, and what went wrong."""

    def __init__(self, path: str, stream: BinaryIO) -> None:
        self.path = path
        self.stream = stream
        self.damage: Damage | None = None
        self.linktype = 1
        self.snaplen = 65535

    def next_record(self) -> Record:
        """The next record, or ``END`` after the last one (then ``damage`` says why it ended early)."""
        raise NotImplementedError

    def record_header(self) -> bytes | None:
        """The 16 bytes of the last record's header as the PCAP store writes them (little-endian,
        microseconds), when the file has them that way; else None."""
        return None

    def __iter__(self) -> Iterator[Record]:
        while True:
            record = self.next_record()
            if record[1] < 0:
                return
            yield record

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, size: int) -> bytes:
        return self.stream.read(size)

    def _stream_damage(self, offset: int) -> None:
        """After the last record: say so if the compressed stream itself was cut or corrupt."""
        error = getattr(self.stream, "error", None)
        if error and self.damage is None:
            self.damage = Damage(offset, error)


# Compiled, an int product is a machine multiply only while both factors are below 2**30, and
# today's Unix seconds are not: the seconds are taken from this base first (any value stays exact).
_SEC_BASE: Final = 1_500_000_000
_US_BASE: Final = _SEC_BASE * 1_000_000


def _u32(buf: bytes, i: int, little: bool) -> int:
    """A record header field. Bytes, not struct: compiled (appliance/native.py) this is a few C
    array reads, where struct builds a tuple and four int objects per packet."""
    if little:
        return buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24)
    return (buf[i] << 24) | (buf[i + 1] << 16) | (buf[i + 2] << 8) | buf[i + 3]


class PcapReader(CaptureReader):
    """Classic libpcap files."""

    def __init__(self, path: str, stream: BinaryIO) -> None:
        super().__init__(path, stream)
        header = stream.read(24)
        if len(header) < 24:
            raise CaptureError(f"{path}: pcap file header is truncated")
        magic = struct.unpack("<I", header[:4])[0]
        self.endian = "<" if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
        magic = struct.unpack(self.endian + "I", header[:4])[0]
        self.nanoseconds = magic == PCAP_MAGIC_NS
        _, _, _, _, self.snaplen, network = struct.unpack(self.endian + "HHiIII", header[4:])
        # The upper bits of the link type carry FCS information in some writers.
        self.linktype = network & 0x0FFFFFFF
        self.header = header
        self._little = self.endian == "<"
        self._divisor = 1000 if self.nanoseconds else 1
        # Record headers as the PCAP store writes its own: the store takes them as they are
        # (record_header) instead of packing four fields again for every packet.
        self._same_headers = self._little and not self.nanoseconds
        self._at = 0  # the last record's index in _buf
        # The bytes read and not yet given out: a chunk joined to the previous chunk's unread tail.
        self._buf = b""
        self._pos = 24  # file offset of _buf[0]
        self._i = self._end = 0  # the next record's index in _buf, and len(_buf)
        self._done = False

    def next_record(self) -> Record:
        while True:
            buf, i, end = self._buf, self._i, self._end
            if i + 16 <= end:
                little = self._little
                caplen = _u32(buf, i + 8, little)
                j = i + 16 + caplen
                if j <= end and caplen <= MAX_RECORD:
                    self._i = j
                    self._at = i
                    sec, frac = _u32(buf, i, little), _u32(buf, i + 4, little)
                    ts = (sec - _SEC_BASE) * 1000000 + _US_BASE + frac // self._divisor
                    return (ts, caplen, _u32(buf, i + 12, little), buf[i + 16 : j], self._pos + i, self.linktype)
            if not self._read_on():
                return END

    def record_header(self) -> bytes | None:
        buf, i = self._buf, self._at
        # A fraction of a second past 999,999 is kept in the store as seconds and microseconds.
        if self._same_headers and i + 16 <= self._end and _u32(buf, i + 4, True) < 1_000_000:
            return buf[i : i + 16]
        return None

    def _read_on(self) -> bool:
        """Join the next chunk to the unread tail; False at the end of the file or at a record
        length that cannot be right, with ``damage`` set when the end came early."""
        if self._done:
            return False
        buf, i, end = self._buf, self._i, self._end
        offset = self._pos + i
        if i + 16 <= end:
            caplen = _u32(buf, i + 8, self._little)
            if caplen > MAX_RECORD:
                self.damage = Damage(offset, f"record length {caplen} is not plausible")
                self._done = True
                return False
        chunk = self._read(CHUNK)
        if not chunk:
            self._done = True
            self._stream_damage(offset)
            if end > i and self.damage is None:
                self.damage = Damage(offset, f"file ends inside a packet record ({end - i} bytes left over)")
            return False
        self._buf = buf[i:] + chunk if i < end else chunk
        self._pos, self._i, self._end = offset, 0, len(self._buf)
        return True


class PcapngReader(CaptureReader):
    """pcapng: section headers of either byte order, interface descriptions, enhanced and simple packets."""

    def __init__(self, path: str, stream: BinaryIO) -> None:
        super().__init__(path, stream)
        self.endian = "<"
        self.interfaces: list[tuple[int, int, int]] = []  # (linktype, snaplen, units per second)
        self._records: Iterator[Record] | None = None

    def next_record(self) -> Record:
        if self._records is None:
            self._records = self._blocks()
        return next(self._records, END)

    def _blocks(self) -> Iterator[Record]:
        """The packets of the blocks in file order (pcapng is rare on the packet path: its
        records come from a generator)."""
        offset = 0
        data = self.stream
        while True:
            head = data.read(8)
            if not head:
                self._stream_damage(offset)
                return
            if len(head) < 8:
                self.damage = Damage(offset, "file ends inside a block header")
                return
            block_type = struct.unpack(self.endian + "I", head[:4])[0]
            extra = b""
            if block_type == PCAPNG_SHB:
                # The byte-order mark follows the length: read it before trusting the length.
                extra = data.read(4)
                self.endian = "<" if extra == b"\x4d\x3c\x2b\x1a" else ">"
            block_len = struct.unpack(self.endian + "I", head[4:])[0]
            if block_len < 12 or block_len > MAX_RECORD or block_len % 4:
                self.damage = Damage(offset, f"block length {block_len} is not valid")
                return
            body = extra + data.read(block_len - 8 - len(extra))
            if len(body) < block_len - 8:
                self.damage = Damage(offset, "file ends inside a block")
                return
            record = self._block(block_type, body, offset)
            if record is not None:
                yield record
            offset += block_len

    def _block(self, block_type: int, body: bytes, offset: int) -> Record | None:
        e = self.endian
        if block_type == PCAPNG_SHB:
            bom = body[:4]
            self.endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            self.interfaces = []
        elif block_type == 1 and len(body) >= 8:  # interface description
            linktype, _, snaplen = struct.unpack(e + "HHI", body[:8])
            self.interfaces.append((linktype, snaplen, _ts_resolution(body[8:-4], e)))
            if len(self.interfaces) == 1:
                self.linktype, self.snaplen = linktype, snaplen
        elif block_type == 6 and len(body) >= 20:  # enhanced packet
            iface, high, low, caplen, wirelen = struct.unpack(e + "IIIII", body[:20])
            if iface >= len(self.interfaces):
                return None
            linktype, _, units = self.interfaces[iface]
            ts = (high << 32) | low
            ts_us = ts * 1000000 // units if units != 1000000 else ts
            # A captured length past the block (a damaged one) keeps what the block holds, and
            # says so: everything downstream trusts caplen == len(data).
            packet = body[20 : min(20 + caplen, len(body) - 4)]
            return (ts_us, len(packet), wirelen, packet, offset, linktype)
        elif block_type == 3 and len(body) >= 4 and self.interfaces:  # simple packet
            wirelen = struct.unpack(e + "I", body[:4])[0]
            linktype, snaplen, _ = self.interfaces[0]
            caplen = min(wirelen, snaplen or wirelen, len(body) - 8)
            return (0, caplen, wirelen, body[4 : 4 + caplen], offset, linktype)
        return None


def _ts_resolution(options: bytes, endian: str) -> int:
    """Units per second from an interface's if_tsresol option (default microseconds)."""
    i = 0
    while i + 4 <= len(options):
        code, length = struct.unpack(endian + "HH", options[i : i + 4])
        if code == 0:
            break
        if code == 9 and length >= 1:
            value = options[i + 4]
            return 2 ** (value & 0x7F) if value & 0x80 else 10 ** (value & 0x7F)
        i += 4 + ((length + 3) & ~3)
    return 1000000
