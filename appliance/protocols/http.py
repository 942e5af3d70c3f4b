"""HTTP/1.x: detection and a streaming parser for both directions.

Arkime runs Joyent's http_parser (``HTTP_BOTH``) on each side of a session and fills the
``http.*`` fields from its callbacks (``capture/parsers/http.c``). This module re-implements the
parts of that behaviour that show in the documents: a side's first message decides whether it
carries requests or responses; pipelined and keep-alive messages follow each other; bodies are
framed by Content-Length, chunked transfer coding or the end of the connection; a side whose
bytes stop looking like HTTP is given up (``failed``), as http_parser reports an error.

One departure: http_parser in both-directions mode cannot know which request a response
answers, so it reads a body after a response to HEAD (or a 204 or 304) that names a length,
and the next response on the connection disappears into it. Here requests and answers are
paired (pipelined ones in order), and such a response ends with its header section, as
RFC 9112 says. The corpus's documents agree either way: none of its sessions has one.

Body hashes are over the bytes as transferred (chunk framing removed, Content-Encoding kept):
that is what Arkime's ``http.md5``/``http.sha256`` hold, e.g. a gzip body is hashed compressed
and its ``bodyMagic`` is ``application/x-gzip``.

Buffering is bounded: only the header section of the message in progress is buffered (at most
``MAX_HEADER`` bytes per side); body bytes are hashed as they pass.
"""

from __future__ import annotations

import binascii
import ipaddress
import re
import sys
from typing import TYPE_CHECKING, Any, Final

from appliance import fields
from appliance.digests import Sha256Stream, md5
from appliance.memo import itself, remembered
from appliance.protocols import TCP, UDP, Parser, Protocol, ntlm, redetect, register

if TYPE_CHECKING:
    from appliance.sessions import Session

# http_parser's method table (plus PRI, the HTTP/2 preface), as Arkime registers its classifiers.
METHODS: Final = (
    "DELETE", "GET", "HEAD", "POST", "PUT", "CONNECT", "OPTIONS", "TRACE", "COPY", "LOCK",
    "MKCOL", "MOVE", "PROPFIND", "PROPPATCH", "SEARCH", "UNLOCK", "BIND", "REBIND", "UNBIND",
    "ACL", "REPORT", "MKACTIVITY", "CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY", "SUBSCRIBE",
    "UNSUBSCRIBE", "PATCH", "PURGE", "MKCALENDAR", "LINK", "UNLINK", "SOURCE", "PRI",
)
_METHOD_SET: Final = frozenset(m.encode() for m in METHODS)
# One shared object per method and version: an open session's side keeps its message's method
# and version until the next one, and a slice of its own would cost 36 bytes each.
_METHOD_OBJECTS: Final[dict[bytes, bytes]] = {m: m for m in _METHOD_SET}
_METHOD_NAMES: Final[dict[bytes, str]] = {m: m.decode() for m in _METHOD_SET}
_VERSIONS: Final[dict[bytes, bytes]] = {}
_VERSION_NAMES: Final[dict[bytes, str]] = {}
_TOKENS: Final[dict[bytes, bool]] = {}  # header name -> all token characters (see _token)
_METHOD_PREFIXES: Final = frozenset(m.encode()[:n] for m in METHODS for n in range(1, len(m) + 1))
_DETECT_PREFIXES: Final = tuple(m.encode() for m in METHODS) + (b"HTTP",)

# Headers that get their own field (Arkime's built-ins plus the [headers-http-request] and
# [headers-http-response] sections of its test configuration); the rest go to
# requestHeaderField/Value and responseHeaderField/Value.
REQUEST_INDEXED: Final = ("referer", "authorization")
RESPONSE_INDEXED: Final = ("location",)
# Their paths, and the method counters', interned once (see fields.Field: the store looks every
# document key up by these objects).
_REQUEST_PATHS: Final[dict[str, str]] = {h: sys.intern("http.request-" + h) for h in REQUEST_INDEXED}
_RESPONSE_PATHS: Final[dict[str, str]] = {h: sys.intern("http.response-" + h) for h in RESPONSE_INDEXED}
_METHOD_PATHS: Final[dict[str, str]] = {m: sys.intern("http.method-" + m) for m in METHODS}
_REQUEST_BUILTIN: Final = {"host": "http.host", "user-agent": "http.useragent", "x-forwarded-for": "http.xffIp"}

MAX_HEADER: Final = 64 * 1024  # bytes of one header section kept while waiting for its end
MAX_URL: Final = 4096  # Arkime truncates http.uri here and tags the session
HEADER_VALUE_MAX: Final = 1024  # parseHTTPHeaderValueMaxLen's default: generic header values are cut here
MAX_REQ_BODY: Final = 2048  # first request body piece kept in http.requestBody when this short
_HEADER_NAME_MAX: Final = 39  # Arkime keeps header names in a 40-byte buffer
# Byte classes searched with one C call instead of a Python loop over the bytes.
_URL_BAD: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # control characters other than TAB
_CONTROL: Final = re.compile(rb"[\x00-\x1f]")
_KEY_VALUE_SEP: Final = re.compile(rb"[&=]")
_TOKEN_CHARS: Final = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Windows services reached over HTTP at well-known paths, which Arkime names as protocols of their
# own, by the first segment of the request path (lowercased). See _service.
_SERVICE_SEGMENTS: Final = {
    b"certsrv": "adcs-web",  # AD CS web enrollment (its mscep pages are NDES: adcs-ndes)
    b"enrollmentserver": "adcs-ces",  # certificate enrollment web service
    b"wsman": "winrm",  # WS-Management
    b"wsman-anon": "winrm",
}

