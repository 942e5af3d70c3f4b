"""DNS over UDP and TCP port 53, written as Arkime's ``dns`` list of query objects.

A query and its response share one object, keyed like Arkime's by (message id, opcode, query
class, query type, query name). Each object carries the query (``queryHost``, ``qt``, ``qc``,
``opcode``), the hosts seen (query name, CNAME targets), the addresses of A/AAAA answers for
those hosts, the name and mail servers with their addresses (Arkime's ``parseDNSRecordAll``),
punycode names, the response code and header flags, and every answer record in ``answers``.

Behaviour follows Arkime's ``capture/parsers/dns.c`` closely, quirks included, because the
documents are compared with Arkime's: names are decoded the way Arkime prints them (bytes
outside printable ASCII as ``M-x``/``^X``), a message needs 17 bytes and an
opcode up to 5 to count as DNS, a message with more or less than one question is only tagged,
records of a class other than IN are skipped. mDNS (5353) and LLMNR (5355) go through the same
parser into the same ``dns`` objects, as in Arkime.
"""

from __future__ import annotations

import re
import socket
import struct
from typing import TYPE_CHECKING, Any, Final

from appliance import fields
from appliance.documents import ip_text
from appliance.memo import remembered
from appliance.protocols import TCP, UDP, Parser, Protocol, register

if TYPE_CHECKING:
    from appliance.sessions import Session

QCLASSES: Final = {1: "IN", 2: "CS", 3: "CH", 4: "HS", 255: "ANY"}
QTYPES: Final = {
    1: "A", 2: "NS", 3: "MD", 4: "MF", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG", 9: "MR", 10: "NULL",
    11: "WKS", 12: "PTR", 13: "HINFO", 14: "MINFO", 15: "MX", 16: "TXT", 17: "RP", 18: "AFSDB",
    19: "X25", 20: "ISDN", 21: "RT", 22: "NSAP", 23: "NSAPPTR", 24: "SIG", 25: "KEY", 26: "PX",
    27: "GPOS", 28: "AAAA", 29: "LOC", 30: "NXT", 31: "EID", 32: "NIMLOC", 33: "SRV", 34: "ATMA",
    35: "NAPTR", 36: "KX", 37: "CERT", 38: "A6", 39: "DNAME", 40: "SINK", 41: "OPT", 42: "APL",
    43: "DS", 44: "SSHFP", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 49: "DHCID", 50: "NSEC3",
    51: "NSEC3PARAM", 52: "TLSA", 55: "HIP", 65: "HTTPS", 99: "SPF", 108: "EUI48", 109: "EUI64",
    249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR", 253: "MAILB", 254: "MAILA", 255: "ANY",
    256: "URI", 257: "CAA",
}
RCODES: Final = (
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMPL", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI", "12", "13", "14", "15", "BADSIG_VERS", "BADKEY",
    "BADTIME", "BADMODE", "BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE",
)
OPCODES: Final = ("QUERY", "IQUERY", "STATUS", "3", "NOTIFY", "UPDATE")
FLAGS: Final = ("AA", "TC", "RD", "RA", "Z", "AD", "CD")  # bit 6 .. bit 0 of Arkime's packed flags

_RECORD: Final = struct.Struct(">HHIH")  # type, class, TTL, data length of a resource record
ROOT: Final = "<root>"
CLASS_IN: Final = 1
TYPE_OPT: Final = 41
NAME_MAX: Final = 8000  # Arkime's name buffer
MAX_POINTERS: Final = 10  # compression pointers followed before a name is a loop
MAX_OBJECTS: Final = 1000  # query objects kept per session
MAX_ITEMS: Final = 1000  # answers / hosts / addresses kept per query object
BUDGET: Final = 4_000_000  # characters of names and values kept per session, whatever the objects
TCP_BUF_MAX: Final = 65536  # bytes buffered per direction over TCP

# How Arkime prints one byte of a label: high bytes as "M-", control bytes as "^".
_LABEL_CHARS: Final[list[str]] = []
for _c in range(256):
    _s = "M-" if _c >= 0x80 else ""
    _c7 = _c & 0x7F
    if _c7 < 0x20 or _c7 == 0x7F:
        _s += "^"
        _c7 ^= 0x40
    _LABEL_CHARS.append(_s + chr(_c7))


