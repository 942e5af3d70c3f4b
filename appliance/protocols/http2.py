"""HTTP/2 in clear text: requests and responses read from the frames.

Arkime's http2.c classifies a TCP session as "http2" when a side's first bytes are the 24-byte
client connection preface ``PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n`` (prior-knowledge h2c). The
preface also parses as an HTTP/1 request line, so the HTTP parser reports method PRI beside it,
as Arkime does. HTTP/2 negotiated by TLS ALPN is named by the TLS parser from the ServerHello.

After the preface each side is a sequence of frames (RFC 9113): a 9-byte header (length, type,
flags, stream id) and a payload. This parser reads, per side:

- HEADERS, PUSH_PROMISE and their CONTINUATION frames: the header block is decoded with HPACK
  (the ``hpack`` library; one decoder per side, since each side has its own dynamic table). The
  pseudo-headers give ``http.method``, ``http.host`` (``:authority`` without its port),
  ``http.path`` with the query's keys and values, and ``http.statuscode``; every other header
  goes where an HTTP/1 header of that side goes (``http.requestHeader``, ``http.useragent``,
  cookies, ...), through the HTTP parser's own code. A push promise comes from the server, so its
  headers count as the server's, as in Arkime.
- DATA frames: each stream's body per side is hashed (``http.md5``, and ``http.sha256`` with
  ``supportSha256``) and the digest written when the frame that ends the stream has been read.
  DATA payloads are hashed as they pass; other frames are buffered whole, up to
  ``MAX_FRAME`` bytes (a larger one ends the reading of that side, as Arkime's 20,000-byte buffer
  does).
- A header block opens a stream; RST_STREAM and END_STREAM on both sides free it. At most
  ``MAX_STREAMS`` are hashed at once; DATA of a stream that is not open is not hashed, and the
  session is tagged ``http2:data-frame-after-close``, as in Arkime.

A header block that does not decode ends the reading of that side's headers (its HPACK table
can no longer be trusted); what was read stays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from appliance.digests import Sha256Stream, md5
from appliance.protocols import TCP, Parser, Protocol, register
from appliance.protocols.http import HTTPParser

if TYPE_CHECKING:
    from appliance.sessions import Session

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_FRAME: Final = 65536  # a non-DATA frame larger than this ends the reading of its side
MAX_STREAMS: Final = 16  # streams whose bodies are hashed at once (Arkime's limit)
MAX_TABLE: Final = 65536  # largest HPACK dynamic table a peer may announce and still be read

DATA: Final = 0
HEADERS: Final = 1
RST_STREAM: Final = 3
PUSH_PROMISE: Final = 5
CONTINUATION: Final = 9

END_STREAM: Final = 0x1
END_HEADERS: Final = 0x4
PADDED: Final = 0x8
PRIORITY: Final = 0x20


def _detect(session: Any, data: bytes, direction: int) -> bool:
    return data.startswith(PREFACE)


class _Stream:
    """A stream's body digests per side, and which sides have ended it."""

    __slots__ = ("md5", "sha256", "ended")

    def __init__(self) -> None:
        self.md5: list[Any] = [None, None]
        self.sha256: list[Any] = [None, None]
        self.ended = 0  # bit d: side d sent END_STREAM


class _Side:
    """The frame reader of one direction."""

    __slots__ = ("buf", "left", "body_left", "stream", "end", "body_seen", "block", "block_stream",
                 "decoder", "headers_failed", "started")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.left = 0  # payload bytes of the DATA frame being read that are still to come
        self.body_left = 0  # of those, the ones before its padding (hashed)
        self.stream = 0  # that frame's stream
        self.end = False  # that frame ends its stream
        self.body_seen = False  # some of that frame's body was read
        self.block: bytearray | None = None  # a header block waiting for its CONTINUATION
        self.block_stream = 0
        self.decoder: Any = None  # hpack.Decoder, made at this side's first header block
        self.headers_failed = False
        self.started = False  # the first bytes were seen (and a preface skipped)


