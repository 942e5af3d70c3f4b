"""QUIC: IETF QUIC Initial packets (decrypted to reach the ClientHello) and Google QUIC CHLOs.

IETF QUIC (v1, v2 and draft-29) protects its Initial packets with keys anyone can derive from the
client's first destination connection id (RFC 9001 section 5, RFC 9369). We derive them, remove
header protection, decrypt, gather the CRYPTO frames (Chrome scatters the ClientHello over several
frames and packets) and hand the ClientHello to the TLS fingerprinting: JA3/JA4 ("q..."), SNI into
http.host. Google QUIC (Q0xx) sends its CHLO in clear: SNI, UAID and VER tags become quic.host,
quic.useragent and quic.version. "fbzero" is Facebook's Zero protocol, a CHLO over TCP.
"""

from __future__ import annotations

from typing import Any, Final

from appliance import fields
from appliance.digests import crypto, hmac_sha256
from appliance.protocols import TCP, UDP, Parser, Protocol, register
from appliance.protocols import tls as _tls

fields.register(
    fields.field("quic.host", "host.quic", "lotermfield", "quic", "QUIC server name (gQUIC SNI tag)", multi=True),
    fields.field("quic.useragent", "quic.user-agent", "termfield", "quic", "QUIC user agent (gQUIC UAID tag)",
                 multi=True),
    fields.field("quic.version", "quic.version", "termfield", "quic", "QUIC version (gQUIC VER tag)", multi=True),
)

