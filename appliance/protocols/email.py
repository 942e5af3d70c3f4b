"""Mail: SMTP (envelope, message headers, MIME attachments), IMAP (FETCHed headers, folders) and
POP3 (detection), writing the ``email.*`` fields the way Arkime's smtp, imap and pop3 parsers do.

SMTP follows Arkime's per-direction line state machine: commands until ``DATA``/``BDAT``, then
message headers (with folded lines joined), then the body, where MIME parts are followed through
their boundaries to hash base64 attachments. Headers Arkime knows fill their own fields; the
others go to ``email.headerField``/``email.headerValue`` (Arkime's parseSMTPHeaderAll).
"""

from __future__ import annotations

import binascii
import codecs
import ipaddress
import re
import socket
from typing import TYPE_CHECKING, Any, Final

from appliance import fields
from appliance.digests import Sha256Stream, md5, md5_hex, sha256_hex
from appliance.protocols import TCP, Parser, Protocol, add_user, ntlm, redetect, register

if TYPE_CHECKING:
    from appliance.sessions import Session

_NOT_B64: Final = re.compile(rb"[^A-Za-z0-9+/]")
_NOT_B64_BODY: Final = re.compile(rb"[^A-Za-z0-9+/=]")
MAX_LINE: Final = 65536  # longest line kept per direction; the rest of a longer line is dropped
MAX_VALUES: Final = 1000  # values kept per field
MAX_SUBJECT: Final = 0xFFF  # Arkime decodes a subject into a buffer of this many bytes
IMAP_MAX_LINE: Final = 16384  # Arkime's imap/pop3 give up on longer lines
SMTP_IP_HEADERS: Final = ("x-originating-ip", "x-barracuda-apparent-source-ip")  # Arkime's sample config
EMPTY_MD5: Final = md5_hex(b"")  # of an attachment with no bytes
EMPTY_SHA256: Final = sha256_hex(b"")

_G: Final = "email"
fields.register(
    fields.field("email.src", "email.src", "lotermfield", _G, "Email from addresses", multi=True),
    fields.field("email.dst", "email.dst", "lotermfield", _G, "Email to and cc addresses", multi=True),
    fields.field("email.subject", "email.subject", "termfield", _G, "Email subject header (decoded)",
                 multi=True),
    fields.field("email.id", "email.message-id", "termfield", _G, "Email Message-Id header", multi=True),
    fields.field("email.host", "host.email", "lotermfield", _G, "Host names in Received headers",
                 multi=True),
    fields.field("email.ip", "ip.email", "ip", _G, "Addresses in Received and X-Originating-IP headers",
                 multi=True),
    fields.field("email.smtpHello", "email.smtp-hello", "lotermfield", _G, "SMTP HELO/EHLO name",
                 multi=True),
    fields.field("email.useragent", "email.x-mailer", "termfield", _G, "Email X-Mailer/User-Agent header",
                 multi=True),
    fields.field("email.contentType", "email.content-type", "termfield", _G, "Email Content-Type header",
                 multi=True),
    fields.field("email.mimeVersion", "email.mime-version", "termfield", _G, "Email Mime-Version header",
                 multi=True),
    fields.field("email.filename", "email.fn", "termfield", _G, "Email attachment file names", multi=True),
    fields.field("email.md5", "email.md5", "termfield", _G, "MD5 of base64 attachments", multi=True),
    fields.field("email.sha256", "email.sha256", "termfield", _G, "SHA-256 of base64 attachments",
                 multi=True),
    fields.field("email.header", "email.has-header", "lotermfield", _G, "Header names present", multi=True),
    fields.field("email.headerField", "email.has-header.name", "termfield", _G,
                 "Names of the headers without their own field", multi=True, count=""),
    fields.field("email.headerValue", "email.has-header.value", "termfield", _G,
                 "Values of the headers without their own field", multi=True),
    fields.field("email.folder", "email.folder", "termfield", _G, "IMAP folders selected", multi=True),
)

# SMTP states per direction (Arkime's, minus the byte-level "return" states).
CMD: Final = 0
AUTH_LOGIN: Final = 1
AUTH_PLAIN: Final = 2
HEADER: Final = 3
DATA: Final = 4
MIME: Final = 5
MIME_DATA: Final = 6
TLS_OK: Final = 7
TLS_WAIT: Final = 8
IGNORE: Final = 9

AFTER_CR: Final = 1
AFTER_CR_SPEND: Final = 2