class Reader:
    """A bounded cursor over bytes that, like Arkime's BSB, stays failed after an overrun."""

    __slots__ = ("data", "pos", "end", "bad")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None, bad: bool = False) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end
        self.bad = bad

    def remaining(self) -> int:
        return 0 if self.bad else self.end - self.pos

    def take(self, n: int) -> bytes | None:
        if self.bad or self.pos + n > self.end:
            self.bad = True
            return None
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def u8(self) -> int:
        """The next byte, or 0 once failed (Arkime leaves its zero-initialised variable)."""
        if self.bad or self.pos + 1 > self.end:
            self.bad = True
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        if self.bad or self.pos + 2 > self.end:
            self.bad = True
            return 0
        self.pos += 2
        return self.data[self.pos - 2] << 8 | self.data[self.pos - 1]

    def u32(self) -> int:
        return self.u16() << 16 | self.u16()

    def skip(self, n: int) -> None:
        self.take(n)

    def sub(self, n: int) -> Reader:
        """The next ``n`` bytes as their own reader (failed if they are not there)."""
        if self.bad or self.pos + n > self.end:
            self.bad = True
            return Reader(b"", bad=True)
        self.pos += n
        return Reader(self.data, self.pos - n, self.pos)


# --- names ----------------------------------------------------------------------------------

def _label(raw: bytes) -> str:
    """One label as Arkime prints it. Names repeat label by label ("www", "com", a vendor's
    domain): a remembered label is one dict lookup instead of a check and a decode."""
    text: str = remembered(_LABELS, raw, _label_text, LABELS_KEPT)
    return text


def _label_text(raw: bytes) -> str:
    if raw.isalnum() or _PLAIN.fullmatch(raw):  # most labels are plain letters and digits
        return raw.decode("ascii")
    return "".join([_LABEL_CHARS[b] for b in raw])


LABELS_KEPT: Final = 2048
_LABELS: Final[dict[bytes, str]] = {}


_PLAIN: Final = re.compile(rb"[\x20-\x7e]*")  # the bytes Arkime prints as they are


def read_name(full: bytes, rd: Reader, session: Any = None,
              cache: dict[int, str | None] | None = None) -> str | None:
    """Read a possibly compressed name at ``rd``; pointers are offsets into ``full``.

    Returns the dotted name ("" for the root), or None for a pointer loop or a pointer out of
    the message. A truncated name is returned as far as it goes; the caller checks ``rd.bad``.
    ``cache`` remembers what each pointer target spells, so that a hostile message of
    thousands of records pointing at one long name costs one walk of it.
    """
    if rd.bad:
        return ""
    data, pos, end = rd.data, rd.pos, rd.end  # locals: this loop runs for every label
    labels: list[str] = []
    size = 0
    while pos < end:
        ch = data[pos]
        if ch == 0:
            pos += 1
            break
        if ch & 0xC0:
            if pos + 2 > end:  # cut short: Arkime reads the pointer as 0
                rd.bad = True
                target = 0
            else:
                target = (ch << 8 | data[pos + 1]) & 0x3FFF
                pos += 2
            rd.pos = pos
            return _pointer_tail(full, target, labels, session, cache)
        pos += 1
        if ch > end - pos:
            continue  # Arkime drops the length byte and reads on from the next byte
        if size < NAME_MAX:
            label = _label(data[pos:pos + ch])
            labels.append(label)
            size += len(label) + 1
        pos += ch
    rd.pos = pos
    return _joined(labels)


def _pointer_tail(full: bytes, target: int, labels: list[str], session: Any,
                  cache: dict[int, str | None] | None) -> str | None:
    """Finish a name whose ``labels`` so far end in a compression pointer to ``target``."""
    if target >= len(full):
        return None
    if cache is None or target not in cache:
        tail = _follow(full, target, session)
        if cache is not None:
            cache[target] = tail
    else:
        tail = cache[target]
    if tail is None:
        return None
    if tail:
        labels.append(tail)
    return _joined(labels)


def _joined(labels: list[str]) -> str:
    name = ".".join(labels)
    return name[:NAME_MAX] if len(name) > NAME_MAX else name