# Side states.
START: Final = 0
HEADERS: Final = 1
BODY: Final = 2
CHUNK_SIZE: Final = 3
CHUNK_DATA: Final = 4
CHUNK_END: Final = 5
TRAILERS: Final = 6
EOF_BODY: Final = 7
DEAD: Final = 8
FAILED: Final = 9
_BODY_STATES: Final = (BODY, CHUNK_DATA, EOF_BODY)


def detect(session: Any, data: bytes, direction: int) -> bool:
    """Bytes opening with a method name or "HTTP", as Arkime's classifiers match them.

    Arkime matches the bare method string (a side sending just "GET\\r\\n" is named http);
    the parser then decides whether anything can be read from it.

    Arkime runs its TCP classifiers on SCTP user data too (HTTP over SCTP is classified), but
    not on UDP: HTTPU (SSDP's M-SEARCH/NOTIFY) is not HTTP there.
    """
    return data[:1].isupper() and session.proto != 17 and data.startswith(_DETECT_PREFIXES)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _ascii(raw: bytes) -> str:
    return raw.decode("ascii", "replace")


def _lower(raw: bytes) -> str:
    """ASCII-only lower-casing, like g_ascii_strdown."""
    return raw.lower().decode("utf-8", "replace")


def _header_name(raw: bytes) -> str:
    """A header's name as Arkime keeps it (lower case, cut to 39 bytes); the same few dozen names
    come in every message, so they are remembered (by the cut name: at most 39 bytes a key)."""
    name: str = remembered(_NAMES, raw[:_HEADER_NAME_MAX], _lower, NAMES_KEPT)
    return name


NAMES_KEPT: Final = 1024


def _token(name: bytes) -> bool:
    """Whether a header name is all token characters (RFC 9110). Valid names are remembered (up to
    39 bytes, as ``_header_name`` keeps them): checking one anew costs ~1,500 instructions, a
    lookup ~200, and the same few dozen names come in every message."""
    if len(name) > _HEADER_NAME_MAX:
        return _all_token(name)
    ok: bool = remembered(_TOKENS, name, _all_token, NAMES_KEPT)
    return ok


def _all_token(name: bytes) -> bool:
    return not name.translate(None, _TOKEN_CHARS)


_NONE_ASKED: Final = 1  # HTTPParser.asked with no request waiting: the marker bit alone
_MAX_ASKED: Final = 60  # pipelined requests remembered (a small int); later ones count as not HEAD
_NO_BUF: Final = bytearray()  # the empty buffer every side shares between messages (never written)
_NAMES: Final[dict[bytes, str]] = {}


class _Side:
    """Parse state of one direction."""

    __slots__ = ("state", "kind", "buf", "remaining", "in_body", "md5", "sha256", "headers",
                 "keep_alive", "upgrade", "chunked", "length", "version", "status", "method")

    def __init__(self) -> None:
        self.state = START
        self.kind = b""  # b"req" or b"res" once the first message showed which
        self.buf = _NO_BUF  # a buffer of its own only while a partial header section waits
        self.remaining = 0
        self.in_body = False
        self.md5: Any = None
        self.sha256: Any = None
        self.headers: list[tuple[bytes, bytes]] | None = None  # of the message being read
        self.keep_alive = True
        self.upgrade = False
        self.chunked = False
        self.length = -1
        self.version = b""
        self.status = 0
        self.method = b""


