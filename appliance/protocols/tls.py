"""TLS over TCP: versions, ciphers, JA3/JA3S/JA4 fingerprints, session ids, SNI and certificates.

Detection follows Arkime: a side that opens with a handshake record (0x16 0x03 0x00-0x03) holding
a ClientHello or ServerHello. The client's ClientHello is reassembled (bounded) and fingerprinted;
the server's records are read, like Arkime, through an 8 KiB window until ServerHelloDone or the
first non-handshake record, which yields the ServerHello and the certificate chain.

Other parsers that carry a TLS handshake (QUIC, OpenVPN, STARTTLS, ...) use the public helpers:
``process_client_hello(session, body)``, ``process_server_hello(session, body)``,
``process_server_handshake(session, payload)`` and ``attach_stream(session, direction)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from appliance import fields
from appliance.protocols import TCP, UDP, Parser, Protocol, add_parser, register
from appliance.protocols._tls_hello import (
    cipher_name,
    ja3_string,
    ja4,
    md5_hex,
    parse_client_hello,
    parse_server_hello,
)
from appliance.protocols.certs import process_certificate_message

if TYPE_CHECKING:
    from appliance.sessions import Session

try:  # SNI shares http.host with the HTTP parser: let it register the field first if it exists.
    from appliance.protocols import http as _http  # noqa: F401
except ImportError:
    pass

SERVER_WINDOW: Final = 8192  # Arkime reads server records through this much buffer
CLIENT_LIMIT: Final = 65536  # bound on a reassembled ClientHello
MAX_VALUES: Final = 16  # per field: bounds memory on sessions that renegotiate forever

_TLS_FIELDS: Final = (
    ("tls.version", "tls.version", "termfield", "SSL/TLS version", None),
    ("tls.cipher", "tls.cipher", "uptermfield", "SSL/TLS cipher suite", None),
    ("tls.ja3", "tls.ja3", "lotermfield", "JA3 fingerprint of the ClientHello", None),
    ("tls.ja3s", "tls.ja3s", "lotermfield", "JA3S fingerprint of the ServerHello", None),
    ("tls.ja3string", "tls.ja3string", "lotermfield", "JA3 string before hashing", None),
    ("tls.ja3sstring", "tls.ja3sstring", "lotermfield", "JA3S string before hashing", None),
    ("tls.ja4", "tls.ja4", "lotermfield", "JA4 fingerprint of the ClientHello", None),
    ("tls.ja4_r", "tls.ja4_r", "lotermfield", "JA4 raw (unhashed) fingerprint", None),
    ("tls.srcSessionId", "tls.sessionid.src", "lotermfield", "Session id sent by the client, hex", ""),
    ("tls.dstSessionId", "tls.sessionid.dst", "lotermfield", "Session id sent by the server, hex", ""),
)
fields.register(*(fields.field(path, expr, type_, "tls", help_, multi=True, count=count)
                  for path, expr, type_, help_, count in _TLS_FIELDS))
if "http.host" not in fields.BY_PATH:
    fields.register(fields.field("http.host", "host.http", "lotermfield", "http",
                                 "HTTP Host header values and TLS/QUIC SNI", multi=True))


class TlsInfo(Parser):
    """The TLS values of one session, whoever found them; writes the tls.* fields."""

    name = "tls-info"

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}
        self.hosts: list[str] = []

    def add(self, path: str, value: str) -> None:
        values = self.values.setdefault(path, [])
        if value not in values and len(values) < MAX_VALUES:
            values.append(value)

    def add_host(self, host: str) -> None:
        if host not in self.hosts and len(self.hosts) < MAX_VALUES:
            self.hosts.append(host)

    def finish(self, session: Session) -> None:
        for path, values in self.values.items():
            session.fields[path] = list(values)
        if self.hosts:
            # http.host is shared with the HTTP parser: merge rather than overwrite.
            merged = list(session.fields.get("http.host") or [])
            merged += [h for h in self.hosts if h not in merged]
            session.fields["http.host"] = merged


def tls_info(session: Any) -> TlsInfo:
    """The session's TLS value holder, attached on first use."""
    for parser in session.parsers or ():
        if isinstance(parser, TlsInfo):
            return parser
    info = TlsInfo()
    add_parser(session, info)
    return info