class Http2Parser(Parser):
    """Frames of both sides of a prior-knowledge HTTP/2 connection."""

    name = "http2"

    def __init__(self) -> None:
        self.sides = (_Side(), _Side())
        self.streams: dict[int, _Stream] = {}
        # The http.* values go through an HTTP parser of our own: the HTTP/1 parser of this
        # session read the preface as a request line, and its values are merged with these. Its
        # ``url_which`` is the side that sent the preface, and its ``sha256`` supportSha256.
        self.fields = HTTPParser()
        self.failed = [False, False]

    def configure(self, settings: Any) -> None:
        self.fields.configure(settings)

    def data(self, session: Session, data: bytes, direction: int) -> None:
        if self.failed[direction]:
            return
        side = self.sides[direction]
        if not side.started:
            side.started = True
            if data.startswith(PREFACE):
                self.fields.url_which = direction  # the client; detection attached us at its preface
                data = data[len(PREFACE):]
        pos = 0
        if side.left:
            pos = self._data_bytes(session, side, data, 0, direction)
        side.buf += data[pos:] if pos else data
        self._frames(session, side, direction)

    def _frames(self, session: Session, side: _Side, d: int) -> None:
        buf = side.buf
        at = 0
        while len(buf) - at >= 9:
            length = buf[at] << 16 | buf[at + 1] << 8 | buf[at + 2]
            kind, flags = buf[at + 3], buf[at + 4]
            stream = int.from_bytes(buf[at + 5:at + 9], "big") & 0x7FFFFFFF
            if kind == DATA:
                pad = 0
                if flags & PADDED:
                    if length < 1:
                        self._fail(d)
                        return
                    if len(buf) - at < 10:
                        break
                    pad = buf[at + 9]
                    length -= 1
                    at += 1
                side.left, side.body_left = length, max(length - pad, 0)
                side.stream, side.end, side.body_seen = stream, bool(flags & END_STREAM), False
                at = self._data_bytes(session, side, buf, at + 9, d)
                if side.left:
                    break
                continue
            if length > MAX_FRAME:
                self._fail(d)
                return
            if len(buf) - at < 9 + length:
                break
            payload = bytes(buf[at + 9:at + 9 + length])
            at += 9 + length
            self._frame(side, d, kind, flags, stream, payload)
        del buf[:at]

    def _fail(self, d: int) -> None:
        """Stop reading side ``d``: its frames can no longer be found."""
        self.failed[d] = True
        self.sides[d].buf.clear()

    def _data_bytes(self, session: Session, side: _Side, data: bytes | bytearray, pos: int, d: int) -> int:
        """Feed the DATA payload that ``data`` holds from ``pos``; returns where it stops."""
        take = min(side.left, len(data) - pos)
        body = min(side.body_left, take)
        if body > 0:
            state = self.streams.get(side.stream)
            if state is not None:
                self._hash(state, d, data[pos:pos + body])
            elif not side.body_seen:
                # A stream no header block opened (or one already reset): Arkime tags it.
                session.add_tag("http2:data-frame-after-close")
            side.body_seen = True
            side.body_left -= body
        side.left -= take
        if side.left == 0 and side.end:
            self._body_done(side.stream, d)
            self._ended(side.stream, d)
        return pos + take

    def _frame(self, side: _Side, d: int, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind == HEADERS or kind == PUSH_PROMISE:
            at, end = 0, len(payload)
            if flags & PADDED:
                if not payload or payload[0] >= end:
                    return
                at, end = 1, end - payload[0]
            at += (5 if flags & PRIORITY else 0) if kind == HEADERS else 4  # priority / promised id
            if at > end:
                return
            if stream not in self.streams and len(self.streams) < MAX_STREAMS:
                self.streams[stream] = _Stream()  # a header block opens a stream's body digests
            self._fragment(side, d, stream, payload[at:end], bool(flags & END_HEADERS))
        elif kind == CONTINUATION:
            if side.block is not None:
                self._fragment(side, d, side.block_stream, payload, bool(flags & END_HEADERS))
        elif kind == RST_STREAM:
            self.streams.pop(stream, None)
        if kind == HEADERS and flags & END_STREAM:
            self._ended(stream, d)

    def _fragment(self, side: _Side, d: int, stream: int, fragment: bytes, last: bool) -> None:
        if side.block is None:
            if last:
                self._header_block(side, d, fragment)
                return
            side.block, side.block_stream = bytearray(fragment), stream
            return
        side.block += fragment
        if len(side.block) > MAX_FRAME:
            side.block = None
            side.headers_failed = True
        elif last:
            block, side.block = bytes(side.block), None
            self._header_block(side, d, block)

    def _header_block(self, side: _Side, d: int, block: bytes) -> None:
        if side.headers_failed:
            return
        if side.decoder is None:
            import hpack  # at the first HTTP/2 header block: most boxes never see clear-text HTTP/2

            side.decoder = hpack.Decoder()
            side.decoder.max_allowed_table_size = MAX_TABLE
        try:
            headers: list[Any] = list(side.decoder.decode(block, raw=True))
        except Exception:  # noqa: BLE001 - hpack's errors, or anything a hostile block provokes
            side.headers_failed = True
            return
        fields = self.fields
        for name, value in headers:
            if not name.startswith(b":"):
                fields.add_header(name, value, d)
            elif name == b":method":
                fields.add_field("http.method", value.decode("utf-8", "replace"))
            elif name == b":authority":
                fields.add_field("http.host", value.split(b":", 1)[0].lower().decode("utf-8", "replace"))
            elif name == b":path":
                fields.add_url_path(value)
            elif name == b":status" and value.isdigit() and len(value) <= 3:
                fields.add_field("http.statuscode", int(value))

    def _hash(self, state: _Stream, d: int, body: bytes | bytearray) -> None:
        if state.md5[d] is None:
            state.md5[d] = md5(body)
            state.sha256[d] = Sha256Stream(body) if self.fields.sha256 else None
            return
        state.md5[d].update(body)
        if state.sha256[d] is not None:
            state.sha256[d].update(body)

    def _body_done(self, stream: int, d: int) -> None:
        state = self.streams.get(stream)
        if state is None:
            return
        if state.md5[d] is None:
            self._hash(state, d, b"")  # an empty DATA frame ends an empty body: Arkime hashes that too
        self.fields.add_field("http.md5", state.md5[d].hexdigest())
        if state.sha256[d] is not None:
            self.fields.add_field("http.sha256", state.sha256[d].hexdigest())
        state.md5[d] = state.sha256[d] = None

    def _ended(self, stream: int, d: int) -> None:
        state = self.streams.get(stream)
        if state is not None:
            state.ended |= 1 << d
            if state.ended == 3:
                del self.streams[stream]

    def finish(self, session: Session) -> None:
        self.fields.finish(session)


register(Protocol("http2", TCP, _detect, parser=Http2Parser, prefixes=(PREFACE,)))
