"""X.509 certificates into Arkime's ``cert`` list of objects.

Any parser that sees a certificate (TLS, DTLS, IKE, OPC UA, ...) calls ``add_certificate(session,
der)`` or ``process_certificate_message(session, body)`` for a TLS Certificate handshake message.
The certificate is walked as raw DER, like Arkime's certs.c, rather than through a strict X.509
parser: captures hold odd certificates, and Arkime reports what it can read of them (the serial as
its raw bytes, names only from Printable/Teletex/UTF8 strings, dNSName alt names only).
"""

from __future__ import annotations

import calendar
from typing import Any, Final

from appliance import fields
from appliance.digests import sha1_hex
from appliance.protocols import Parser, _asn1, add_parser

CERT_TAG_SELF_SIGNED: Final = "cert:self-signed"
CERT_TAG_CA: Final = "cert:certificate-authority"
MAX_CERTS: Final = 32  # per session: bounds memory on hostile chains


def _register_fields() -> None:
    f = fields.field
    fields.register(
        f("cert", "cert", "object", "cert", "Certificates seen in the session", multi=True, count="certCnt"),
        # Paths inside the cert objects, registered (with Arkime's expression names) for search, the
        # SPI view and help; the store keeps their values as terms, like the dns sub-paths.
        f("cert.alt", "cert.alt", "lotermfield", "cert", "Certificate alternative names", multi=True),
        f("cert.altCnt", "cert.alt.cnt", "integer", "cert", "Count of certificate alternative names"),
        f("cert.curve", "cert.curve", "termfield", "cert", "Curve of the certificate's public key"),
        f("cert.hash", "cert.hash", "lotermfield", "cert", "SHA-1 hash of the certificate"),
        f("cert.issuerCN", "cert.issuer.cn", "lotermfield", "cert", "Issuer's common name", multi=True),
        f("cert.issuerON", "cert.issuer.on", "termfield", "cert", "Issuer's organization name", multi=True),
        f("cert.issuerOU", "cert.issuer.ou", "termfield", "cert", "Issuer's organizational unit", multi=True),
        f("cert.notAfter", "cert.notafter", "date", "cert", "Certificate not valid after (ms since the epoch)"),
        f("cert.notBefore", "cert.notbefore", "date", "cert", "Certificate not valid before (ms since the epoch)"),
        f("cert.publicAlgorithm", "cert.publicAlgorithm", "termfield", "cert", "Public key algorithm"),
        f("cert.remainingDays", "cert.remainingDays", "integer", "cert",
          "Days the certificate was still valid for, at the session's start"),
        f("cert.remainingSeconds", "cert.remainingSeconds", "integer", "cert",
          "Seconds the certificate was still valid for, at the session's start"),
        f("cert.serial", "cert.serial", "lotermfield", "cert", "Serial number"),
        f("cert.subjectCN", "cert.subject.cn", "lotermfield", "cert", "Subject's common name", multi=True),
        f("cert.subjectON", "cert.subject.on", "termfield", "cert", "Subject's organization name", multi=True),
        f("cert.subjectOU", "cert.subject.ou", "termfield", "cert", "Subject's organizational unit", multi=True),
        f("cert.validDays", "cert.validfor", "integer", "cert", "Days the certificate is valid for"),
        f("cert.validSeconds", "cert.validforSeconds", "integer", "cert", "Seconds the certificate is valid for"),
    )


_register_fields()

# OpenSSL short names of public key algorithms and curves, keyed by dotted OID.
KEY_ALGORITHMS: Final = {
    "1.2.840.113549.1.1.1": "rsaEncryption", "1.2.840.113549.1.1.10": "rsassaPss",
    "1.2.840.10040.4.1": "dsaEncryption", "1.2.840.10045.2.1": "id-ecPublicKey",
    "1.3.101.110": "X25519", "1.3.101.111": "X448", "1.3.101.112": "ED25519", "1.3.101.113": "ED448",
    "1.2.840.113549.1.3.1": "dhKeyAgreement", "1.2.643.2.2.19": "gost2001",
    "1.2.643.7.1.1.1.1": "gost2012_256", "1.2.643.7.1.1.1.2": "gost2012_512",
    "1.2.156.10197.1.301": "SM2",
}
CURVES: Final = {
    "1.2.840.10045.3.1.7": "prime256v1", "1.3.132.0.34": "secp384r1", "1.3.132.0.35": "secp521r1",
    "1.3.132.0.10": "secp256k1", "1.2.840.10045.3.1.1": "prime192v1", "1.3.132.0.33": "secp224r1",
    "1.3.36.3.3.2.8.1.1.7": "brainpoolP256r1", "1.3.36.3.3.2.8.1.1.11": "brainpoolP384r1",
    "1.3.36.3.3.2.8.1.1.13": "brainpoolP512r1", "1.2.156.10197.1.301": "SM2",
}
OID_CN: Final = "2.5.4.3"
OID_ON: Final = "2.5.4.10"
OID_OU: Final = "2.5.4.11"
OID_KEY_USAGE: Final = "2.5.29.15"
OID_ALT_NAME: Final = "2.5.29.17"
NAME_STRING_TAGS: Final = (12, 19, 20)  # UTF8String, PrintableString, TeletexString