# Header name -> the field its value fills.
KNOWN_HEADERS: Final = {
    "cc": "email.dst", "to": "email.dst", "from": "email.src", "message-id": "email.id",
    "content-type": "email.contentType", "subject": "email.subject", "x-mailer": "email.useragent",
    "user-agent": "email.useragent", "mime-version": "email.mimeVersion", "received": "received",
}


class Values:
    """Ordered, bounded, de-duplicated field values written into ``session.fields``."""

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}

    def add(self, path: str, value: str) -> None:
        values = self.values.get(path)
        if values is None:  # (not setdefault: that builds a list on every call)
            values = self.values[path] = []
        if value not in values and len(values) < MAX_VALUES:
            values.append(value)

    def add_ip(self, text: str) -> None:
        ip = parse_ip(text)
        if ip is not None:
            self.add("email.ip", ip)

    def write(self, session: Session) -> None:
        for path, values in self.values.items():
            if values:
                session.fields[path] = list(values)


def parse_ip(text: str) -> str | None:
    """An address as mail headers write it; IPv4 the inet_aton way ("10.000.00.03" is 10.0.0.3)."""
    text = text.strip()
    try:
        if ":" in text:
            return str(ipaddress.IPv6Address(text))
        return socket.inet_ntoa(socket.inet_aton(text))  # the dotted quad ipaddress would print
    except (OSError, ValueError, UnicodeError):
        return None


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _atoi(raw: bytes) -> int:
    match = _LEADING_INT.match(raw)
    return int(match.group(1)) if match else 0


_LEADING_INT: Final = re.compile(rb"\s*([+-]?\d+)")  # compiled once: re.match(pattern) looks it up per call


def remove_matching(raw: bytes, start: int, stop: int) -> bytes:
    """Skip leading blanks and an opening ``start``; keep up to ``stop`` (Arkime's helper)."""
    raw = raw.lstrip()
    if raw[:1] == bytes((start,)):
        raw = raw[1:]
    end = raw.find(bytes((stop,)))
    return raw if end < 0 else raw[:end]


def parse_addresses(raw: bytes, stop_at_eol: bool = False) -> list[str]:
    """Addresses of a From/To/Cc value: the part in <>, else the text up to a comma."""
    out, pos, end = [], 0, len(raw)
    stops = b"<,\r\n" if stop_at_eol else b"<,"
    while pos < end:
        while pos < end and raw[pos] in b" \t\r\n\v\f":
            pos += 1
        start = pos
        if pos < end and raw[pos] == 0x22:  # a quoted display name
            pos = raw.find(b'"', pos + 1)
            pos = end if pos < 0 else pos
            pos += 1
            while pos < end and raw[pos] in b" \t\r\n\v\f":
                pos += 1
            start = pos
        while pos < end and raw[pos] not in stops:
            pos += 1
        if pos < end and raw[pos] == 0x3C:
            pos += 1
            start = pos
            while pos < end and raw[pos] != 0x3E:
                pos += 1
        if pos > start or not stop_at_eol:
            out.append(_text(raw[start:min(pos, end)]).lower())
        while pos < end and raw[pos] not in (b",\r\n" if stop_at_eol else b","):
            pos += 1
        if pos < end:
            pos += 1
    return out


def _q_decode(text: bytes) -> bytes:
    """RFC 2047 "Q": =XX escapes and _ for space, up to the closing ``?=``."""
    out, i, n = bytearray(), 0, len(text)
    while i < n:
        c = text[i]
        if c == 0x3D:  # '=': two hex digits follow, else the word ends here
            if i + 2 >= n or text[i + 1] == 0x0A:
                break
            try:
                out.append(int(text[i + 1:i + 3], 16))
            except ValueError:
                out.append(0)
            i += 3
            continue
        if c == 0x5F:  # '_'
            out.append(0x20)
        elif c == 0x3F and text[i + 1:i + 2] == b"=":
            break
        else:
            out.append(c)
        i += 1
    return bytes(out)


def _convert(raw: bytes, charset: str) -> str:
    """Decode with a MIME charset name; raises LookupError or UnicodeError where iconv would fail."""
    name = charset.strip().split("*", 1)[0]
    codecs.lookup(name)
    return raw.decode(name)


def decode_words(raw: bytes) -> str:
    """RFC 2047 encoded-words of a header, decoded the way Arkime does it.

    Text outside encoded words is read as Windows-1252; a lone space between two words is
    dropped. Anything Arkime cannot convert leaves the whole value as it came.
    """
    try:
        out = _decode_words(raw)
    except (LookupError, UnicodeError, ValueError):
        return _text(raw)
    data = out.encode("utf-8")
    if len(data) > MAX_SUBJECT:
        out = data[:MAX_SUBJECT].decode("utf-8", "ignore")
    return out