# version -> (initial salt, label prefix, long-header type bits of an Initial packet)
VERSIONS: Final = {
    0x00000001: (bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), "quic ", 0),
    0x6B3343CF: (bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"), "quicv2 ", 1),
    0xFF00001D: (bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899"), "quic ", 0),
}
MIN_INITIAL: Final = 1200  # clients pad their Initial datagrams to at least this
MAX_CLIENT_DATAGRAMS: Final = 10  # client Initials looked at before giving up on the ClientHello
CRYPTO_LIMIT: Final = 65536  # bound on the reassembled ClientHello
MAX_VALUES: Final = 16


# --- IETF QUIC Initial decryption -------------------------------------------------------------------
def _expand_label(secret: bytes, label: str, length: int) -> bytes:
    """TLS 1.3 HKDF-Expand-Label with an empty context (length <= 32: one HMAC block)."""
    full = b"tls13 " + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return hmac_sha256(secret, info + b"\x01")[:length]


class InitialKeys:
    """Client Initial keys of one connection."""

    __slots__ = ("version", "key", "iv", "hp")

    def __init__(self, version: int, dcid: bytes) -> None:
        c = crypto()  # cryptography is imported at the first QUIC Initial (or HTTP body)
        salt, prefix, _ = VERSIONS[version]
        secret = _expand_label(hmac_sha256(salt, dcid), "client in", 32)
        self.version = version
        self.key = c.AESGCM(_expand_label(secret, prefix + "key", 16))
        self.iv = _expand_label(secret, prefix + "iv", 12)
        self.hp = c.Cipher(c.AES(_expand_label(secret, prefix + "hp", 16)), c.ECB())


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position); (-1, len) when truncated."""
    if pos >= len(data):
        return -1, len(data)
    size = 1 << (data[pos] >> 6)
    if pos + size > len(data):
        return -1, len(data)
    value = int.from_bytes(data[pos:pos + size], "big") & ((1 << (8 * size - 2)) - 1)
    return value, pos + size


def _long_header(data: bytes, pos: int) -> tuple[int, bytes, int, int] | None:
    """(version, dcid, payload start, packet end) of the long-header packet at ``pos``."""
    if pos + 7 > len(data) or not data[pos] & 0x80:
        return None
    version = int.from_bytes(data[pos + 1:pos + 5], "big")
    at = pos + 5
    dcid_len = data[at]
    dcid = data[at + 1:at + 1 + dcid_len]
    at += 1 + dcid_len
    if at >= len(data) or dcid_len > 20:
        return None
    at += 1 + data[at]  # source connection id
    if version not in VERSIONS or (data[pos] >> 4) & 3 != VERSIONS[version][2]:
        # Not an Initial: skip it whole when its length can be read.
        return (version, dcid, -1, _skip_packet(data, pos, at, version))
    token_len, at = _varint(data, at)
    at += max(token_len, 0)
    length, at = _varint(data, at)
    if length < 0 or token_len < 0:
        return None
    return version, dcid, at, min(at + length, len(data))


def _skip_packet(data: bytes, pos: int, at: int, version: int) -> int:
    if version == 0:  # version negotiation fills the datagram
        return len(data)
    length, at = _varint(data, at)
    return len(data) if length < 0 else min(at + length, len(data))


def decrypt_initial(data: bytes, pos: int, pn_at: int, end: int, keys: InitialKeys) -> bytes | None:
    """Remove header protection and decrypt one Initial packet; None when it does not verify."""
    if pn_at + 20 > end:
        return None
    encryptor = keys.hp.encryptor()
    mask = encryptor.update(data[pn_at + 4:pn_at + 20]) + encryptor.finalize()
    first = data[pos] ^ (mask[0] & 0x0F)
    pn_len = (first & 0x03) + 1
    pn = bytes(b ^ m for b, m in zip(data[pn_at:pn_at + pn_len], mask[1:1 + pn_len], strict=True))
    header = bytes([first]) + data[pos + 1:pn_at] + pn
    nonce = bytearray(keys.iv)
    for i, byte in enumerate(pn.rjust(12, b"\x00")):
        nonce[i] ^= byte
    invalid: Any = crypto().InvalidTag
    try:
        return keys.key.decrypt(bytes(nonce), data[pn_at + pn_len:end], header)
    except (invalid, ValueError):
        return None


def crypto_frames(plain: bytes) -> list[tuple[int, bytes]]:
    """(offset, data) of the CRYPTO frames of a decrypted Initial payload."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(plain):
        kind = plain[pos]
        pos += 1
        if kind in (0x00, 0x01):  # PADDING, PING
            continue
        if kind in (0x02, 0x03):
            pos = _skip_ack(plain, pos, kind == 0x03)
        elif kind == 0x06:
            offset, pos = _varint(plain, pos)
            length, pos = _varint(plain, pos)
            if offset < 0 or length < 0 or pos + length > len(plain):
                break
            out.append((offset, plain[pos:pos + length]))
            pos += length
        elif kind == 0x1C:
            for _ in range(2):
                _value, pos = _varint(plain, pos)
            length, pos = _varint(plain, pos)
            pos += max(length, 0)
        else:
            break
        if pos < 0:
            break
    return out


def _skip_ack(plain: bytes, pos: int, ecn: bool) -> int:
    _largest, pos = _varint(plain, pos)
    _delay, pos = _varint(plain, pos)
    count, pos = _varint(plain, pos)
    _first, pos = _varint(plain, pos)
    for _ in range(max(count, 0) * 2 + (3 if ecn else 0)):
        if pos >= len(plain):
            break
        _value, pos = _varint(plain, pos)
    return pos