def process_client_hello(session: Any, body: bytes, transport: str | None = None) -> bool:
    """Fingerprint a ClientHello body (after its 4-byte handshake header).

    ``transport`` is JA4's first letter; by default 't' on TCP and 'q' otherwise, as Arkime does.
    """
    hello = parse_client_hello(body)
    if hello is None:
        return False
    info = tls_info(session)
    if hello.session_id:
        info.add("tls.srcSessionId", hello.session_id.hex())
    if hello.sni is not None:
        info.add_host(hello.sni.decode("utf-8", "replace").lower())
    for tag in hello.tags:
        session.add_tag(tag)
    ja3 = ja3_string(hello)
    info.add("tls.ja3string", ja3)
    info.add("tls.ja3", md5_hex(ja3))
    letter = transport or ("t" if session.proto == 6 else "q")
    fingerprint, raw = ja4(hello, letter)
    info.add("tls.ja4", fingerprint)
    info.add("tls.ja4_r", raw)
    return True


def process_server_hello(session: Any, body: bytes) -> bool:
    """Version, cipher, server session id and JA3S from a ServerHello body."""
    hello = parse_server_hello(body)
    if hello is None:
        return False
    info = tls_info(session)
    info.add("tls.version", hello.version)
    if hello.session_id:
        info.add("tls.dstSessionId", hello.session_id.hex())
    info.add("tls.cipher", cipher_name(hello.cipher))
    info.add("tls.ja3sstring", hello.ja3s)
    info.add("tls.ja3s", md5_hex(hello.ja3s))
    if hello.h2:
        session.add_protocol("http2")
    return True


def process_server_handshake(session: Any, payload: bytes) -> bool:
    """The handshake messages of one server record; True once ServerHelloDone is seen."""
    pos = 0
    while len(payload) - pos >= 4:
        kind = payload[pos]
        end = min(len(payload), pos + 4 + int.from_bytes(payload[pos + 1:pos + 4], "big"))
        if kind == 2:
            process_server_hello(session, payload[pos + 4:end])
        elif kind == 11:
            process_certificate_message(session, payload[pos + 4:end])
        elif kind == 14:
            return True
        pos = end
    return False


def looks_like_hello(data: bytes) -> bool:
    """A handshake record (SSLv3 to TLS 1.2 record versions) starting a Client/ServerHello."""
    return len(data) >= 6 and data[0] == 0x16 and data[1] == 3 and data[2] <= 3 and data[5] in (1, 2)


CLIENT: Final = 1
SERVER: Final = 2
DONE: Final = 3


class TlsStream(Parser):
    """Reads both sides of a TLS-over-TCP session."""

    name = "tls"

    def __init__(self, external: bool = False) -> None:
        self.roles = [0, 0]
        self.bufs = [bytearray(), bytearray()]
        # An external stream is fed by its owner (OpenVPN's control channel, ...) through feed().
        self.external = external

    def data(self, session: Session, data: bytes, direction: int) -> None:
        if not self.external:
            self.feed(session, data, direction)

    def feed(self, session: Session, data: bytes, direction: int) -> None:
        """TLS record bytes of one side, in order."""
        role = self.roles[direction]
        if role == 0:
            role = self._role(data, direction)
        if role == CLIENT:
            self._client(session, data, direction)
        elif role == SERVER:
            self._server(session, data, direction)

    def _role(self, data: bytes, direction: int) -> int:
        if looks_like_hello(data):
            role = CLIENT if data[5] == 1 else SERVER
        else:
            # The peer of a client is the server even if it opens with something else.
            role = SERVER if self.roles[1 - direction] == CLIENT else DONE
        self.roles[direction] = role
        if role == CLIENT and self.roles[1 - direction] == 0:
            self.roles[1 - direction] = SERVER
        return role

    def _client(self, session: Session, data: bytes, direction: int) -> None:
        # Like Arkime, only a complete ClientHello is fingerprinted; a truncated one never is.
        buf = self.bufs[direction]
        buf += data[:CLIENT_LIMIT - len(buf)]
        body = _client_hello_body(bytes(buf))
        if body is not None:
            process_client_hello(session, body)
            self._close(direction)
        elif len(buf) >= CLIENT_LIMIT:
            self._close(direction)

    def _server(self, session: Session, data: bytes, direction: int) -> None:
        buf = self.bufs[direction]
        buf += data[:SERVER_WINDOW - len(buf)]
        while len(buf) >= 5:
            if buf[0] != 0x16:
                self._close(direction)
                return
            need = 5 + int.from_bytes(buf[3:5], "big")
            if need > len(buf):
                return
            done = process_server_handshake(session, bytes(buf[5:need]))
            del buf[:need]
            if done:
                self._close(direction)
                return

    def _close(self, direction: int) -> None:
        self.roles[direction] = DONE
        self.bufs[direction] = bytearray()

    def finish(self, session: Session) -> None:
        for direction in (0, 1):
            buf = self.bufs[direction]
            if self.roles[direction] == SERVER and len(buf) > 5 and buf[0] == 0x16:
                # Like Arkime at save time: read the incomplete record as far as it goes.
                process_server_handshake(session, bytes(buf[5:]))
                buf.clear()
        # The holders may sit before this parser in the list: write their current state too.
        tls_info(session).finish(session)
        for parser in session.parsers or ():
            if parser.name == "certs":
                parser.finish(session)