def _decode_words(raw: bytes) -> str:
    parts: list[str] = []
    pos, end = 0, len(raw)
    while pos < end:
        start_q = raw.find(b"=?", pos)
        if start_q != pos:
            stop = end if start_q < 0 else start_q
            skip = 1 if stop == pos + 1 and raw[pos] == 0x20 and start_q >= 0 else 0
            parts.append(raw[pos + skip:stop].decode("cp1252"))
            pos = stop
            continue
        question = raw.find(b"?", pos + 2)
        if question < 0:
            raise ValueError("no charset end")
        end_q = raw.find(b"?=", question + 3)
        if end_q < 0:
            raise ValueError("no word end")
        charset = raw[pos + 2:question].decode("ascii")
        kind = raw[question + 1:question + 2].upper()
        text = raw[question + 3:end_q]
        if question + 3 == end_q:
            pass  # empty encoded text
        elif kind == b"B":
            parts.append(_convert(_b64(text), charset))
        elif kind == b"Q":
            parts.append(_convert(_q_decode(raw[question + 3:]), charset))
        else:
            raise ValueError("unknown encoding")
        pos = end_q + 2
    return "".join(parts)


def _b64(text: bytes) -> bytes:
    """Lenient base64 (glib's): characters outside the alphabet are skipped."""
    clean = _NOT_B64.sub(b"", text)
    clean = clean[: len(clean) - len(clean) % 4 if len(clean) % 4 == 1 else len(clean)]
    try:
        return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))
    except binascii.Error:
        return b""


def parse_received(values: Values, raw: bytes) -> None:
    """Hosts after ``from``/``by`` and addresses in [] of a Received header."""
    pos, end = 0, len(raw)
    search = _RECEIVED_MARK.search
    while pos < end:
        # Only positions where "from ", "by " or "[" start can do anything: jump to the next one.
        mark = search(raw, pos)
        if mark is None:
            return
        pos = mark.start()
        if end - pos > 10:
            if raw.startswith(b"from ", pos) and (pos == 0 or raw[pos - 1] != 0x2D):
                pos += 5
                while pos < end and raw[pos] in b" \t\r\n\v\f":
                    pos += 1
                if pos < end and raw[pos] == 0x5B:
                    close = raw.find(b"]", pos + 1)
                    close = end if close < 0 else close
                    values.add_ip(_text(raw[pos + 1:close]))
                    pos = close + 1
                    continue
                pos = _received_host(values, raw, pos)
            elif raw.startswith(b"by ", pos):
                pos += 3
                while pos < end and raw[pos] in b" \t\r\n\v\f":
                    pos += 1
                pos = _received_host(values, raw, pos)
        if pos < end and raw[pos] == 0x5B:
            close = raw.find(b"]", pos + 1)
            close = end if close < 0 else close
            values.add_ip(_text(raw[pos + 1:close]))
            pos = close
        pos += 1


_RECEIVED_MARK: Final = re.compile(rb"from |by |\[")


def _received_host(values: Values, raw: bytes, pos: int) -> int:
    start, end = pos, len(raw)
    while pos < end and raw[pos] not in b" )":
        if raw[pos] == 0x40:  # user@host: keep the host
            start = pos + 1
        pos += 1
    values.add("email.host", _text(raw[start:pos]).lower())
    return pos


def _ntlm_blob(session: Any, line: bytes) -> bool:
    """A base64 NTLMSSP message inside a mail protocol's AUTH exchange names the session ntlm and
    fills its ntlm fields."""
    blob = line.strip()
    for prefix in (b"334 ", b"+ "):
        if blob.startswith(prefix):
            blob = blob[len(prefix):].strip()
    if not blob.startswith(ntlm.MAGIC_BASE64):
        return False
    raw = ntlm.decode_base64(blob)
    if raw.startswith(ntlm.MAGIC):
        session.add_protocol("ntlm")
        ntlm.record(session, raw)
        return True
    return False