def _follow(full: bytes, start: int, session: Any) -> str | None:
    """The rest of a name from the first compression pointer on (None: loop or bad pointer)."""
    labels: list[str] = []
    size = 0
    pos, end = start, len(full)
    pointers = 1
    while pos < end and size < NAME_MAX:
        ch = full[pos]
        if ch == 0:
            break
        if ch & 0xC0:
            if pointers > MAX_POINTERS:
                if session is not None:
                    session.add_tag("dns:bad-pointer-loop")
                return None
            pointers += 1
            # a pointer cut short reads as 0, as Arkime's failed read leaves it
            pos = (ch << 8 | full[pos + 1]) & 0x3FFF if pos + 2 <= end else 0
            if pos >= end:
                return None
            continue
        pos += 1
        if ch > end - pos:
            continue
        label = _label(full[pos:pos + ch])
        labels.append(label)
        size += len(label) + 1
        pos += ch
    return ".".join(labels)


def _punycode_decode(text: str) -> str | None:
    """RFC 3492 decoding as GLib does it (no case folding); None when invalid."""
    base, out = 36, []
    split = text.rfind("-")
    if split > 0:
        if any(ord(c) >= 0x80 for c in text[:split]):
            return None
        out = [ord(c) for c in text[:split]]
        text = text[split + 1:]
    n, i, bias, pos = 128, 0, 72, 0
    while pos < len(text):
        old_i, w, k = i, 1, base
        while True:
            if pos >= len(text):
                return None
            digit = _digit(text[pos])
            pos += 1
            if digit >= base:
                return None
            i += digit * w
            t = 1 if k <= bias else 26 if k >= bias + 26 else k - bias
            if digit < t:
                break
            w *= base - t
            k += base
            if i > 0xFFFFFFFF or w > 0xFFFFFFFF:
                return None
        bias = _adapt(i - old_i, len(out) + 1, old_i == 0)
        n += i // (len(out) + 1)
        i %= len(out) + 1
        if n > 0x10FFFF or 0xD800 <= n <= 0xDFFF:
            return None
        out.insert(i, n)
        i += 1
    return "".join(map(chr, out))


def _digit(c: str) -> int:
    if "a" <= c <= "z":
        return ord(c) - 97
    if "A" <= c <= "Z":
        return ord(c) - 65
    if "0" <= c <= "9":
        return ord(c) - 22
    return 36


def _adapt(delta: int, points: int, first: bool) -> int:
    delta = delta // 700 if first else delta // 2
    delta += delta // points
    k = 0
    while delta > 455:  # ((36 - 1) * 26) // 2
        delta //= 35
        k += 36
    return k + (36 * delta) // (delta + 38)


def to_unicode(name: str) -> str | None:
    """Arkime's g_hostname_to_unicode: decode "xn--" labels; None if one is not valid punycode."""
    if len(name) > 1020:
        return None
    if "xn--" not in name.lower():
        return name
    out = []
    for label in name.split("."):
        if label[:4].lower() == "xn--":
            decoded = _punycode_decode(label[4:])
            if decoded is None:
                return None
            label = decoded
        out.append(label)
    return ".".join(out)


def _bad_host_tag(raw: str) -> str:
    return "bad-punycode" if len(raw) > 4 and "xn--" in raw else "bad-hostname"


# --- addresses ------------------------------------------------------------------------------

def ntop6(b: bytes) -> str:
    """An IPv6 address as glibc's inet_ntop prints it (Arkime's answer ``ip``)."""
    if b[:10] == bytes(10) and b[10:12] == b"\xff\xff":
        return ip_text(b[12:])  # Arkime shows v4-mapped addresses as IPv4
    if b[:12] == bytes(12) and b[12:14] != b"\0\0":
        return "::" + ip_text(b[12:])  # IPv4-compatible form
    # The platform's inet_ntop (C); the same text as ipaddress's compressed form for the rest
    return socket.inet_ntop(socket.AF_INET6, b)


def ip_key(b: bytes) -> str:
    """An address as Arkime writes it in ``dns.ip`` lists: IPv4 dotted, IPv6 fully expanded."""
    if len(b) == 4:
        return ip_text(b)
    if b[:10] == bytes(10) and b[10:12] == b"\xff\xff":
        return ip_text(b[12:])
    return b.hex(":", 2)  # ipaddress's exploded form: eight groups of four hex digits


# --- query objects --------------------------------------------------------------------------