# --- DER ------------------------------------------------------------------------------------------
def tlv(data: bytes, pos: int, end: int) -> tuple[bool, int, int, int] | None:
    """(constructed, tag, value start, value end) of the element at ``pos``, or None if broken."""
    head = _asn1.header(data, pos, end)
    if head is None or head[2] + head[3] > end:
        return None
    constructed, tag, start, length = head
    return constructed, tag, start, start + length


def children(data: bytes, start: int, end: int) -> list[tuple[bool, int, int, int]]:
    """The elements inside a constructed value (stops at the first broken one)."""
    out = []
    while start < end:
        item = tlv(data, start, end)
        if item is None:
            break
        out.append(item)
        start = item[3]
    return out


def decode_oid(raw: bytes) -> str:
    if not raw:
        return ""
    parts: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    if not parts:
        return ""
    first = parts[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(p) for p in head + parts[1:])


def _two(raw: bytes, pos: int) -> int:
    chunk = raw[pos:pos + 2]
    return int(chunk) if len(chunk) == 2 and chunk.isdigit() else 0


def parse_time(tag: int, raw: bytes) -> int:
    """UTCTime / GeneralizedTime to seconds since the epoch (0 when unreadable or pre-epoch)."""
    if tag == 23 and len(raw) >= 12:
        year = _two(raw, 0)
        year += 2000 if year < 50 else 1900
        rest = raw[12:]
    elif tag == 24 and len(raw) >= 10:
        year = _two(raw, 0) * 100 + _two(raw, 2)
        raw = raw[2:]
        rest = raw[12:]
    else:
        return 0
    fields_ = [_two(raw, i) for i in (2, 4, 6, 8, 10)]
    month, day, hour, minute, second = fields_
    if rest[:1] == b".":  # fractional seconds
        rest = rest.lstrip(b".0123456789")
    offset = 0
    if rest[:1] in (b"+", b"-") and len(rest) >= 5:
        offset = _two(rest, 1) * 3600 + _two(rest, 3) * 60
        offset = -offset if rest[:1] == b"+" else offset  # local time +hhmm is UTC - hhmm
    try:
        value = calendar.timegm((year, max(month, 1), max(day, 1), hour, minute, second, 0, 0, 0)) + offset
    except (ValueError, OverflowError):
        return 0
    return max(value, 0)


# --- one certificate ------------------------------------------------------------------------------
def _names(data: bytes, start: int, end: int, out: dict[str, list[str]], prefix: str) -> None:
    """Walk a Name collecting CN (lower-cased), ON and OU in order."""
    last_oid = ""
    for constructed, tag, vstart, vend in children(data, start, end):
        if constructed:
            _names(data, vstart, vend, out, prefix)
        elif tag == 6:
            last_oid = decode_oid(data[vstart:vend])
        elif last_oid and tag in NAME_STRING_TAGS:
            raw = data[vstart:vend]
            text = raw.decode("utf-8", "replace") if tag == 12 else raw.decode("latin-1")
            if last_oid == OID_CN:
                text = text.lower() if tag == 12 else _ascii_lower(text)
                out.setdefault(prefix + "CN", []).append(text)
            elif last_oid == OID_ON:
                out.setdefault(prefix + "ON", []).append(text)
            elif last_oid == OID_OU:
                out.setdefault(prefix + "OU", []).append(text)


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER: Final = {c: c + 32 for c in range(65, 91)}