class CryptoStream:
    """Reassembles CRYPTO data by offset (bounded) until the ClientHello is complete."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.pending: dict[int, bytes] = {}

    def add(self, offset: int, data: bytes) -> None:
        if offset + len(data) > CRYPTO_LIMIT:
            return
        self.pending[offset] = data
        progressed = True
        while progressed:
            progressed = False
            for start, chunk in list(self.pending.items()):
                if start <= len(self.buf) < start + len(chunk):
                    self.buf += chunk[len(self.buf) - start:]
                    progressed = True
                if start + len(chunk) <= len(self.buf):
                    del self.pending[start]

    def client_hello(self) -> bytes | None:
        if len(self.buf) < 4 or self.buf[0] != 1:
            return None
        length = int.from_bytes(self.buf[1:4], "big")
        return bytes(self.buf[4:4 + length]) if len(self.buf) >= 4 + length else None


def _initials(data: bytes, keys: InitialKeys | None) -> tuple[InitialKeys | None, list[bytes]]:
    """Decrypt every client Initial packet of a datagram; keys come from the first one seen."""
    plains = []
    pos = 0
    while pos < len(data):
        header = _long_header(data, pos)
        if header is None:
            break
        version, dcid, pn_at, end = header
        if pn_at >= 0:
            if keys is None:
                keys = InitialKeys(version, dcid)
            plain = decrypt_initial(data, pos, pn_at, end, keys) if keys.version == version else None
            if plain is not None:
                plains.append(plain)
        if end <= pos:
            break
        pos = end
    return keys, plains


def _looks_initial(data: bytes) -> bool:
    if len(data) < MIN_INITIAL or (data[0] & 0xC0) != 0xC0:
        return False
    version = int.from_bytes(data[1:5], "big")
    return version in VERSIONS and (data[0] >> 4) & 3 == VERSIONS[version][2]


# --- Google QUIC ----------------------------------------------------------------------------------
def parse_chlo(msg: bytes) -> tuple[bool, dict[str, list[str]]]:
    """(is QUIC, values) of a gQUIC handshake message: tag, count, then (tag, end offset) pairs."""
    if len(msg) < 8:
        return False, {}
    values: dict[str, list[str]] = {}
    count = int.from_bytes(msg[4:6], "little")
    if msg[:4] != b"CHLO" or len(msg) - 8 < count * 8 + 8:
        return True, values
    data_at = 8 + count * 8
    size = len(msg) - data_at
    start = 0
    for i in range(count):
        entry = 8 + i * 8
        tag, end = msg[entry:entry + 4], int.from_bytes(msg[entry + 4:entry + 8], "little")
        if end > size or start > end:
            break
        path = {b"SNI\x00": "quic.host", b"UAID": "quic.useragent", b"VER\x00": "quic.version"}.get(tag)
        if path and end > start:
            text = msg[data_at + start:data_at + end].decode("utf-8", "replace")
            values.setdefault(path, []).append(text.lower() if path == "quic.host" else text)
        start = end
    return True, values


def _gquic_version(data: bytes, at: int) -> int:
    digits = data[at + 1:at + 4]
    return int(digits) if data[at:at + 1] == b"Q" and digits.isdigit() else -1


def gquic_q043(data: bytes) -> tuple[bool, dict[str, list[str]]] | None:
    """The CHLO of a Q024-Q045 client packet (public header, then a stream frame); None if none."""
    if len(data) < 9 or data[0] & 0x02:
        return None
    offset = 1 + (8 if data[0] & 0x08 else 0)
    if len(data) < offset + 5:
        return None
    version = _gquic_version(data, offset) if data[0] & 0x01 else -1
    if version < 24:
        return None
    offset += 4
    offset += 1 if (data[0] & 0x30) == 0 else ((data[0] & 0x30) >> 4) * 2
    offset += 12 + (1 if version < 34 else 0)  # message hash, private flags
    if offset >= len(data) or not data[offset] & 0x80:
        return None
    kind = data[offset]
    offset += 1 + (((kind & 0x1C) >> 2) + 1 if kind & 0x1C else 0) + (kind & 0x03) + 1
    length = len(data) - offset
    if kind & 0x20:
        if offset + 2 > len(data):
            return None
        # Frame fields turned big-endian in Q039; the CHLO inside stays little-endian.
        length = int.from_bytes(data[offset:offset + 2], "big" if version >= 39 else "little")
        offset += 2
    return parse_chlo(data[offset:offset + length])


def gquic_q046(data: bytes) -> tuple[bool, dict[str, list[str]]] | None:
    """Q046-Q048 long headers: find the CHLO by its tag."""
    if len(data) < 20 or (data[0] & 0xC0) != 0xC0 or not 46 <= _gquic_version(data, 1) <= 48:
        return None
    at = data.find(b"CHLO", 5, len(data) - 16)
    return parse_chlo(data[at:]) if at >= 0 else None


def _gquic(data: bytes) -> tuple[bool, dict[str, list[str]]] | None:
    if len(data) > 100 and (data[0] & 0x83) == 0x01 and data[9:12] in (b"Q04", b"Q03", b"Q02"):
        return gquic_q043(data)
    if len(data) > 100 and data[1:4] == b"Q04":
        return gquic_q046(data)
    return None


# --- the parser -----------------------------------------------------------------------------------
class QuicParser(Parser):
    name = "quic"

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}
        self.keys: InitialKeys | None = None
        self.crypto = CryptoStream()
        self.client_datagrams = 0
        self.done = False

    def data(self, session: Any, data: bytes, direction: int) -> None:
        if self.done or direction != 0:
            return
        self.client_datagrams += 1
        if self.client_datagrams > MAX_CLIENT_DATAGRAMS:
            self.done = True
            return
        chlo = _gquic(data)
        if chlo is not None:
            self._add(chlo[1])
            self.done = True
            return
        self._ietf(session, data)

    def _ietf(self, session: Any, data: bytes) -> None:
        seen, keys, plains = _detected
        _detected[:] = [None, None, []]
        if seen is data and self.keys is None:  # what detection just decrypted: not twice
            self.keys = keys
        else:
            self.keys, plains = _initials(data, self.keys)
        for plain in plains:
            for offset, chunk in crypto_frames(plain):
                self.crypto.add(offset, chunk)
        body = self.crypto.client_hello()
        if body is not None:
            _tls.process_client_hello(session, body, "q")
            self.done = True

    def _add(self, values: dict[str, list[str]]) -> None:
        for path, items in values.items():
            current = self.values.setdefault(path, [])
            current += [v for v in items if v not in current][:MAX_VALUES - len(current)]

    def finish(self, session: Any) -> None:
        for path, items in self.values.items():
            session.fields[path] = list(items)


def detect(session: Any, data: bytes, direction: int) -> bool:
    """Arkime's QUIC classifiers: a decryptable IETF Initial, a gQUIC CHLO, Q05x both ways, PRST."""
    if len(data) < 13:
        return False
    if data[9:13] == b"PRST":
        return True
    if data[1:4] == b"Q05":
        other = session.payload8[1 - direction]
        return len(data) >= 20 and other[1:4] == b"Q05"
    chlo = _gquic(data)
    if chlo is not None:
        return chlo[0]
    if direction != 0 or not _looks_initial(data):
        return False
    keys, plains = _initials(data, None)
    # The parser attached next reads this same datagram first: deriving the keys and decrypting
    # again would double the cost of every QUIC connection.
    _detected[:] = [data, keys, plains]
    return any(crypto_frames(plain) for plain in plains)