class Query:
    """One of Arkime's dns objects: a question and what the responses said about it."""

    __slots__ = ("opcode", "host", "root", "qclass", "qtype", "hosts", "ns_hosts", "mx_hosts",
                 "puny", "ips", "ns_ips", "mx_ips", "status", "flags", "answers")

    # Defaults: compressed_sessions rebuilds a query held by an idle session from no arguments.
    def __init__(self, opcode: int = 0, host: str = "", root: bool = False, qclass: int = 0, qtype: int = 0) -> None:
        self.opcode = OPCODES[opcode]
        self.host = host
        self.root = root
        self.qclass = QCLASSES.get(qclass)
        self.qtype = QTYPES.get(qtype)
        self.hosts: dict[str, None] = {}  # dicts: ordered sets
        self.ns_hosts: dict[str, None] = {}
        self.mx_hosts: dict[str, None] = {}
        self.puny: dict[str, None] = {}
        self.ips: dict[str, None] = {}
        self.ns_ips: dict[str, None] = {}
        self.mx_ips: dict[str, None] = {}
        self.status: str | None = None
        self.flags = 0
        self.answers: list[dict[str, Any]] = []

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"opcode": self.opcode, "queryHost": self.host}
        if self.qclass:
            doc["qc"] = self.qclass
        if self.qtype:
            doc["qt"] = self.qtype
        for key, values in (("host", self.hosts), ("nameserverHost", self.ns_hosts),
                            ("mailserverHost", self.mx_hosts), ("puny", self.puny),
                            ("ip", self.ips), ("nameserverIp", self.ns_ips),
                            ("mailserverIp", self.mx_ips)):
            if values:
                doc[key] = list(values)
                doc[key + "Cnt"] = len(values)
        if self.flags:
            doc["headerFlags"] = [f for i, f in enumerate(FLAGS) if self.flags & (1 << (6 - i))]
        if self.status is not None:
            doc["status"] = self.status
            doc["answersCnt"] = len(self.answers)
            if self.answers:
                doc["answers"] = [dict(a) for a in self.answers]
        return doc


def _text(raw: bytes) -> str:
    """A C string out of record data: cut at the first NUL, as Arkime's g_strndup does."""
    cut = raw.find(b"\0")
    return (raw if cut < 0 else raw[:cut]).decode("utf-8", "replace")


# --- message parsing ------------------------------------------------------------------------