def _public_key(data: bytes, start: int, end: int, cert: dict[str, Any]) -> None:
    items = children(data, start, end)
    algo = children(data, items[0][2], items[0][3]) if items and items[0][0] else []
    if not algo or algo[0][1] != 6:
        cert["publicAlgorithm"] = "corrupt"
        return
    oid = decode_oid(data[algo[0][2]:algo[0][3]])
    cert["publicAlgorithm"] = KEY_ALGORITHMS.get(oid, "unknown")
    if oid == "1.2.840.10045.2.1":
        if len(algo) < 2 or algo[1][3] - algo[1][2] > 12:
            cert["curve"] = "corrupt"
        else:
            cert["curve"] = CURVES.get(decode_oid(data[algo[1][2]:algo[1][3]]), "unknown")


def _extensions(data: bytes, start: int, end: int, info: dict[str, Any], session: Any) -> None:
    """Alt names (dNSName) and the keyCertSign bit of key usage, from the [3] extensions."""
    outer = children(data, start, end)
    if not outer or not outer[0][0]:
        return
    for _c, _t, estart, eend in children(data, outer[0][2], outer[0][3]):
        parts = children(data, estart, eend)
        if len(parts) < 2 or parts[0][1] != 6:
            continue
        oid = decode_oid(data[parts[0][2]:parts[0][3]])
        value = parts[-1]
        if value[1] != 4:
            continue
        if oid == OID_ALT_NAME:
            _alt_names(data, value[2], value[3], info, session)
        elif oid == OID_KEY_USAGE:
            bits = tlv(data, value[2], value[3])
            if bits and bits[1] == 3 and bits[3] - bits[2] >= 2:
                info["isCA"] = bool(data[bits[2] + 1] & 0x04)


def _alt_names(data: bytes, start: int, end: int, info: dict[str, Any], session: Any) -> None:
    seq = tlv(data, start, end)
    if not seq or not seq[0]:
        return
    for constructed, tag, vstart, vend in children(data, seq[2], seq[3]):
        if constructed or tag != 2:
            continue
        raw = data[vstart:vend]
        try:
            info.setdefault("alt", []).append(_ascii_lower(raw.decode("utf-8")))
        except UnicodeDecodeError:
            session.add_tag("bad-altname")


def parse_certificate(der: bytes, session: Any, now: int) -> dict[str, Any] | None:
    """One DER certificate as Arkime's cert object (plus a private ``isCA``), or None if broken.

    ``now`` is the session's first packet time in seconds, for remainingDays/Seconds.
    """
    digest = sha1_hex(der)
    cert: dict[str, Any] = {"hash": ":".join(digest[i:i + 2] for i in range(0, 40, 2))}
    top = tlv(der, 0, len(der))
    tbs = tlv(der, top[2], top[3]) if top else None
    if tbs is None:
        return None
    items = children(der, tbs[2], tbs[3])
    if items and items[0][0] and items[0][1] == 0:  # [0] version
        items = items[1:]
    if len(items) < 6:
        return None
    serial, _sig, issuer, validity, subject, spki = items[:6]
    names: dict[str, list[str]] = {}
    _names(der, issuer[2], issuer[3], names, "issuer")
    times = children(der, validity[2], validity[3])
    if len(times) < 2:
        return None
    _names(der, subject[2], subject[3], names, "subject")
    for key in ("issuerCN", "issuerON", "issuerOU", "subjectCN", "subjectON", "subjectOU"):
        if key in names:
            cert[key] = names[key]
    _public_key(der, spki[2], spki[3], cert)
    cert["serial"] = der[serial[2]:serial[3]].hex()
    info: dict[str, Any] = {}
    for item in items[6:]:
        if item[0] and item[1] == 3:
            _extensions(der, item[2], item[3], info, session)
    if info.get("alt"):
        cert["altCnt"] = len(info["alt"])
        cert["alt"] = info["alt"]
    before = parse_time(times[0][1], der[times[0][2]:times[0][3]])
    after = parse_time(times[1][1], der[times[1][2]:times[1][3]])
    _validity(cert, before, after, now)
    cert["isCA"] = info.get("isCA", False)
    return cert


def _validity(cert: dict[str, Any], before: int, after: int, now: int) -> None:
    cert["notBefore"] = before * 1000
    cert["notAfter"] = after * 1000
    remaining = max(after - now, 0)
    cert["remainingDays"] = remaining // 86400
    cert["remainingSeconds"] = remaining
    valid = after - before
    cert["validDays"] = int(valid / 86400)  # C division truncates toward zero
    cert["validSeconds"] = valid


# --- parsed certificates, remembered ---------------------------------------------------------------
CACHE_MAX: Final = 1024  # distinct certificates remembered; a server sends the same chain to every client
CACHE_DER_MAX: Final = 8192  # bytes: real certificates are 1-2 KB; bigger ones are parsed, not kept (memory)