def _skip_body_lines(data: bytes, pos: int) -> int:
    """Where the lines of a message body (no MIME boundaries) can matter again, from ``pos``.

    In that state a line only counts when it is "." (the end of the message), so every line
    before the first one that could be "." is skipped without splitting it out. Returns the
    start of the line holding the first ".<CR>", else of the line ended by the last CR (so that
    the normal loop still sees how the chunk ends), else ``pos``.
    """
    anchor = data.find(b".\r", pos)
    if anchor < 0:
        anchor = data.rfind(b"\r", pos)
        if anchor < 0:
            return pos
    return _line_start(data, pos, anchor)


def _line_start(data: bytes, pos: int, end: int) -> int:
    """The start of the line after the last CR in ``data[pos:end]`` (past an LF right after that
    CR, which the line loop drops), or ``pos`` when there is no CR there."""
    cr = data.rfind(b"\r", pos, end)
    if cr < 0:
        return pos
    start = cr + 1
    return start + 1 if start < len(data) and data[start] == 0x0A else start


# A body line that may matter starts with "-" (a MIME boundary) or "." (the end of the
# message), after the CR or LF that ends the line before it. (Four finds: a regular expression
# took ~20 instructions a byte to look for them.)
_MARKERS: Final = (b"\n-", b"\n.", b"\r-", b"\r.")
# Bytes of body lines taken as one block at most (shorter than any line _body_line ignores).
BLOCK_MAX: Final = 16384
_LINE_ENDS: Final = b"\r\n"
_B64_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def _plain_lines_end(data: bytes, pos: int) -> int:
    """The end of the complete body lines from ``pos`` that start with neither "-" nor "." (a
    line start: after a CR, or after CR LF). The last complete line of the chunk is left out, as
    in ``_skip_body_lines``, so that the per-line loop sees how the chunk ends."""
    if pos >= len(data) or data[pos] in b"-.":
        return pos
    limit = min(len(data), pos + BLOCK_MAX)
    marked = -1
    for marker in _MARKERS:
        at = data.find(marker, pos, limit if marked < 0 else marked + 1)
        if at >= 0:
            marked = at
    if marked >= 0:
        return _line_start(data, pos, marked + 1)
    last = data.rfind(b"\r", pos, limit)
    return _line_start(data, pos, last) if last >= 0 else pos


class SMTPSide:
    """The line state of one direction."""

    __slots__ = ("state", "line", "pending", "need_status", "bdat", "in_bdat", "seen_headers",
                 "base64", "b64_rest", "md5", "sha256", "after_cr")

    def __init__(self) -> None:
        self.state = CMD
        self.line = bytearray()
        self.pending: bytearray | None = None  # a header line waiting for its folded continuation
        self.need_status = False
        self.bdat = 0
        self.in_bdat = False
        self.seen_headers = False
        self.base64 = False
        self.b64_rest = b""
        # Made at a part's first base64 bytes: most sides never carry an attachment.
        self.md5: Any = None
        self.sha256: Any = None
        self.after_cr = 0  # the last chunk ended with CR: an LF opening the next one is dropped