class HTTPParser(Parser):
    """Per-session HTTP state: two sides plus the values gathered for the document."""

    __slots__ = ("side0", "side1", "url", "url_which", "out", "first_method", "first_count", "methods",
                 "written", "sha256", "value_max", "asked")
    name = "http"

    def __init__(self) -> None:
        # A side's state is made when it first sends: many sessions are seen with a request only.
        # Two slots, not a list of two: with many open sessions every 72 bytes count.
        self.side0: _Side | None = None
        self.side1: _Side | None = None
        self.url: bytearray | None = None
        self.url_which = 0  # the side of the latest request line; Arkime starts at the source
        # path -> its one value, or a list once there are more (most paths only ever get one:
        # a list each would be most of an open HTTP session's memory).
        self.out: dict[str, Any] = {}
        # Requests per method: the first method in two slots (nearly every session has one
        # method), the others as [method, count, ...] (a list for one GET would be 72 bytes).
        self.first_method: str | None = None
        self.first_count = 0
        self.methods: list[Any] | None = None
        self.written: dict[str, list[Any]] | None = None
        self.sha256 = True  # supportSha256: bodies get a SHA-256 beside their MD5
        self.value_max = HEADER_VALUE_MAX  # parseHTTPHeaderValueMaxLen
        # The requests not yet answered, oldest in the lowest bit, 1 where it was a HEAD, below a
        # marker bit (1: none): a response to a HEAD has no body whatever its headers say, and
        # requests may be pipelined ahead of their answers. One int: no list per open session.
        self.asked = _NONE_ASKED

    def configure(self, settings: Any) -> None:
        self.sha256 = bool(settings.supportSha256)
        self.value_max = int(settings.parseHTTPHeaderValueMaxLen)

    # --- input ---------------------------------------------------------------------------

    def data(self, session: Session, data: bytes, direction: int) -> None:
        side = self.side1 if direction else self.side0
        if side is None:
            side = _Side()
            if direction:
                self.side1 = side
            else:
                self.side0 = side
        pending = memoryview(data)
        while len(pending) and side.state != FAILED:
            if side.state in _BODY_STATES:
                # Two statements: mypyc evaluates a call inside a slice bound twice.
                taken = self._body(session, side, pending, direction)
                pending = pending[taken:]
                continue
            if side.buf is _NO_BUF:
                side.buf = bytearray(pending)
            else:
                side.buf += pending
            self._lines(session, side, direction)
            # Bytes after the header section belong to the body: hash them without buffering.
            pending = memoryview(bytes(side.buf)) if side.state in _BODY_STATES else memoryview(b"")
            if side.state in _BODY_STATES:
                side.buf.clear()
        if not side.buf:
            # An open session between messages keeps no buffer (nothing but data() appends to
            # one, and only to a buffer of its own: the shared empty one is never written).
            side.buf = _NO_BUF

    def _lines(self, session: Session, side: _Side, which: int) -> None:
        """Handle the complete lines in the buffer until a body starts or a line is partial."""
        while side.state not in _BODY_STATES and side.state != FAILED:
            if side.state == DEAD:
                # After a message on a connection that is not kept alive only CR/LF may follow.
                if side.buf.strip(b"\r\n"):
                    side.state = FAILED
                side.buf.clear()
                return
            if side.state == HEADERS:
                if not self._header_block(session, side, which):
                    break
                continue
            line = self._line(side)
            if line is None:
                break
            self._on_line(session, side, line, which)
        if len(side.buf) > MAX_HEADER or side.state == FAILED:
            side.state = FAILED
            side.buf.clear()

    @staticmethod
    def _line(side: _Side) -> bytes | None:
        buf = side.buf
        if side.state == START:
            # Leading CR/LF between messages are skipped, and a partial first token that can
            # not become a method or "HTTP/" fails at once, as http_parser does.
            skip = 0
            while skip < len(buf) and buf[skip] in b"\r\n":
                skip += 1
            if skip:
                del buf[:skip]
            if buf and not _plausible_start(bytes(buf[:8]), side.kind):
                side.state = FAILED
                return None
        end = buf.find(b"\n")
        if end < 0:
            return None
        line = bytes(buf[:end])
        del buf[:end + 1]
        return line[:-1] if line.endswith(b"\r") else line

    # --- message start and headers --------------------------------------------------------

    def _on_line(self, session: Session, side: _Side, line: bytes, which: int) -> None:
        if side.state == START:  # (header lines go through _header_block)
            self._start_line(session, side, line, which)
        elif side.state == CHUNK_SIZE:
            self._chunk_size(side, line)
        elif side.state == CHUNK_END:
            side.state = CHUNK_SIZE if not line else FAILED
        elif side.state == TRAILERS:
            self._trailer_line(session, side, line, which)

    def _start_line(self, session: Session, side: _Side, line: bytes, which: int) -> None:
        self._begin(side)
        if line.startswith(b"HTTP/") and side.kind != b"req":
            ok = self._status_line(side, line)
        elif side.kind != b"res":
            ok = self._request_line(side, line, which)
        else:
            ok = False
        if not ok:
            side.state = FAILED
            return
        side.kind = b"res" if side.status else b"req"
        side.state = HEADERS

    @staticmethod
    def _begin(side: _Side) -> None:
        side.in_body = False
        side.md5 = side.sha256 = None  # made at the first body byte: most messages have none
        side.headers = None
        side.chunked = side.upgrade = False
        side.length = -1
        side.status = 0
        side.method = b""
        side.version = b""

    def _status_line(self, side: _Side, line: bytes) -> bool:
        parts = line.split(b" ", 2)
        version = _version(parts[0][5:])
        if version is None or len(parts) < 2:
            return False
        code = parts[1]
        if not code.isdigit() or not 0 < len(code) <= 3 or int(code) == 0:
            return False
        side.version, side.status = version, int(code)
        return True

    def _request_line(self, side: _Side, line: bytes, which: int) -> bool:
        method, sep, rest = line.partition(b" ")
        if method not in _METHOD_SET or not sep:
            return False
        rest = rest.lstrip(b" ")
        url, _, version = rest.partition(b" ")
        if not url or _URL_BAD.search(url):
            return False
        self._on_url(url, which)
        version = version.strip(b" ")
        if not version:
            parsed: bytes | None = b"0.9"  # HTTP/0.9 style request line
        else:
            parsed = _version(version[5:]) if version.startswith(b"HTTP/") else None
        if parsed is None:
            return False
        side.method, side.version = _METHOD_OBJECTS[method], parsed
        return True

    def _on_url(self, url: bytes, which: int) -> None:
        if self.url is None:
            self.url = bytearray(url)
            self.url_which = which
        elif len(self.url) < MAX_HEADER:
            self.url += url

    def _header_block(self, session: Session, side: _Side, which: int) -> bool:
        """The complete header lines in the buffer, in one pass (headers are most lines of HTTP).

        True when the state changed (the headers ended or a line failed), False when the
        buffer holds no complete line any more.
        """
        buf = side.buf
        data = bytes(buf)
        pos = 0
        find = data.find
        while True:
            end = find(b"\n", pos)
            if end < 0:
                del buf[:pos]
                return False
            line = data[pos:end - 1] if end > pos and data[end - 1] == 0x0D else data[pos:end]
            pos = end + 1
            if not line or not self._header_line(session, side, line, which):
                del buf[:pos]
                if not line:
                    self._headers_complete(session, side, which)
                return True

    def _header_line(self, session: Session, side: _Side, line: bytes, which: int) -> bool:
        """One header line (not empty); False when it is not a valid header (the side fails)."""
        headers = side.headers
        if line[0] in (0x20, 0x09):  # a folded continuation of the previous header
            if not headers:
                side.state = FAILED
                return False
            name, value = headers[-1]
            headers[-1] = (name, (value + b" " + line.strip(b" \t")).strip(b" "))
            return True
        name, colon, value = line.partition(b":")
        if not colon or not name or not _token(name):
            side.state = FAILED
            return False
        if headers is None:
            headers = side.headers = []
        headers.append((name, value.strip(b" \t")))
        return True

    def _trailer_line(self, session: Session, side: _Side, line: bytes, which: int) -> None:
        if not line:
            self._message_complete(side)
            return
        name, colon, _ = line.partition(b":")
        if colon and name:
            self._add(self._header_list(which), _header_name(name))

    def _header_list(self, which: int) -> str:
        return "http.requestHeader" if which == self.url_which else "http.responseHeader"

    def _headers_complete(self, session: Session, side: _Side, which: int) -> None:
        request = not side.status
        collect = request and side.method != b"DELETE"  # http_parser's DELETE is method 0
        host = cookie = auth = None
        connection = b""
        upgrade = False
        for name, value in side.headers or ():
            lower = _header_name(name)
            self._header(lower, value, which)
            if lower not in _SPECIAL:  # one set lookup for the few headers read twice
                continue
            if lower in _AUTH_HEADERS:
                if ntlm.MAGIC_BASE64 in value:
                    # An NTLM login (Authorization: NTLM ..., WWW-Authenticate: NTLM ...) is read
                    # here, so an HTTP session needs no scan of its bytes (signatures.NtlmScan).
                    session.add_protocol("ntlm")
                    ntlm.record_all(session, value)
                if lower not in _COLLECTED:
                    continue
            if lower in _COLLECTED:
                if collect:
                    host, cookie, auth = _collect(lower, value, host, cookie, auth)
            elif lower == "connection":
                connection += b"," + value.lower()
            elif lower == "upgrade":
                upgrade = True
                if side.status == 101 and b"websocket" in value.lower():
                    session.add_protocol("websocket")  # the server switched to WebSocket
            else:
                _length(side, lower, value)
        _framing(side, connection, upgrade)
        self._tunnel(session, side, which)
        # Shared str objects: the values wait in ``out`` while the session is open (52 bytes
        # each as a str of their own).
        version: str = remembered(_VERSION_NAMES, side.version, _ascii, 64)
        if request:
            method = _METHOD_NAMES.get(side.method) or side.method.decode()
            self._add("http.method", method)
            self._add("http.clientVersion", version)
        else:
            self._add("http.statuscode", side.status)
            self._add("http.serverVersion", version)
        self._tag_control_chars(session)
        if cookie:
            self._cookies(cookie)
        if auth:
            self._authorization(auth)
        self._url_and_host(session, host)
        side.headers = None  # read: an open session need not keep them
        self._after_headers(side)

    def _header(self, lower: str, value: bytes, which: int) -> None:
        """The per-header fields: presence, an indexed field, or the generic field/value."""
        out = self.out
        if which == self.url_which:
            self._add("http.requestHeader", lower)
            builtin = _REQUEST_BUILTIN.get(lower)
            if builtin is not None:
                self._builtin(builtin, value)
                return
            path = _REQUEST_PATHS.get(lower)
            if path is not None:
                self._add(path, _text(value))
                return
            fields_, values = "http.requestHeaderField", "http.requestHeaderValue"
        else:
            self._add("http.responseHeader", lower)
            path = _RESPONSE_PATHS.get(lower)
            if path is not None:
                self._add(path, _text(value))
                return
            fields_, values = "http.responseHeaderField", "http.responseHeaderValue"
        # The field paths enter ``out`` in this order, which is the order they are written. Typed
        # lists: a direct append, not a method call.
        names: list[str] = out.setdefault(fields_, [])
        texts: list[str] = out.setdefault(values, [])
        names.append(lower)
        texts.append(_lower(value[:self.value_max]))

    def _builtin(self, path: str, value: bytes) -> None:
        if path == "http.xffIp":
            # Arkime hands each comma-separated part to inet_pton as it is, so a part after ", "
            # (leading space) is not an address to it.
            for part in value.split(b","):
                try:
                    self._add(path, str(ipaddress.ip_address(part.decode("ascii"))))
                except ValueError:
                    continue
        elif path == "http.host":
            self._add(path, _lower(value))
        else:
            self._add(path, _text(value))

    def _tunnel(self, session: Session, side: _Side, which: int) -> None:
        """A CONNECT request, and a 2xx answer to one, open a tunnel: what each side sends next is
        classified afresh (usually a TLS hello), as Arkime does, while this parser goes on as it
        would (the answer's body runs to the end of the connection and is hashed)."""
        if side.status:
            other = self.side1 if which == 0 else self.side0
            if 200 <= side.status < 300 and other is not None and other.method == b"CONNECT":
                redetect(session, which)
        elif side.method == b"CONNECT":
            redetect(session, which)

    def _after_headers(self, side: _Side) -> None:
        if side.state == FAILED:
            return
        if side.length == -2:
            side.state = FAILED
        elif side.upgrade:
            # The connection now carries another protocol; what follows is not HTTP.
            self._message_complete(side)
        elif self._bodiless(side):
            # RFC 9112 6.3: a response to HEAD, and a 1xx, 204 or 304, ends with its header
            # section, whatever Content-Length or Transfer-Encoding it names (a HEAD's answer
            # names the resource's). Read as a body, the next response would be lost in it.
            self._message_complete(side)
        elif side.chunked:
            side.state = CHUNK_SIZE
        elif side.length > 0:
            side.state, side.remaining = BODY, side.length
        elif side.length == 0 or not side.status:
            self._message_complete(side)
        else:
            side.keep_alive = False
            side.state = EOF_BODY

    def _bodiless(self, side: _Side) -> bool:
        """Whether the message whose headers just ended has no body by its kind alone (a request
        is noted as asked for; a final response takes the oldest request off)."""
        asked = self.asked
        if not side.status:  # a request
            waiting = asked.bit_length() - 1
            if waiting < _MAX_ASKED:
                head = 1 if side.method == b"HEAD" else 0
                self.asked = (asked ^ (1 << waiting)) | (2 | head) << waiting
            return False
        if side.status < 200:  # an interim answer: the request still waits for its final one
            return True
        was_head = False
        if asked != _NONE_ASKED:
            was_head = bool(asked & 1)
            self.asked = asked >> 1
        return was_head or side.status in (204, 304)

    def _message_complete(self, side: _Side) -> None:
        # Arkime counts a method when its request is complete; an upgrading request (WebSocket,
        # CONNECT, the HTTP/2 preface) hands the connection over and is not counted.
        if side.method and not side.upgrade:
            self._count_method(_METHOD_NAMES[side.method])
        if side.in_body:
            self._add("http.md5", side.md5.hexdigest())
            if side.sha256 is not None:
                self._add("http.sha256", side.sha256.hexdigest())
        # Read: an idle keep-alive side holds no hash state (a few hundred bytes, and it is what
        # keeps a session from being compressed, see compressed_sessions).
        side.md5 = side.sha256 = None
        side.in_body = False
        side.state = START if side.keep_alive or side.upgrade else DEAD

    def _count_method(self, method: str) -> None:
        if self.first_method is None:
            self.first_method, self.first_count = method, 1
            return
        if method == self.first_method:
            self.first_count += 1
            return
        methods = self.methods
        if methods is None:
            methods = self.methods = []
        for i in range(0, len(methods), 2):
            if methods[i] == method:
                methods[i + 1] += 1
                return
        methods += [method, 1]

    # --- bodies --------------------------------------------------------------------------

    def _body(self, session: Session, side: _Side, view: memoryview, which: int) -> int:
        take = len(view) if side.state == EOF_BODY else min(len(view), side.remaining)
        piece = view[:take]
        if take:
            self._on_body(session, side, piece, which)
        if side.state != EOF_BODY:
            side.remaining -= take
            if side.remaining == 0:
                if side.state == CHUNK_DATA:
                    side.state = CHUNK_END
                else:
                    self._message_complete(side)
        return take

    def _on_body(self, session: Session, side: _Side, piece: memoryview, which: int) -> None:
        if not side.in_body:
            side.in_body = True
            first = bytes(piece)
            low = first.lower()
            if b"password=" in low or b"passwd=" in low or b"pass=" in low:
                session.add_tag("http:password")
            mime = magic(first)
            if mime:
                self._add("http.bodyMagic", mime)
            if which == self.url_which and len(first) <= MAX_REQ_BODY and b"\0" not in first:
                try:
                    self._add("http.requestBody", first.decode("utf-8"))
                except UnicodeDecodeError:
                    pass
            side.md5 = md5(first)
            side.sha256 = Sha256Stream(first) if self.sha256 else None
            return
        side.md5.update(piece)
        if side.sha256 is not None:
            side.sha256.update(piece)

    def _chunk_size(self, side: _Side, line: bytes) -> None:
        size = line.split(b";", 1)[0].strip(b" \t")
        try:
            n = int(size, 16) if size and not size.translate(None, _HEX) else -1
        except ValueError:
            n = -1
        if n < 0:
            side.state = FAILED
        elif n == 0:
            side.state = TRAILERS
        else:
            side.state, side.remaining = CHUNK_DATA, n

    # --- request details -----------------------------------------------------------------

    def _tag_control_chars(self, session: Session) -> None:
        if self.url is not None and _CONTROL.search(self.url):
            session.add_tag("http:control-char")

    def _cookies(self, cookie: bytes) -> None:
        """Cookie keys and values, split the way Arkime does (no unescaping)."""
        pos = 0
        while True:
            while pos < len(cookie) and cookie[pos:pos + 1].isspace():
                pos += 1
            equal = cookie.find(b"=", pos)
            if equal < 0:
                break
            self._add("http.cookieKey", _text(cookie[pos:equal]))
            semi = cookie.find(b";", equal + 1)
            start = equal + 1
            while start < len(cookie) and cookie[start:start + 1].isspace():
                start += 1
            end = semi if semi >= 0 else len(cookie)
            if start < len(cookie) and start != semi:
                self._add("http.cookieValue", _text(cookie[start:end]))
            if semi < 0:
                break
            pos = semi + 1

    def _authorization(self, auth: bytes) -> None:
        auth = auth.lstrip()
        scheme, space, rest = auth.partition(b" ")
        if not space:
            return
        self._add("http.authType", _lower(scheme))
        lower = scheme.lower()
        if lower.startswith(b"basic"):
            rest = rest.lstrip()
            if not rest.startswith(b"token="):
                user = _basic_user(rest)
                self._add("http.user", _text(user))
        elif lower.startswith(b"digest"):
            digest_user = _digest_user(auth[5:])
            if digest_user is not None:
                self._add("http.user", _text(digest_user))

    def _url_and_host(self, session: Session, host: bytes | None) -> None:
        url = bytes(self.url) if self.url is not None else None
        if host is not None:
            host = host.lower()
        if url is not None:
            service = _service(url)
            if service is not None:
                session.add_protocol(service)
        if url is not None and host is not None:
            self._add("http.host", _text(host.split(b":", 1)[0]))
            self._path_and_query(url)
            if url.startswith(b"/"):
                uri = host + url
            else:
                found = url.find(host)
                uri = url if 0 <= found <= 8 else host + b";" + url
        elif url is not None:
            uri = url
        else:
            if host is not None:
                self._add("http.host", _text(host.split(b":", 1)[0]))
            return
        if len(uri) > MAX_URL:
            uri = uri[:MAX_URL]
            session.add_tag("http:url-truncated")
        self._add("http.uri", _text(uri))
        self.url = None

    def _path_and_query(self, url: bytes) -> None:
        path, question, query = url.partition(b"?")
        self._add("http.path", _text(path))
        if not question:
            return
        field, start = "http.key", 0
        for match in _KEY_VALUE_SEP.finditer(query):
            pos = match.start()
            if pos != start:
                self._add(field, _unescape(query[start:pos]))
            start = pos + 1
            field = "http.key" if query[pos] == 0x26 else "http.value"
        if field == "http.value" and len(query) > start:
            self._add(field, _unescape(query[start:]))

    # --- fields from HTTP/2 frames (appliance.protocols.http2) ----------------------------

    def add_field(self, path: str, value: Any) -> None:
        """One more distinct value of an ``http.*`` field."""
        self._add(path, value)

    def add_header(self, name: bytes, value: bytes, which: int) -> None:
        """A header decoded from an HTTP/2 header block, read as an HTTP/1 header of side
        ``which`` is (Arkime hands both to the same function); a cookie's keys and values too."""
        self._header(_header_name(name), value, which)
        if name == b"cookie":
            self._cookies(value)

    def add_url_path(self, url: bytes) -> None:
        """``http.path`` and the query's keys and values of a request target (``:path``)."""
        self._path_and_query(url)

    # --- output --------------------------------------------------------------------------

    def _add(self, path: str, value: Any) -> None:
        """Add a distinct value (values are never lists: a list holds several)."""
        out = self.out
        values = out.get(path, _MISSING)
        if values is _MISSING:
            out[path] = value
        elif type(values) is list:
            if value not in values:
                values.append(value)
        elif values != value:
            out[path] = [values, value]

    def finish(self, session: Session) -> None:
        if self.first_method is not None:
            session.fields[_METHOD_PATHS[self.first_method]] = self.first_count
        methods = self.methods or []
        for i in range(0, len(methods), 2):
            session.fields[_METHOD_PATHS[methods[i]]] = methods[i + 1]
        out = self.out
        for side in (self.side0, self.side1):
            # A body that runs to the end of the connection completes when the session ends. Its
            # digests go into a copy: a mid-session save calls finish again while it goes on.
            if side is not None and side.state == EOF_BODY and side.in_body:
                if out is self.out:
                    out = {path: list(v) if type(v) is list else [v] for path, v in out.items()}
                for path, digest in (("http.md5", side.md5), ("http.sha256", side.sha256)):
                    if digest is not None:
                        value, values = digest.hexdigest(), out.setdefault(path, [])
                        if value not in values:
                            values.append(value)
        for path, values in out.items():
            self._merge(session, path, list(values) if type(values) is list else [values])

    def _merge(self, session: Session, path: str, mine: list[Any]) -> None:
        """Write ``mine`` while keeping what other parsers (TLS SNI, HTTP/2) put in the field."""
        existing = session.fields.get(path)
        if existing:
            existing = list(existing)
            for value in (self.written or {}).get(path, ()):
                if value in existing:
                    existing.remove(value)
            merged = existing + mine
            if path not in _DUPLICATES_KEPT:
                merged = list(dict.fromkeys(merged))
        else:
            # The common case: nobody else wrote this path. ``mine`` has no duplicates to drop
            # (_add keeps values distinct; only the _DUPLICATES_KEPT lists are appended to).
            merged = list(mine)
        session.fields[path] = merged
        if self.written is None:
            self.written = {}
        self.written[path] = mine