# (datagram, keys, plaintexts) of the latest Initial that detection decrypted.
_detected: list[Any] = [None, None, []]


# --- fbzero: Facebook's Zero protocol, a CHLO over TCP ----------------------------------------------
FBZERO_LIMIT: Final = 4096


class FbzeroParser(Parser):
    name = "fbzero"

    def __init__(self) -> None:
        self.buf = bytearray()
        self.values: dict[str, list[str]] = {}
        self.done = False

    def data(self, session: Any, data: bytes, direction: int) -> None:
        if self.done or direction != 0:
            return
        self.buf += data[:FBZERO_LIMIT - len(self.buf)]
        if len(self.buf) < 7:
            return
        length = int.from_bytes(self.buf[5:7], "little")
        if len(self.buf) < length + 9 and len(self.buf) < FBZERO_LIMIT:
            return
        self.done = True
        ok, self.values = parse_chlo(bytes(self.buf[9:9 + length]))
        if ok:
            session.add_protocol("quic")
        self.buf = bytearray()

    def finish(self, session: Any) -> None:
        for path, items in self.values.items():
            session.fields[path] = list(items)


def _fbzero(session: Any, data: bytes, direction: int) -> bool:
    return direction == 0 and len(data) > 13 and data.startswith(b"\x31QTV")


register(Protocol("quic", UDP, detect, parser=QuicParser))
register(Protocol("fbzero", TCP, _fbzero, parser=FbzeroParser, prefixes=(b"\x31QTV",)))