class SMTPParser(Parser):
    name = "smtp"

    def __init__(self) -> None:
        self.values = Values()
        self.sides = (SMTPSide(), SMTPSide())
        self.boundaries: list[bytes] = []
        self.tags: list[str] = []
        self.ntlm = False
        self.sha256 = True  # supportSha256: attachments get a SHA-256 beside their MD5

    def configure(self, settings: Any) -> None:
        self.sha256 = bool(settings.supportSha256)

    # --- byte stream -> lines ---------------------------------------------------------------
    def data(self, session: Session, data: bytes, direction: int) -> None:
        """Split into lines ended by CR (an LF right after it is dropped), within BDAT budgets."""
        side = self.sides[direction]
        pos, n = 0, len(data)
        if side.after_cr and n and data[0] == 0x0A:
            pos = 1
            if side.after_cr == AFTER_CR_SPEND:
                self._spend(side, 1)
        side.after_cr = 0
        while pos < n:
            if side.state == IGNORE:
                return
            if side.state == TLS_WAIT:
                if data[pos] == 0x16:  # a TLS record: the rest of this side is encrypted
                    side.state = IGNORE
                    return
                side.state = CMD
            in_bdat = side.in_bdat
            if (side.state == DATA or side.state == MIME_DATA) and not in_bdat and not side.line:
                pos = self._body_block(side, data, pos) if self.boundaries else _skip_body_lines(data, pos)
            limit = min(n, pos + side.bdat) if in_bdat else n
            cr = data.find(b"\r", pos, limit)
            stop = limit if cr < 0 else cr
            partial = side.line
            if cr >= 0 and not partial:  # a whole line in this chunk: no need to buffer it
                line = data[pos:stop] if stop - pos <= MAX_LINE else b""
            else:
                if len(partial) + stop - pos <= MAX_LINE:
                    partial += data[pos:stop]
                if cr < 0:
                    if in_bdat:
                        self._spend(side, limit - pos)
                    pos = limit
                    continue
                line = bytes(partial)
                partial.clear()
            start, pos = pos, cr + 1
            room = side.bdat - (pos - start) if in_bdat else 1
            if pos < n:
                if data[pos] == 0x0A and room > 0:
                    pos += 1
            elif room > 0:
                side.after_cr = AFTER_CR_SPEND if in_bdat else AFTER_CR
            self._line(session, direction, side, line)
            if in_bdat:
                self._spend(side, pos - start)

    def _spend(self, side: SMTPSide, count: int) -> None:
        """BDAT chunks are counted in bytes: at the end of one, commands follow."""
        side.bdat -= count
        if side.bdat <= 0:
            side.in_bdat = False
            self._flush_header(side)
            self._flush_mime(side)
            side.state = CMD

    # --- one complete line ------------------------------------------------------------------
    def _line(self, session: Session, direction: int, side: SMTPSide, line: bytes) -> None:
        state = side.state
        if state == CMD:
            self._command(session, direction, side, line)
        elif state in (AUTH_LOGIN, AUTH_PLAIN):
            side.state = CMD  # the line after AUTH LOGIN / AUTH PLAIN: the credentials
            self._auth_user(session, line, state == AUTH_PLAIN)
        elif state == HEADER:
            self._header_line(session, direction, side, line)
        elif state in (DATA, MIME_DATA):
            self._body_line(session, direction, side, line)
        elif state == MIME:
            self._mime_line(session, direction, side, line)
        elif state == TLS_OK:
            # The server's answer to STARTTLS; detection may look again at what follows it.
            side.state = TLS_WAIT
            redetect(session, direction)

    def _command(self, session: Session, direction: int, side: SMTPSide, line: bytes) -> None:
        other = self.sides[1 - direction]
        upper = line[:10].upper()
        if other.need_status:
            other.need_status = False
            self._tag(f"smtp:statuscode:{_atoi(line)}")
        elif self.ntlm and _ntlm_blob(session, line):
            pass
        elif upper.startswith((b"HELO ", b"EHLO ")):
            self.values.add("email.smtpHello", _text(line[5:].strip()).lower())
        elif upper == b"MAIL FROM:":
            self.values.add("email.src", _text(remove_matching(line[10:], 0x3C, 0x3E)).lower())
        elif upper.startswith(b"RCPT TO:"):
            self.values.add("email.dst", _text(remove_matching(line[8:], 0x3C, 0x3E)).lower())
        elif upper.startswith(b"DATA"):
            side.state = HEADER
            side.seen_headers = True
        elif upper.startswith(b"BDAT"):
            side.in_bdat = True
            side.bdat = max(0, _atoi(line[5:]))
            side.state = DATA if side.seen_headers else HEADER
            side.seen_headers = True
        elif upper.startswith(b"AUTH LOGIN"):
            self._tag("smtp:authlogin")
            side.state = CMD if len(line) > 11 else AUTH_LOGIN
            if len(line) > 11:
                self._auth_user(session, line[11:], False)
        elif upper.startswith(b"AUTH PLAIN"):
            self._tag("smtp:authplain")
            side.state = CMD if len(line) > 11 else AUTH_PLAIN
            if len(line) > 11:
                self._auth_user(session, line[11:], True)
        elif upper.startswith(b"AUTH NTLM"):
            self._tag("smtp:authntlm")
            self.ntlm = True
            if len(line) > 10:
                _ntlm_blob(session, line[10:])
        elif upper.startswith(b"STARTTLS"):
            self._starttls(session, direction)

    def _starttls(self, session: Session, direction: int) -> None:
        """After STARTTLS each side either turns to TLS (stop) or, in a decrypted capture, goes on."""
        self._tag("smtp:starttls")
        self.sides[direction].state = TLS_WAIT
        self.sides[1 - direction].state = TLS_OK
        redetect(session, direction)

    def _auth_user(self, session: Session, encoded: bytes, plain: bool) -> None:
        """The user of an AUTH LOGIN (base64 of the name) or AUTH PLAIN (base64 of
        ``authzid NUL authcid NUL password``: the authcid, when a password follows it)."""
        decoded = _b64(encoded.strip())
        if plain:
            parts = decoded.split(b"\0")
            decoded = parts[1] if len(parts) >= 3 else b""
        if decoded:
            add_user(session, _text(decoded))

    def _tag(self, tag: str) -> None:
        if tag not in self.tags:
            self.tags.append(tag)

    # --- message headers --------------------------------------------------------------------
    def _header_line(self, session: Session, direction: int, side: SMTPSide, line: bytes) -> None:
        if side.pending is not None and line[:1] in (b" ", b"\t"):
            side.pending += b" " + line[1:]
            return
        self._flush_header(side)
        if line == b".":
            self._end_message(side)
        elif not line:
            side.state = DATA
        else:
            side.pending = bytearray(line)

    def _flush_header(self, side: SMTPSide) -> None:
        if side.pending is None:
            return
        line, side.pending = bytes(side.pending), None
        colon = line.find(b":")
        if colon < 0:
            return
        name = _text(line[:colon]).lower()
        self.values.add("email.header", name)
        value = line[colon + 1:]
        target = KNOWN_HEADERS.get(name)
        if target is not None:
            self._known_header(side, target, line, value)
        elif name in SMTP_IP_HEADERS:
            self.values.add_ip(_text(remove_matching(value, 0x5B, 0x5D)))
        else:
            self.values.add("email.headerField", name)
            self.values.add("email.headerValue", _text(value.lstrip()))

    def _known_header(self, side: SMTPSide, target: str, line: bytes, value: bytes) -> None:
        values = self.values
        if target == "email.subject":
            if line[8:9] != b" ":
                self._tag("smtp:missing-subject-space")
                values.add(target, decode_words(line[8:]))
            else:
                values.add(target, decode_words(line[9:]))
        elif target in ("email.src", "email.dst"):
            for address in parse_addresses(value):
                values.add(target, address)
        elif target == "email.id":
            values.add(target, _text(remove_matching(value, 0x3C, 0x3E)))
        elif target == "received":
            parse_received(values, value)
        elif target == "email.contentType":
            values.add(target, _text(line[13:].lstrip()))
            self._boundary(line[13:])
        else:
            values.add(target, _text(value.lstrip()))

    def _boundary(self, value: bytes) -> None:
        at = value.lower().find(b"boundary=")
        if at >= 0 and len(self.boundaries) < 100:
            boundary = remove_matching(value[at + 9:], 0x22, 0x22)
            self.boundaries.append(boundary)

    def _end_message(self, side: SMTPSide) -> None:
        side.need_status = True
        side.state = CMD

    # --- body and MIME parts ----------------------------------------------------------------
    def _body_line(self, session: Session, direction: int, side: SMTPSide, line: bytes) -> None:
        if not side.in_bdat and line == b".":
            self._end_message(side)
            return
        if line[:1] == b"-" and any(len(line) >= len(b) + 2 and line[2:2 + len(b)] == b
                                    for b in self.boundaries):
            self._part_done(side)
            side.state = MIME
            return
        if side.state == MIME_DATA and side.base64 and len(line) < 20000:
            # Decode in 4-character groups, carrying the rest to the next line as glib does.
            text = side.b64_rest + _NOT_B64_BODY.sub(b"", line)
            cut = len(text) - len(text) % 4
            side.b64_rest = text[cut:]
            try:
                chunk = binascii.a2b_base64(text[:cut])
            except binascii.Error:
                chunk = b""
            self._hash(side, chunk)

    def _body_block(self, side: SMTPSide, data: bytes, pos: int) -> int:
        """Where the per-line loop must take over again, from ``pos``, in a body with MIME parts.

        Only a line that starts with "-" (a boundary) or "." (the end) can change the state, so
        the lines before the first such line are taken as one block: skipped, or, in a base64
        part, decoded and hashed in one call instead of one per line (~10,000 instructions a
        line). Returns ``pos`` when the block is empty or must go line by line after all."""
        stop = _plain_lines_end(data, pos)
        if stop > pos and side.state == MIME_DATA and side.base64:
            if not self._decode_block(side, data[pos:stop]):
                return pos
        return stop

    def _decode_block(self, side: SMTPSide, block: bytes) -> bool:
        """Decode the base64 lines of ``block`` as ``_body_line`` would one by one; False (nothing
        done) when they could decode differently: padding before the end of the text ("QQ==QUJD"
        is two pieces line by line, one to binascii) or base64 that binascii refuses."""
        text = block.translate(None, _LINE_ENDS)
        if text.translate(None, _B64_ALPHABET):  # spaces or other stray bytes: as line by line
            text = _NOT_B64_BODY.sub(b"", text)
        text = side.b64_rest + text
        pad = text.find(b"=")
        if pad >= 0 and (pad < len(text.rstrip(b"=")) or len(text) - pad > 2):
            return False
        cut = len(text) - len(text) % 4
        try:
            chunk = binascii.a2b_base64(text[:cut])
        except binascii.Error:
            return False
        side.b64_rest = text[cut:]
        self._hash(side, chunk)
        return True

    def _hash(self, side: SMTPSide, chunk: bytes) -> None:
        if side.md5 is None:
            side.md5 = md5(chunk)
            side.sha256 = Sha256Stream(chunk) if self.sha256 else None
        else:
            side.md5.update(chunk)
            if side.sha256 is not None:
                side.sha256.update(chunk)

    def _part_done(self, side: SMTPSide) -> None:
        if side.base64:
            if side.md5 is None:  # a base64 part with nothing in it
                self.values.add("email.md5", EMPTY_MD5)
                if self.sha256:
                    self.values.add("email.sha256", EMPTY_SHA256)
            else:
                self.values.add("email.md5", side.md5.hexdigest())
                if side.sha256 is not None:
                    self.values.add("email.sha256", side.sha256.hexdigest())
        side.base64 = False
        side.b64_rest = b""
        side.md5 = side.sha256 = None

    def _mime_line(self, session: Session, direction: int, side: SMTPSide, line: bytes) -> None:
        if side.pending is not None and line[:1] in (b" ", b"\t"):
            side.pending += line
            return
        self._flush_mime(side)
        if not line:
            side.state = MIME_DATA
        elif line == b".":
            self._end_message(side)
        else:
            side.pending = bytearray(line)

    def _flush_mime(self, side: SMTPSide) -> None:
        if side.pending is None:
            return
        line, side.pending = bytes(side.pending), None
        lower = line.lower()
        if lower.startswith(b"content-type:"):
            self._boundary(line[13:].lstrip())
        elif lower.startswith(b"content-disposition:"):
            at = lower.find(b"filename=", 13)
            if at >= 0:
                self.values.add("email.filename", decode_words(remove_matching(line[at + 9:], 0x22, 0x22)))
        elif lower.startswith(b"content-transfer-encoding:") and b"base64" in lower[26:]:
            side.base64 = True

    def finish(self, session: Session) -> None:
        self.values.write(session)
        for tag in self.tags:
            session.add_tag(tag)