_MISSING: Final = object()  # no value yet (None could be a value)
_DUPLICATES_KEPT: Final = frozenset(("http.requestHeaderField", "http.requestHeaderValue",
                                     "http.responseHeaderField", "http.responseHeaderValue"))


# --- helpers -------------------------------------------------------------------------------

def _plausible_start(head: bytes, kind: bytes) -> bool:
    """Could ``head`` begin a message of this side (a method, or "HTTP/" for responses)?"""
    token = head.split(b" ", 1)[0]
    if kind != b"req" and (b"HTTP/".startswith(token[:5]) or token.startswith(b"HTTP/")):
        return True
    if kind == b"res":
        return False
    if b" " in head:
        return token in _METHOD_SET
    return token in _METHOD_PREFIXES


def _service(url: bytes) -> str | None:
    """The Windows service a request target names by its path, else None: ``_SERVICE_SEGMENTS``,
    NDES under certsrv/mscep*, the RPC over HTTP proxy, and enrollment policy (CEP) and
    enrollment (CES) web services, whose virtual directories are ``<name>_CEP_<auth>`` and
    ``<CA>_CES_<auth>``. A segment must match whole: /wsmania is not WinRM."""
    if not url.startswith(b"/"):  # a proxy's absolute form: the path after the authority
        slash = url.find(b"/", url.find(b"://") + 3) if b"://" in url else -1
        if slash < 0:
            return None
        url = url[slash:]
    segments = url.partition(b"?")[0].lower().split(b"/", 3)  # b"", first, second, rest
    first = segments[1]
    second = segments[2] if len(segments) > 2 else b""
    if first == b"certsrv" and second.startswith(b"mscep"):
        return "adcs-ndes"
    if first == b"rpc" and second == b"rpcproxy.dll":
        return "rpc-over-http"
    if b"_cep_" in first or first.startswith(b"adpolicyprovider_cep"):
        return "adcs-cep"
    if b"_ces_" in first:
        return "adcs-ces"
    return _SERVICE_SEGMENTS.get(first)