class Message:
    """The parse of one DNS message into the session's query objects."""

    def __init__(self, state: DnsParser, session: Session, data: bytes) -> None:
        self.state = state
        self.session = session
        self.data = data
        self.query: Query | None = None
        self.names: dict[int, str | None] = {}  # pointer target -> name suffix

    def name(self, rd: Reader) -> str | None:
        return read_name(self.data, rd, self.session, self.names)

    def _add(self, target: dict[str, None], value: str) -> None:
        """Add to one of the object's sets, within the per-object and per-session bounds."""
        if value not in target and len(target) < MAX_ITEMS and self.state.budget > 0:
            target[value] = None
            self.state.budget -= len(value) + 16

    def parse(self) -> None:
        data = self.data
        if len(data) < 17:
            return
        opcode = (data[2] >> 3) & 0xF
        if opcode > 5:
            return
        self.session.add_protocol(self.state.kind)
        qdcount = data[4] << 8 | data[5]
        mdns = self.state.kind == "mdns"
        if qdcount != 1 and not mdns:
            self.session.add_tag("dns:qdcount-not-1")
            return
        rd = Reader(data, 12)
        query = self._question(rd, opcode, qdcount, mdns)
        if query is None or not data[2] & 0x80:
            return  # a question only: nothing more to learn
        if mdns and qdcount > 1:
            for _ in range(qdcount - 1):
                self.name(rd)
                rd.skip(4)
                if rd.bad:
                    return
        self.query = query
        query.status = RCODES[data[3] & 0xF]
        counts = (data[6] << 8 | data[7], data[8] << 8 | data[9], data[10] << 8 | data[11])
        for count in counts:
            self._section(rd, count, mdns)
        query.flags = (data[2] & 0x07) << 4 | (data[3] & 0xF0) >> 4

    def _question(self, rd: Reader, opcode: int, qdcount: int, mdns: bool) -> Query | None:
        """Find or create the query object for this message's question."""
        raw, host, qtype, qclass = ROOT, ROOT, 0, 0
        if qdcount:
            name = self.name(rd)
            if rd.bad or name is None:
                return None
            raw = name
            if name:
                unicode = to_unicode(name)
                if unicode is None:
                    self.session.add_tag(_bad_host_tag(name))
                    return None
                host = unicode
            qtype, qclass = rd.u16(), rd.u16()
            if mdns:
                qclass &= 0x7FFF
        root = not raw or not qdcount
        uid = self.data[0] << 8 | self.data[1]
        key = (uid, opcode, qclass, qtype, host)
        queries = self.state.queries
        query = queries.get(key)
        if query is None:
            if len(queries) >= MAX_OBJECTS or self.state.budget <= 0:
                return None
            query = queries[key] = Query(opcode, host, root, qclass, qtype)
            self.state.budget -= len(host) + 200
            if not root:
                query.hosts[host] = None
                if "xn--" in raw:
                    self._add(query.puny, raw.lower())
        return query

    def _section(self, rd: Reader, count: int, mdns: bool) -> None:
        data, query = self.data, self.query
        assert query is not None
        i = 0
        while not rd.bad and i < count:
            i += 1
            raw = self.name(rd)
            if rd.bad or raw is None:
                break
            name = self._answer_name(raw)
            pos = rd.pos
            if pos + 10 <= rd.end:  # the whole record header is there (rd is not bad here)
                antype, anclass, ttl, rdlength = _RECORD.unpack_from(rd.data, pos)
                rd.pos = pos + 10
            else:
                antype, anclass, ttl, rdlength = rd.u16(), rd.u16(), rd.u32(), rd.u16()
            if antype == TYPE_OPT and ttl >> 24:
                # EDNS: the OPT record's TTL carries the upper 8 bits of a 12-bit response code
                code = (ttl >> 24) << 4 | (data[3] & 0xF)
                query.status = RCODES[code] if code < len(RCODES) else str(code)
            if mdns:
                anclass &= 0x7FFF
            if rd.remaining() < rdlength:
                break
            if anclass != CLASS_IN:
                rd.skip(rdlength)
                continue
            rdata = rd.sub(rdlength)
            extra = self._rdata(antype, rdata, name)
            if extra is None or len(query.answers) >= MAX_ITEMS or self.state.budget <= 0:
                continue
            self.state.budget -= len(name) + 64 + sum(len(str(v)) for v in extra.values())
            answer: dict[str, Any] = extra
            answer["class"] = "IN"
            if antype in QTYPES:
                answer["type"] = QTYPES[antype]
            answer["ttl"] = ttl
            answer["name"] = name
            query.answers.append(answer)

    def _answer_name(self, raw: str) -> str:
        if not raw:
            return ROOT
        if "xn--" in raw:
            self._add(self.query.puny, raw.lower())  # type: ignore[union-attr]
        return to_unicode(raw) or raw

    def _rdata(self, antype: int, rdata: Reader, name: str) -> dict[str, Any] | None:
        """The type-specific part of an answer, {} for types without one, None to drop it."""
        # The common types are direct calls; a handler from the table is a generic Python call.
        if antype == 1:
            return self._address(rdata, name, 4)
        if antype == 28:
            return self._address(rdata, name, 16)
        if antype == 5:
            return self._cname(rdata, name)
        handler = _HANDLERS.get(antype)
        return {} if handler is None else handler(self, rdata, name)

    # --- record types -----------------------------------------------------------------------

    def _address(self, rdata: Reader, name: str, size: int) -> dict[str, Any] | None:
        if rdata.remaining() != size:
            return None
        raw = rdata.take(size) or b""
        query = self.query
        assert query is not None
        key = ip_key(raw)
        if name == query.host or name in query.hosts:
            self._add(query.ips, key)
        if name in query.ns_hosts:
            self._add(query.ns_ips, key)
        if name in query.mx_hosts:
            self._add(query.mx_ips, key)
        return {"ip": key if size == 4 else ntop6(raw)}  # (an IPv4 key is the dotted text)

    def _a(self, rdata: Reader, name: str) -> dict[str, Any] | None:
        return self._address(rdata, name, 4)

    def _aaaa(self, rdata: Reader, name: str) -> dict[str, Any] | None:
        return self._address(rdata, name, 16)

    def _target(self, rdata: Reader, hosts: dict[str, None]) -> str | None:
        """A name in record data, added (decoded) to ``hosts``; None drops the record."""
        raw = self.name(rdata)
        if not raw or rdata.bad:
            return None
        host = to_unicode(raw)
        if host is None:
            self.session.add_tag(_bad_host_tag(raw))
            return None
        self._add(hosts, host)
        if "xn--" in raw:
            self._add(self.query.puny, raw.lower())  # type: ignore[union-attr]
        return host

    def _ns(self, rdata: Reader, name: str) -> dict[str, Any] | None:
        host = self._target(rdata, self.query.ns_hosts)  # type: ignore[union-attr]
        return None if host is None else {"nameserver": host}

    def _cname(self, rdata: Reader, name: str) -> dict[str, Any] | None:
        host = self._target(rdata, self.query.hosts)  # type: ignore[union-attr]
        return None if host is None else {"cname": host}

    def _mx(self, rdata: Reader, name: str) -> dict[str, Any] | None:
        priority = rdata.u16()
        host = self._target(rdata, self.query.mx_hosts)  # type: ignore[union-attr]
        return None if host is None else {"priority": priority, "mx": host}

    def _txt(self, rdata: Reader, name: str) -> dict[str, Any] | None:
        texts = []
        while rdata.remaining() > 0:
            chunk = rdata.take(rdata.u8())
            if chunk is None:
                return None
            if chunk:
                texts.append(_text(chunk))
        return {"txt": texts} if texts else {}

    def _caa(self, rdata: Reader, name: str) -> dict[str, Any] | None:
        if rdata.remaining() <= 3:
            return None
        length = rdata.end - rdata.pos
        flags, tag_len = rdata.u8(), rdata.u8()
        tag = rdata.take(tag_len)
        value = rdata.take((length - tag_len - 2) & 0xFFFF)
        if tag is None or value is None:
            return None
        return {"caa": f"CAA {flags} {_text(tag)} {_text(value)}"}

    def _https(self, rdata: Reader, name: str) -> dict[str, Any] | None:
        text = svcb_text(rdata.take(rdata.remaining()) or b"", self.session)
        return None if text is None else {"https": text}

    def _rrsig(self, rdata: Reader, name: str) -> dict[str, Any] | None:
        if rdata.remaining() < 18:
            return None
        covered, algorithm, labels = rdata.u16(), rdata.u8(), rdata.u8()
        numbers = [rdata.u32(), rdata.u32(), rdata.u32(), rdata.u16()]
        signer = self.name(rdata)
        if not signer or rdata.bad:
            return None
        signer = to_unicode(signer) or signer
        rest = " ".join(map(str, numbers))
        return {"rrsig": f"RRSIG {QTYPES.get(covered, 'UNKNOWN')} {algorithm} {labels} {rest} {signer}"}

    def _nsec(self, rdata: Reader, name: str) -> dict[str, Any] | None:
        following = self.name(rdata)
        if not following or rdata.bad:
            return None
        following = to_unicode(following) or following
        return {"nsec": f"NSEC {following} {' '.join(type_bitmap(rdata))}"}

    def _ds(self, rdata: Reader, name: str) -> dict[str, Any] | None:
        if rdata.remaining() < 5:
            return None
        tag, algorithm, digest_type = rdata.u16(), rdata.u8(), rdata.u8()
        digest = rdata.take(rdata.remaining()) or b""
        return {"ds": f"DS {tag} {algorithm} {digest_type} {digest.hex().upper()}"}