def detect_smtp(session: Any, data: bytes, direction: int) -> bool:
    """A client's HELO/EHLO, or a server's 220 greeting that says SMTP."""
    if len(data) < 5:
        return False
    return data[:5] in (b"HELO ", b"EHLO ") or (data[:4] == b"220 " and b"SMTP" in data)


# --- IMAP -----------------------------------------------------------------------------------
class IMAPParser(Parser):
    """Headers of messages the server FETCHes, and the folders the client SELECTs."""

    name = "imap"

    def __init__(self) -> None:
        self.values = Values()
        self.server = -1  # the side that sent the greeting: the first data this parser sees
        self.buffer = [bytearray(), bytearray()]
        self.in_fetch = False
        self.in_headers = False
        self.ntlm = False
        self.stopped = False
        self.tags: list[str] = []

    def data(self, session: Session, data: bytes, direction: int) -> None:
        if self.stopped:
            return
        if self.server < 0:
            self.server = direction
        buf = self.buffer[direction]
        pos, n = 0, len(data)
        while pos < n:
            nl = data.find(b"\n", pos)
            if nl < 0:
                if len(buf) + n - pos > IMAP_MAX_LINE:
                    self._too_long()
                    return
                buf += data[pos:]
                return
            line = data[pos:nl]
            pos = nl + 1
            buffered = bool(buf)
            if buffered:
                if len(buf) + len(line) > IMAP_MAX_LINE:
                    self._too_long()
                    return
                line = bytes(buf) + line
                buf.clear()
            if line.endswith(b"\r"):
                line = line[:-1]
            self._line(session, direction, line, buffered)

    def _too_long(self) -> None:
        self.tags.append("imap:line-too-long")
        self.stopped = True

    def _line(self, session: Session, direction: int, line: bytes, buffered: bool) -> None:
        if direction == self.server:
            self._server_line(session, line)
        elif not buffered:  # Arkime reads client commands only when they arrive in one piece
            self._client_line(session, line)

    def _server_line(self, session: Session, line: bytes) -> None:
        if self.ntlm and _ntlm_blob(session, line):
            return
        if len(line) > 6 and line[:2] == b"* ":
            if b"fetch" in line.lower():
                self.in_fetch = self.in_headers = True
        elif self.in_fetch and line[:1] == b")":
            self.in_fetch = self.in_headers = False
        elif self.in_fetch and self.in_headers:
            if not line:
                self.in_headers = False
            else:
                self._header(line)

    def _header(self, line: bytes) -> None:
        if len(line) < 3:
            return
        lower = line[:8].lower()
        if len(line) > 5 and lower.startswith(b"from:"):
            for address in parse_addresses(line[5:], stop_at_eol=True):
                self.values.add("email.src", address)
        elif lower.startswith((b"to:", b"cc:")):
            for address in parse_addresses(line[3:], stop_at_eol=True):
                self.values.add("email.dst", address)
        elif len(line) > 8 and lower == b"subject:":
            self.values.add("email.subject", _text(line[8:].lstrip()))

    def _client_line(self, session: Session, line: bytes) -> None:
        if self.ntlm and _ntlm_blob(session, line):
            return
        if len(line) <= 7:
            return
        parts = line.split(None, 1)
        command = parts[1] if len(parts) > 1 else b""
        upper = command[:22].upper()
        if upper.startswith(b"AUTHENTICATE NTLM"):
            self.ntlm = True
            return
        if upper.startswith(b"SELECT "):
            folder = command[7:]
        elif upper.startswith(b"EXAMINE "):
            folder = command[8:]
        else:
            return
        folder = folder.lstrip()
        if folder[:1] == b'"':
            end = folder.find(b'"', 1)
            folder = folder[1:] if end < 0 else folder[1:end]
        else:
            folder = folder.rstrip()
        if folder:
            self.values.add("email.folder", _text(folder))

    def finish(self, session: Session) -> None:
        self.values.write(session)
        for tag in self.tags:
            session.add_tag(tag)