def _handshake_payload(buf: bytes) -> bytes:
    """Concatenate the payloads of the leading handshake records (partial last one included)."""
    out = bytearray()
    pos = 0
    while pos + 5 <= len(buf) and buf[pos] == 0x16:
        length = int.from_bytes(buf[pos + 3:pos + 5], "big")
        out += buf[pos + 5:pos + 5 + length]
        pos += 5 + length
    return bytes(out)


def _client_hello_body(buf: bytes) -> bytes | None:
    """The complete ClientHello body once every byte of it has arrived, else None."""
    payload = _handshake_payload(buf)
    if len(payload) < 4:
        return None
    length = int.from_bytes(payload[1:4], "big")
    if len(payload) < 4 + length:
        return None
    return payload[4:4 + length]


def attach_stream(session: Any, external: bool = False) -> TlsStream:
    """A TLS stream reader for the session; the next data of each side picks its role.

    With ``external`` the caller feeds it (``stream.feed(session, record_bytes, direction)``), for
    TLS carried inside another protocol; otherwise it reads the session's own TCP data from now on
    (after STARTTLS). Fields are written at save time either way.
    """
    for parser in session.parsers or ():
        if isinstance(parser, TlsStream):
            return parser
    stream = TlsStream(external)
    add_parser(session, stream)
    session.add_protocol("tls")
    return stream


def _detect(session: Any, data: bytes, direction: int) -> bool:
    return looks_like_hello(data)


# --- DTLS -----------------------------------------------------------------------------------------
DTLS_PREFIXES: Final = (b"\x16\x01\x00", b"\x16\xfe\xff", b"\x16\xfe\xfe", b"\x16\xfe\xfd")


def process_dtls_client_hello(session: Any, body: bytes) -> bool:
    """JA4 ("d...") of a DTLS ClientHello body; Arkime keeps nothing else from it."""
    hello = parse_client_hello(body, dtls=True)
    if hello is None:
        return False
    fingerprint, raw = ja4(hello, "d")
    info = tls_info(session)
    info.add("tls.ja4", fingerprint)
    info.add("tls.ja4_r", raw)
    return True


class DtlsParser(Parser):
    """DTLS handshake records: the ClientHello fingerprint and the certificates."""

    name = "dtls"

    def __init__(self) -> None:
        self.done = False

    def data(self, session: Session, data: bytes, direction: int) -> None:
        if self.done:
            return
        if not data or data[0] != 22:
            self.done = True  # the handshake is over (or this is not DTLS after all)
            return
        pos = 0
        while len(data) - pos > 13:
            length = int.from_bytes(data[pos + 11:pos + 13], "big")
            if pos + 13 + length > len(data):
                return
            self._messages(session, data[pos + 13:pos + 13 + length])
            pos += 13 + length

    def _messages(self, session: Session, record: bytes) -> None:
        pos = 0
        while len(record) - pos > 12:
            kind = record[pos]
            length = int.from_bytes(record[pos + 1:pos + 4], "big")
            frag_offset = int.from_bytes(record[pos + 6:pos + 9], "big")
            body = record[pos + 12:pos + 12 + length]
            pos += 12 + length
            if frag_offset != 0:
                continue  # fragments are not reassembled (nor are they by Arkime)
            if len(body) < length:
                return
            if kind == 1:
                process_dtls_client_hello(session, body)
            elif kind == 11:
                process_certificate_message(session, body)


def _dtls_detect(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 100 and data.startswith(DTLS_PREFIXES) and data[13] == 1


# looks_like_hello: a handshake record of version 3.0 to 3.3
register(Protocol("tls", TCP, _detect, parser=TlsStream, prefixes=tuple(b"\x16\x03%c" % v for v in range(4))))
register(Protocol("dtls", UDP, _dtls_detect, parser=DtlsParser, prefixes=DTLS_PREFIXES))