_HANDLERS: Final = {
    1: Message._a, 2: Message._ns, 5: Message._cname, 15: Message._mx, 16: Message._txt,
    28: Message._aaaa, 43: Message._ds, 46: Message._rrsig, 47: Message._nsec, 65: Message._https,
    257: Message._caa,
}


def type_bitmap(rdata: Reader) -> list[str]:
    """The record types named by an NSEC type bit map."""
    names = []
    while rdata.remaining() >= 2:
        window, length = rdata.u8(), rdata.u8()
        if length > rdata.remaining() or length > 32:
            break
        for index, byte in enumerate(rdata.take(length) or b""):
            for bit in range(8):
                if byte & (0x80 >> bit):
                    rrtype = window * 256 + index * 8 + bit
                    names.append(QTYPES.get(rrtype, f"TYPE{rrtype}"))
    return names


def svcb_text(data: bytes, session: Any = None) -> str | None:
    """An HTTPS record as Arkime prints it: "HTTPS prio target alpn=.. port=.. ipv4hint=..".

    Compression pointers in the target name are taken relative to the record data, as Arkime
    does. None when the record is too short or its target name is broken.
    """
    if len(data) < 10:
        return None
    rd = Reader(data)
    priority = rd.u16()
    target = read_name(data, rd, session)
    if rd.bad or target is None:
        return None
    if target:
        target = to_unicode(target)  # type: ignore[assignment]
        if target is None:
            return None
    parts = [f"HTTPS {priority} {target or '.'}"]
    while rd.remaining() >= 4:
        key, length = rd.u16(), rd.u16()
        value = rd.take(length)
        if value is None:
            break
        param = _svc_param(key, value)
        if param is not None:
            parts.append(param)
    return " ".join(parts)