def detect_imap(session: Any, data: bytes, direction: int) -> bool:
    """A server greeting ``* OK`` that mentions IMAP."""
    return len(data) >= 10 and data[:5] == b"* OK " and b"imap" in data[5:].lower()


# --- POP3 -----------------------------------------------------------------------------------
class POP3Parser(Parser):
    """POP3 carries nothing Arkime indexes but NTLM logins (``AUTH NTLM``)."""

    name = "pop3"

    def __init__(self) -> None:
        self.buffer = [bytearray(), bytearray()]
        self.server = -1  # the side that sent the greeting: the first data this parser sees
        self.ntlm = False
        self.done = False
        self.tags: list[str] = []

    def data(self, session: Session, data: bytes, direction: int) -> None:
        if self.done:
            return
        if self.server < 0:
            self.server = direction
        buf = self.buffer[direction]
        buf += data
        *lines, rest = bytes(buf).split(b"\n")
        if len(rest) > IMAP_MAX_LINE:
            self.tags.append("pop3:line-too-long")
            self.done = True
            return
        buf[:] = rest
        for line in lines:
            self._line(session, line.rstrip(b"\r"), direction != self.server)
            if self.done:
                return

    def _line(self, session: Session, line: bytes, client: bool) -> None:
        if client and line[:9].upper() == b"AUTH NTLM":
            if "pop3:authntlm" not in self.tags:
                self.tags.append("pop3:authntlm")
            self.ntlm = True
            if len(line) > 10:
                _ntlm_blob(session, line[10:])
        elif self.ntlm and _ntlm_blob(session, line):
            pass
        elif client and line[:5].upper() == b"USER ":
            user = line[5:].strip()
            if user:
                add_user(session, _text(user))
            self.done = True  # nothing after the user name is indexed

    def finish(self, session: Session) -> None:
        for tag in self.tags:
            session.add_tag(tag)


def detect_pop3(session: Any, data: bytes, direction: int) -> bool:
    """A server greeting ``+OK`` that mentions POP."""
    return len(data) >= 8 and data[:4] == b"+OK " and b"pop" in data[4:].lower()


register(Protocol("smtp", TCP, detect_smtp, parser=SMTPParser, prefixes=(b"HELO ", b"EHLO ", b"220 ")))
register(Protocol("imap", TCP, detect_imap, parser=IMAPParser, prefixes=(b"* OK ",)))
register(Protocol("pop3", TCP, detect_pop3, parser=POP3Parser, prefixes=(b"+OK ",)))