def _version(raw: bytes) -> bytes | None:
    major, dot, minor = raw.partition(b".")
    if not dot or not major.isdigit() or not minor.isdigit() or len(major) > 3 or len(minor) > 3:
        return None
    # Hostile input can make 10^6 versions: the memo is bounded like the others.
    version: bytes = remembered(_VERSIONS, b"%d.%d" % (int(major), int(minor)), itself, 64)
    return version


_COLLECTED: Final = frozenset(("host", "cookie", "authorization"))


def _collect(lower: str, value: bytes, host: bytes | None, cookie: bytes | None,
             auth: bytes | None) -> tuple[bytes | None, bytes | None, bytes | None]:
    """Host, Cookie and Authorization of a request; repeated headers are concatenated."""
    if lower == "host":
        host = (host or b"") + value
    elif lower == "cookie":
        cookie = (cookie or b"") + value
    elif lower == "authorization":
        auth = (auth or b"") + value
    return host, cookie, auth


# The headers that carry an NTLM login's messages, base64, after "NTLM " or "Negotiate ".
_AUTH_HEADERS: Final = frozenset(("authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate"))

# Headers that decide the framing and reuse of a connection, besides the collected ones, and
# those an NTLM login rides in.
_SPECIAL: Final = _COLLECTED | _AUTH_HEADERS | frozenset(("transfer-encoding", "content-length", "connection",
                                                           "upgrade"))