def _svc_param(key: int, value: bytes) -> str | None:
    if key == 1:  # alpn: length-prefixed protocol ids
        ids, vr = [], Reader(value)
        while vr.remaining() > 1:
            alpn = vr.take(vr.u8())
            if alpn is not None:
                ids.append(_text(alpn))
        return "alpn=" + ",".join(ids)
    if key == 3:
        return f"port={value[0] << 8 | value[1]}" if len(value) == 2 else None
    if key == 4:
        return "ipv4hint=" + ",".join(ip_text(value[i:i + 4]) for i in range(0, len(value) - 3, 4))
    if key == 6:
        return "ipv6hint=" + ",".join(ntop6(value[i:i + 16]) for i in range(0, len(value) - 15, 16))
    return None


# --- the parser -----------------------------------------------------------------------------

class DnsParser(Parser):
    """DNS messages of one session: UDP datagrams, or TCP messages with a 2-byte length prefix.

    ``kind`` is the protocol name the messages are counted as ("dns"; "mdns" masks the
    cache-flush/unicast bits of classes and accepts several or no questions, as Arkime does).
    """

    name = "dns"

    def __init__(self, kind: str = "dns") -> None:
        self.kind = kind
        self.queries: dict[tuple[int, int, int, int, str], Query] = {}
        self.bufs = [bytearray(), bytearray()]
        self.skipping = [0, 0]
        self.dead = False  # TCP framing broken: Arkime unregisters its parser
        self.budget = BUDGET

    def data(self, session: Session, data: bytes, direction: int) -> None:
        if session.proto == 6:
            self._tcp(session, data, direction)
        else:
            Message(self, session, bytes(data)).parse()

    def _tcp(self, session: Session, data: bytes, direction: int) -> None:
        if self.dead:
            return
        skip = self.skipping[direction]
        if skip:
            self.skipping[direction] = max(0, skip - len(data))
            data = data[skip:]
        buf = self.bufs[direction]
        room = TCP_BUF_MAX - len(buf)
        buf += data[:room]
        if len(data) > room:
            self._stop()
            return
        while len(buf) >= 2:
            length = buf[0] << 8 | buf[1]
            if length < 17:  # shorter than a message Arkime would parse
                self._stop()
                return
            if length + 2 > TCP_BUF_MAX:
                session.add_tag("dns:tcp-message-too-long")
                self.skipping[direction] += max(0, length + 2 - len(buf))
                del buf[:length + 2]
                continue
            if len(buf) < length + 2:
                return
            Message(self, session, bytes(buf[2:length + 2])).parse()
            del buf[:length + 2]

    def _stop(self) -> None:
        self.dead = True
        self.bufs = [bytearray(), bytearray()]

    def finish(self, session: Session) -> None:
        if self.queries:
            session.fields["dns"] = [q.to_doc() for q in self.queries.values()]


# --- detection and registration -------------------------------------------------------------

def looks_like_dns(data: bytes) -> bool:
    """What makes Arkime count a message as DNS: 17 bytes and an opcode it knows."""
    return len(data) >= 17 and (data[2] >> 3) & 0xF <= 5


def detect(session: Any, data: bytes, direction: int) -> bool:
    """UDP to or from port 53 carrying a DNS header; TCP to port 53 (Arkime: any data)."""
    if session.proto == 6:
        return session.port2 == 53
    return (session.port1 == 53 or session.port2 == 53) and looks_like_dns(data)