class _Tags:
    """Stands in for the session while a certificate is parsed: records the tags it adds."""

    __slots__ = ("tags",)

    def __init__(self) -> None:
        self.tags: list[str] = []

    def add_tag(self, name: str) -> None:
        self.tags.append(name)


_parsed: dict[bytes, tuple[dict[str, Any] | None, int, list[str]]] = {}


def parse_certificate_cached(der: bytes | bytearray, session: Any, now: int) -> dict[str, Any] | None:
    """``parse_certificate`` for a certificate seen before: the same object, tags and all.

    Parsing walks the whole DER in Python; the same chain arrives in every session with a
    server, so the result (which depends on ``now`` only through the remaining time) is kept
    per DER. Each caller gets its own copy.
    """
    raw = bytes(der)  # hashable, and what parse_certificate takes (callers may hand a bytearray slice)
    if len(raw) > CACHE_DER_MAX:
        return parse_certificate(raw, session, now)
    entry = _parsed.get(raw)
    if entry is None:
        recorder = _Tags()
        try:
            cert = parse_certificate(raw, recorder, now)
        except Exception:
            for tag in recorder.tags:  # what the session got before the parser failed
                session.add_tag(tag)
            raise
        after = cert["notAfter"] // 1000 if cert is not None else 0
        entry = (cert, after, recorder.tags)
        if len(_parsed) >= CACHE_MAX:
            _parsed.clear()
        _parsed[raw] = entry
    template, after, tags = entry
    for tag in tags:
        session.add_tag(tag)
    if template is None:
        return None
    cert = {key: list(value) if type(value) is list else value for key, value in template.items()}
    remaining = max(after - now, 0)
    cert["remainingDays"] = remaining // 86400
    cert["remainingSeconds"] = remaining
    return cert


# --- per-session collection -----------------------------------------------------------------------
class Certificates(Parser):
    """Holds a session's certificates and writes the ``cert`` field; shared by every parser."""

    name = "certs"

    def __init__(self) -> None:
        self.certs: list[dict[str, Any]] = []
        self.keys: set[tuple[Any, ...]] = set()

    def add(self, session: Any, der: bytes) -> bool:
        if len(self.certs) >= MAX_CERTS:
            return False
        now = int(getattr(session, "first", 0) // 1_000_000)
        cert = parse_certificate_cached(der, session, now)
        if cert is None:
            return False
        is_ca = cert.pop("isCA")
        if _self_signed(cert, is_ca) and not self.certs:
            session.add_tag(CERT_TAG_SELF_SIGNED)
        if is_ca:
            session.add_tag(CERT_TAG_CA)
        # Arkime keeps one object per (serial, issuer and subject names).
        key = (cert["serial"],) + tuple(tuple(cert.get(k, ())) for k in (
            "issuerCN", "issuerON", "issuerOU", "subjectCN", "subjectON", "subjectOU"))
        if key not in self.keys:
            self.keys.add(key)
            self.certs.append(cert)
        return True

    def finish(self, session: Any) -> None:
        if self.certs:
            session.fields["cert"] = [dict(c) for c in self.certs]


def _self_signed(cert: dict[str, Any], is_ca: bool) -> bool:
    if is_ca:
        return False
    orgs = (cert.get("subjectON", []), cert.get("issuerON", []))
    same_org = (len(orgs[0]) == 1 and orgs[0] == orgs[1]) or (not orgs[0] and not orgs[1])
    cns = (cert.get("subjectCN", []), cert.get("issuerCN", []))
    return same_org and len(cns[0]) == 1 and cns[0] == cns[1]


def certificates(session: Any) -> Certificates:
    """The session's certificate collector, attached on first use."""
    for parser in session.parsers or ():
        if isinstance(parser, Certificates):
            return parser
    collector = Certificates()
    add_parser(session, collector)
    return collector


def add_certificate(session: Any, der: bytes) -> bool:
    """Add one DER certificate to the session; False if it could not be read."""
    return certificates(session).add(session, der)


def process_certificate_message(session: Any, body: bytes) -> int:
    """A TLS (1.0-1.2) Certificate handshake body: 3-byte list length, then 3-byte-length certs.

    Returns how many certificates were read; stops at the first unreadable one, as Arkime does.
    """
    pos, count = 3, 0
    while len(body) - pos > 3:
        length = min(len(body) - pos - 3, int.from_bytes(body[pos:pos + 3], "big"))
        if not add_certificate(session, body[pos + 3:pos + 3 + length]):
            break
        count += 1
        pos += 3 + length
    return count