def _length(side: _Side, lower: str, value: bytes) -> None:
    """Transfer-Encoding and Content-Length: how the body is framed (the last one counts)."""
    if lower == "transfer-encoding":
        if value.lower().rstrip().endswith(b"chunked"):
            side.chunked = True
    else:
        side.length = int(value) if value.isdigit() else -2


def _framing(side: _Side, connection: bytes, upgrade: bool) -> None:
    """Connection reuse and protocol upgrades, from the Connection tokens and an Upgrade header."""
    tokens = {t.strip() for t in connection.split(b",")}
    if side.version >= b"1.1":
        side.keep_alive = b"close" not in tokens
    else:
        side.keep_alive = b"keep-alive" in tokens
    upgrading = upgrade and b"upgrade" in tokens
    side.upgrade = ((upgrading and (not side.status or side.status == 101))
                    or side.method in (b"CONNECT", b"PRI"))


def _basic_user(encoded: bytes) -> bytes:
    cleaned = bytes(c for c in encoded if c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    cleaned = cleaned[:len(cleaned) - len(cleaned) % 4] if len(cleaned) % 4 == 1 else cleaned
    try:
        decoded = binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        decoded = b""
    return decoded.split(b"\0", 1)[0].split(b":", 1)[0]


def _digest_user(params: bytes) -> bytes | None:
    found = params.find(b"username")
    if found < 0:
        return None
    rest = params[found + 8:].lstrip()
    if not rest.startswith(b"="):
        return None
    rest = rest[1:].lstrip()
    if rest.startswith(b'"'):
        return rest[1:].split(b'"', 1)[0]
    return rest.split(b",", 1)[0]


_HEX: Final = b"0123456789abcdefABCDEF"


def _unescape(raw: bytes) -> str:
    """%XX decoding like g_uri_unescape_segment; a bad escape keeps the raw text."""
    if b"%" not in raw:
        return _text(raw)
    out = bytearray()
    pos = 0
    while pos < len(raw):
        char = raw[pos]
        if char == 0x25:
            pair = raw[pos + 1:pos + 3]
            if len(pair) < 2 or pair[0] not in _HEX or pair[1] not in _HEX or pair == b"00":
                return _text(raw)
            out.append(int(pair, 16))
            pos += 3
        else:
            out.append(char)
            pos += 1
    return _text(bytes(out))


def magic(data: bytes) -> str | None:
    """The content type of a body from its first bytes (Arkime's "basic" magic table)."""
    if len(data) < 5:
        return None
    for test, mime in _MAGIC_BY_BYTE[data[0]]:
        if test(data):
            return mime
    if len(data) > 262 and data[257:262] == b"ustar":
        return "application/x-tar"
    if b"document.write" in data or b"'use strict'" in data:
        return "text/javascript"
    return None


def _starts(*prefixes: bytes) -> Any:
    return lambda d: d.startswith(prefixes)


def _istarts(prefix: bytes) -> Any:
    return lambda d: d[:len(prefix)].lower() == prefix


_MAGIC: Final[tuple[tuple[Any, str], ...]] = (
    (lambda d: len(d) > 10 and d[4:8] == b"ftyp" and d[8:10] == b"qt", "video/quicktime"),
    (lambda d: len(d) > 10 and d[4:8] == b"ftyp" and d[8:10] == b"3g", "video/3gpp"),
    (_starts(b"\x00\x01\x00\x00\x00"), "application/x-font-ttf"),
    (lambda d: d.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in d[4:], "video/webm"),
    (lambda d: d.startswith(b"\x1a\x45\xdf\xa3") and b"matroska" in d[4:], "video/x-matroska"),
    (_starts(b"\x1f\x8b"), "application/x-gzip"),
    (_starts(b"\x1f\x9d"), "application/x-compress"),
    (_starts(b"#!"), "text/x-shellscript"),
    (_starts(b"%PDF-"), "application/pdf"),
    (lambda d: len(d) > 14 and d[:14].lower() == b"<!doctype html", "text/html"),
    (lambda d: d[:5].lower() == b"<?xml" and b"<svg" in d[5:], "image/svg+xml"),
    (_istarts(b"<?xml"), "text/xml"),
    (_istarts(b"<body"), "text/html"),
    (_istarts(b"<head"), "text/html"),
    (_istarts(b"<html"), "text/html"),
    (_istarts(b"<svg"), "image/svg"),
    (lambda d: d[:2] == b'{"' and d[2:3].isalpha(), "application/json"),
    (_starts(b"8BPS"), "image/vnd.adobe.photoshop"),
    (_starts(b"BM"), "application/x-ms-bmp"),
    (_starts(b"BZh"), "application/x-bzip2"),
    (_starts(b"CWS"), "application/x-shockwave-flash"),
    (_starts(b"FLV\x01"), "video/x-flv"),
    (_starts(b"GIF8"), "image/gif"),
    (lambda d: len(d) > 188 and d[0] == 0x47 and d[188] == 0x47, "video/mp2t"),
    (_starts(b"ID3"), "audio/mpeg"),
    (_starts(b"MZ"), "application/x-dosexec"),
    (_starts(b"MSCF\x00\x00"), "application/vnd.ms-cab-compressed"),
    (lambda d: len(d) > 40 and d[:4] == b"OggS" and (d[28:36] == b"Speex   " or d[29:33] == b"FLAC"
                                                            or d[28:35] == b"\x01vorbis"), "audio/ogg"),
    (lambda d: len(d) > 40 and d[:4] == b"OggS" and d[28:35] == b"\x80theora", "video/ogg"),
    (_starts(b"OTTO"), "application/vnd.ms-opentype"),
    (_starts(b"PK\x03\x04", b"PK\x05\x06"), "application/zip"),
    (_starts(b"RIFF"), "audio/x-wav"),
    (_starts(b"Rar!\x1a"), "application/x-rar"),
    (_starts(b"WAVE"), "audio/x-wav"),
    (lambda d: len(d) > 20 and d.startswith(b"d8:announce"), "application/x-bittorrent"),
    (_starts(b"wOFF"), "application/font-woff"),
    (_starts(b"\x89PNG"), "image/png"),
    (_starts(b"\xfd7zXZ"), "application/x-xz"),
    (lambda d: len(d) > 10 and d.startswith(b"\xff\xd8\xff"), "image/jpeg"),
)

# The first bytes each test can accept (None: any), so that magic() only runs the tests that
# could match; in _MAGIC's order, which decides between tests that both match.
_MAGIC_FIRST: Final[tuple[bytes | None, ...]] = (
    None, None, b"\x00", b"\x1a", b"\x1a", b"\x1f", b"\x1f", b"#", b"%", b"<", b"<", b"<", b"<", b"<", b"<", b"<",
    b"{", b"8", b"B", b"B", b"C", b"F", b"G", b"G", b"I", b"M", b"M", b"O", b"O", b"O", b"P", b"R", b"R", b"W",
    b"d", b"w", b"\x89", b"\xfd", b"\xff",
)
_MAGIC_BY_BYTE: Final = [tuple(entry for entry, first in zip(_MAGIC, _MAGIC_FIRST, strict=True)
                               if first is None or byte in first) for byte in range(256)]


# --- registration --------------------------------------------------------------------------

def _fields() -> list[fields.Field]:
    f = fields.field
    specs = [
        f("http.method", "http.method", "termfield", "http", "HTTP request methods", multi=True),
        f("http.host", "host.http", "lotermfield", "http", "HTTP Host header (also TLS SNI)", multi=True),
        f("http.uri", "http.uri", "termfield", "http", "URIs of the requests (host + path)", multi=True),
        f("http.path", "http.uri.path", "termfield", "http", "Path part of the URIs", multi=True),
        f("http.key", "http.uri.key", "termfield", "http", "Query string keys", multi=True),
        f("http.value", "http.uri.value", "termfield", "http", "Query string values", multi=True),
        f("http.cookieKey", "http.cookie.key", "termfield", "http", "Keys of the request cookies", multi=True),
        f("http.cookieValue", "http.cookie.value", "termfield", "http", "Values of the request cookies",
          multi=True),
        f("http.useragent", "http.user-agent", "termfield", "http", "User-Agent header", multi=True),
        f("http.statuscode", "http.statuscode", "integer", "http", "Response status codes", multi=True),
        f("http.clientVersion", "http.version.src", "termfield", "http", "Request HTTP versions", multi=True),
        f("http.serverVersion", "http.version.dst", "termfield", "http", "Response HTTP versions", multi=True),
        f("http.requestHeader", "http.hasheader.src", "lotermfield", "http", "Request header names",
          multi=True),
        f("http.responseHeader", "http.hasheader.dst", "lotermfield", "http", "Response header names",
          multi=True),
        f("http.requestHeaderField", "http.hasheader.src.field", "lotermfield", "http",
          "Names of the request headers without a field of their own", multi=True, count=""),
        f("http.requestHeaderValue", "http.hasheader.src.value", "lotermfield", "http",
          "Values of the request headers without a field of their own", multi=True),
        f("http.responseHeaderField", "http.hasheader.dst.field", "lotermfield", "http",
          "Names of the response headers without a field of their own", multi=True, count=""),
        f("http.responseHeaderValue", "http.hasheader.dst.value", "lotermfield", "http",
          "Values of the response headers without a field of their own", multi=True),
        f("http.bodyMagic", "http.bodymagic", "termfield", "http", "Content type of the bodies by magic",
          multi=True),
        f("http.md5", "http.md5", "lotermfield", "http", "MD5 of the bodies", multi=True),
        f("http.sha256", "http.sha256", "lotermfield", "http", "SHA-256 of the bodies", multi=True),
        f("http.user", "http.user", "termfield", "http", "HTTP authentication user", multi=True),
        f("http.authType", "http.authtype", "lotermfield", "http", "HTTP authentication schemes", multi=True),
        f("http.xffIp", "ip.xff", "ip", "http", "Addresses in X-Forwarded-For", multi=True),
        f("http.requestBody", "http.reqbody", "termfield", "http", "Short request bodies", multi=True,
          count=""),
    ]
    specs += [f(_REQUEST_PATHS[h], "http." + h, "termfield", "http", f"Request header {h}", multi=True)
              for h in REQUEST_INDEXED]
    specs += [f(_RESPONSE_PATHS[h], "http." + h, "termfield", "http", f"Response header {h}", multi=True)
              for h in RESPONSE_INDEXED]
    specs += [f(_METHOD_PATHS[m], "http.method-" + m.lower(), "integer", "http",
                f"Number of {m} requests") for m in METHODS]
    return specs


# Other parsers (TLS, QUIC, HTTP/2) also write http.host; whoever loads first registers it.
fields.register(*[spec for spec in _fields() if spec.path not in fields.BY_PATH])
register(Protocol("http", TCP | UDP, detect, parser=HTTPParser, prefixes=_DETECT_PREFIXES))