def _register_fields() -> None:
    f = fields.field
    fields.register(
        f("dns", "dns", "object", "dns", "DNS queries and responses, one object per query",
          multi=True, count="dnsCnt"),
        # The sub-paths live inside the dns objects; they are registered for search and help.
        f("dns.host", "host.dns", "lotermfield", "dns", "DNS lookup hostname", multi=True),
        f("dns.queryHost", "dns.query.host", "lotermfield", "dns", "DNS query name"),
        f("dns.qt", "dns.query.type", "uptermfield", "dns", "DNS lookup query type"),
        f("dns.qc", "dns.query.class", "uptermfield", "dns", "DNS lookup query class"),
        f("dns.status", "dns.status", "uptermfield", "dns", "DNS lookup return code"),
        f("dns.opcode", "dns.opcode", "uptermfield", "dns", "DNS lookup op code"),
        f("dns.headerFlags", "dns.header_flags", "uptermfield", "dns", "DNS header flags", multi=True),
        f("dns.ip", "ip.dns", "ip", "dns", "IP from DNS result", multi=True),
        f("dns.nameserverHost", "host.dns.nameserver", "lotermfield", "dns", "Hostnames for name servers",
          multi=True),
        f("dns.nameserverIp", "ip.dns.nameserver", "ip", "dns", "IPs for name servers", multi=True),
        f("dns.mailserverHost", "host.dns.mailserver", "lotermfield", "dns",
          "Hostnames for mail exchange servers", multi=True),
        f("dns.mailserverIp", "ip.dns.mailserver", "ip", "dns", "IPs for mail exchange servers", multi=True),
        f("dns.puny", "dns.puny", "lotermfield", "dns", "DNS lookup punycode", multi=True),
        f("dns.answersCnt", "dns.answer.cnt", "integer", "dns", "Count of DNS answers"),
        f("dns.answers.type", "dns.answer.type", "uptermfield", "dns", "DNS answer type"),
        f("dns.answers.class", "dns.answer.class", "uptermfield", "dns", "DNS answer class"),
        f("dns.answers.ttl", "dns.answer.ttl", "integer", "dns", "DNS answer TTL"),
        f("dns.answers.name", "dns.answer.name", "termfield", "dns", "DNS answer name"),
        f("dns.answers.ip", "dns.answer.ip", "ip", "dns", "DNS answer IP"),
        f("dns.answers.cname", "dns.answer.cname", "termfield", "dns", "DNS answer CNAME"),
        f("dns.answers.nameserver", "dns.answer.ns", "termfield", "dns", "DNS answer NS"),
        f("dns.answers.mx", "dns.answer.mx", "termfield", "dns", "DNS answer MX"),
        f("dns.answers.priority", "dns.answer.priority", "integer", "dns", "DNS answer MX priority"),
        f("dns.answers.txt", "dns.answer.txt", "termfield", "dns", "DNS answer TXT"),
        f("dns.answers.https", "dns.answer.https", "termfield", "dns", "DNS answer HTTPS"),
        f("dns.answers.caa", "dns.answer.caa", "termfield", "dns", "DNS answer CAA"),
        f("dns.answers.rrsig", "dns.answer.rrsig", "termfield", "dns", "DNS answer RRSIG"),
        f("dns.answers.nsec", "dns.answer.nsec", "termfield", "dns", "DNS answer NSEC"),
        f("dns.answers.ds", "dns.answer.ds", "termfield", "dns", "DNS answer DS"),
    )


def detect_multicast(session: Any, data: bytes, direction: int) -> bool:
    """mDNS/LLMNR as Arkime's dns.c takes them: a DNS header, and no port 53 (that is DNS)."""
    return session.port1 != 53 and session.port2 != 53 and looks_like_dns(data)


def _mdns_parser() -> DnsParser:
    return DnsParser("mdns")


def _llmnr_parser() -> DnsParser:
    return DnsParser("llmnr")


_register_fields()
register(Protocol("dns", TCP | UDP, detect, parser=DnsParser, ports=(53,)))
# Arkime parses mDNS and LLMNR with the DNS parser into the same dns objects; the names are
# also recognised by signatures.py, so these entries mainly attach the parser.
register(Protocol("mdns", UDP, detect_multicast, parser=_mdns_parser, ports=(5353,)))
register(Protocol("llmnr", UDP, detect_multicast, parser=_llmnr_parser, ports=(5355,)))
