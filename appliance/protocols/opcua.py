"""OPC UA Binary (IEC 62541) over TCP: endpoint URL, security policy and sender certificates.

Detection follows Arkime's opcua.c: a side opens with a final Hello chunk ("HELF") whose 4-byte
little-endian message length is sane. Every message starts with a 3-letter type, a chunk letter
(F, C or A) and that length. The parser reads the first four complete messages of each direction:
the Hello gives ``opcua.endpointUrl``; an OpenSecureChannel gives ``opcua.securityPolicyUri`` and
its SenderCertificate (DER), which goes to the shared certificate collector.
"""

from __future__ import annotations

from typing import Any, Final

from appliance import fields
from appliance.protocols import TCP, Parser, Protocol, register
from appliance.protocols.certs import add_certificate

HEADER: Final = 8
MAX_MESSAGE: Final = 16 * 1024 * 1024
BUF_MAX: Final = 32768  # enough for an OpenSecureChannel with a large certificate
MAX_MESSAGES: Final = 4  # per direction, as Arkime
MAX_URL: Final = 4096
MAX_CERT: Final = 16 * 1024
HELLO_PRELUDE: Final = 20  # five uint32 before the endpoint URL
MESSAGE_TYPES: Final = (b"HEL", b"ACK", b"ERR", b"RHE", b"OPN", b"CLO", b"MSG")
MAX_VALUES: Final = 16

fields.register(
    fields.field("opcua.endpointUrl", "opcua.endpointUrl", "termfield", "opcua",
                 "OPC UA endpoint URL from the Hello message", multi=True),
    fields.field("opcua.securityPolicyUri", "opcua.securityPolicyUri", "termfield", "opcua",
                 "OPC UA SecurityPolicyUri from the OpenSecureChannel message", multi=True),
)


def _u32le(data: bytes | bytearray, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 4], "little")


def _i32le(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 4], "little", signed=True)


def header_ok(data: bytes | bytearray) -> bool:
    """A known message type, chunk letter and length (needs at least 8 bytes)."""
    length = _u32le(data, 4)
    return (data[3:4] in (b"F", b"C", b"A") and data[:3] in MESSAGE_TYPES
            and HEADER <= length <= MAX_MESSAGE)


def _detect(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= HEADER and data.startswith(b"HELF") and header_ok(data)


def hello_url(msg: bytes) -> str | None:
    """The EndpointUrl of a complete Hello message."""
    pos = HEADER + HELLO_PRELUDE
    if len(msg) < pos + 4:
        return None
    length = _i32le(msg, pos)
    if length <= 0 or length > MAX_URL or length > len(msg) - pos - 4:
        return None
    return msg[pos + 4:pos + 4 + length].decode("utf-8", "replace")


def open_channel(msg: bytes) -> tuple[str | None, bytes | None]:
    """(SecurityPolicyUri, SenderCertificate DER) of a complete OpenSecureChannel message."""
    pos = HEADER + 4  # secure channel id
    if len(msg) < pos + 4:
        return None, None
    length = _i32le(msg, pos)
    pos += 4
    policy = None
    if 0 < length <= MAX_URL and length <= len(msg) - pos:
        policy = msg[pos:pos + length].decode("utf-8", "replace")
        pos += length
    elif length > 0:
        return None, None  # a length past the message: the stream is suspect
    if len(msg) < pos + 4:
        return policy, None
    length = _i32le(msg, pos)
    pos += 4
    if 0 < length <= MAX_CERT and length <= len(msg) - pos:
        return policy, msg[pos:pos + length]
    return policy, None


class OpcUaParser(Parser):
    """Reassembles the first messages of each side (bounded) and reads Hello and OpenSecureChannel."""

    name = "opcua"

    def __init__(self) -> None:
        self.bufs = [bytearray(), bytearray()]
        self.counts = [0, 0]
        self.done = False
        self.values: dict[str, list[str]] = {}

    def add(self, path: str, value: str) -> None:
        values = self.values.setdefault(path, [])
        if value not in values and len(values) < MAX_VALUES:
            values.append(value)

    def data(self, session: Any, data: bytes, direction: int) -> None:
        if self.done:
            return
        buf = self.bufs[direction]
        if len(buf) + len(data) > BUF_MAX:
            self._stop()
            return
        buf += data
        while len(buf) >= HEADER and not self.done:
            if not header_ok(buf):
                self._stop()
                return
            length = _u32le(buf, 4)
            if length > BUF_MAX:
                self._stop()  # would never fit: stop trying, as Arkime does
                return
            if len(buf) < length:
                return
            self._message(session, bytes(buf[:length]))
            del buf[:length]
            self.counts[direction] += 1
            if self.counts[direction] >= MAX_MESSAGES:
                self._stop()

    def _message(self, session: Any, msg: bytes) -> None:
        if msg[3:4] != b"F":
            return
        if msg[:3] == b"HEL":
            url = hello_url(msg)
            if url is not None:
                self.add("opcua.endpointUrl", url)
        elif msg[:3] == b"OPN":
            policy, cert = open_channel(msg)
            if policy is not None:
                self.add("opcua.securityPolicyUri", policy)
            if cert is not None:
                add_certificate(session, cert)

    def _stop(self) -> None:
        self.done = True
        self.bufs = [bytearray(), bytearray()]

    def finish(self, session: Any) -> None:
        for path, values in self.values.items():
            session.fields[path] = list(values)


register(Protocol("opcua", TCP, _detect, parser=OpcUaParser, prefixes=(b"HELF",)))
