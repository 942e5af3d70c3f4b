"""ClientHello / ServerHello parsing and the JA3, JA3S and JA4 fingerprints.

Shared by TLS over TCP (``tls``), QUIC Initial packets (``quic``) and any other module that
carries a TLS handshake (DTLS, OpenVPN, STARTTLS). Everything here is pure: bytes in, values out;
the session bookkeeping lives in ``tls.py``. The string formats follow Arkime's tls.c, including
its quirks (see the comments), so that the fingerprints match what Arkime stores.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from appliance import digests


def is_grease(value: int) -> bool:
    """GREASE values (RFC 8701) look like 0x?a?a with both bytes equal."""
    return (value & 0x0F) == 0x0A and (value & 0xFF) == (value >> 8) & 0xFF


class Reader:
    """A bounds-checked big-endian cursor; reading past the end sets ``error`` and yields 0/b""."""

    __slots__ = ("data", "pos", "end", "error")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else min(end, len(data))
        self.error = False

    def remaining(self) -> int:
        return max(0, self.end - self.pos)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            self.error = True
            self.pos = self.end
            return b""
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def skip(self, n: int) -> None:
        self.take(n)

    def uint(self, n: int) -> int:
        """take(n) as a big-endian number (0 past the end); 1 and 2 bytes without slicing."""
        pos = self.pos
        end = pos + n
        if n < 0 or end > self.end:
            self.error = True
            self.pos = self.end
            return 0
        self.pos = end
        data = self.data
        if n == 2:
            return data[pos] << 8 | data[pos + 1]
        if n == 1:
            return data[pos]
        return int.from_bytes(data[pos:end], "big")

    def sub(self, n: int) -> Reader:
        """A reader over the next ``n`` bytes (clamped), advancing past them."""
        n = min(max(n, 0), self.remaining())
        child = Reader(self.data, self.pos, self.pos + n)
        self.pos += n
        return child


@dataclass
class ClientHello:
    """What the fingerprints need from a ClientHello."""

    version: int = 0
    session_id: bytes = b""
    ciphers: list[int] = field(default_factory=list)  # GREASE removed
    extensions: list[int] = field(default_factory=list)  # GREASE removed, in order
    has_ext_block: bool = False
    sni: bytes | None = None
    curves: list[int] | None = None  # None: extension absent
    point_formats: list[int] | None = None
    sig_algs: list[int] = field(default_factory=list)
    alpn: bytes = b""  # first ALPN protocol
    max_version: int = 0  # highest of the version and supported_versions
    tags: list[str] = field(default_factory=list)


def parse_client_hello(body: bytes, dtls: bool = False) -> ClientHello | None:
    """Parse a ClientHello body (after the handshake header). Truncated input gives what it can."""
    r = Reader(body)
    hello = ClientHello()
    hello.version = hello.max_version = r.uint(2)
    if r.error:
        return None
    if r.remaining() <= 32:
        return None if dtls else hello
    r.skip(32)  # random
    sid_len = r.uint(1)
    if 0 < sid_len < r.remaining():
        hello.session_id = body[r.pos:r.pos + sid_len]
    r.skip(sid_len)
    if dtls:
        r.skip(r.uint(1))  # cookie
    count = r.uint(2)
    while not r.error and count > 0:
        cipher = r.uint(2)
        if not r.error and not is_grease(cipher):
            hello.ciphers.append(cipher)
        count -= 2
    r.skip(r.uint(1))  # compression methods
    if r.remaining() >= 6:
        hello.has_ext_block = True
        _client_extensions(hello, r.sub(r.uint(2)))
    return hello


def _client_extensions(hello: ClientHello, ext: Reader) -> None:
    while ext.remaining() >= 4:
        etype, elen = ext.uint(2), ext.uint(2)
        if is_grease(etype):
            ext.skip(elen)
            continue
        hello.extensions.append(etype)
        if elen > ext.remaining():
            break
        _client_extension(hello, etype, ext.sub(elen))


def _client_extension(hello: ClientHello, etype: int, r: Reader) -> None:
    if etype == 0x0000:
        _sni(hello, r)
    elif etype == 0x000A:
        hello.curves = [c for c in _u16_list(r, r.uint(2)) if not is_grease(c)]
    elif etype == 0x000B:
        hello.point_formats = list(r.take(min(r.uint(1), r.remaining())))
    elif etype == 0x000D:
        hello.sig_algs = _u16_list(r, r.uint(2))
    elif etype == 0x0010:
        r.skip(2)
        name = r.take(r.uint(1))
        if not r.error:
            hello.alpn = name
    elif etype == 0x002B:
        for version in _u16_list(r, r.uint(1)):
            if not is_grease(version):
                hello.max_version = max(hello.max_version, version)
    elif etype == 0xFFCE:
        hello.tags.append("tls:has_esni")
    elif etype == 0xFE0D:
        hello.tags.append("tls:has_ech")


def _u16_list(r: Reader, length: int) -> list[int]:
    out = []
    while length > 0 and r.remaining() >= 2:
        out.append(r.uint(2))
        length -= 2
    return out


def _sni(hello: ClientHello, r: Reader) -> None:
    # Only a well-formed single host_name entry counts, as in Arkime.
    if r.uint(2) != r.remaining() or r.uint(1) != 0:
        return
    length = r.uint(2)
    if length == r.remaining() and not r.error:
        hello.sni = r.take(length)


def ja3_string(hello: ClientHello) -> str:
    """The JA3 string: version,ciphers,extensions,curves,point formats (GREASE removed)."""
    ciphers = "-".join(str(c) for c in hello.ciphers)
    exts = "-".join(str(e) for e in hello.extensions)
    curves = "-".join(str(c) for c in hello.curves or ())
    formats = "-".join(str(p) for p in hello.point_formats or ())
    return f"{hello.version},{ciphers},{exts},{curves},{formats}"


JA4_VERSIONS: Final = {0x0100: "s1", 0x0200: "s2", 0x0300: "s3", 0x0301: "10", 0x0302: "11", 0x0303: "12",
                       0x0304: "13", 0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}


def ja4(hello: ClientHello, transport: str) -> tuple[str, str]:
    """(ja4, ja4_r); ``transport`` is 't' (TCP), 'q' (QUIC/UDP) or 'd' (DTLS)."""
    version = JA4_VERSIONS.get(hello.max_version, "00")
    if (transport == "d") != version.startswith("d"):
        version = "00"  # DTLS names only DTLS versions (Arkime's 0x0100 DTLS gives "00")
    sni = "d" if hello.sni is not None else "i"
    alpn = "00"
    if hello.alpn:
        alpn = chr(hello.alpn[0]) + chr(hello.alpn[-1])
    ncipher = min(len(hello.ciphers), 99)
    nexts = min(len(hello.extensions), 99)
    prefix = f"{transport}{version}{sni}{ncipher:02d}{nexts:02d}{alpn}"
    ciphers = hex_list(sorted(hello.ciphers))
    exts = hex_list(sorted(e for e in hello.extensions if e not in (0x0000, 0x0010)))
    if hello.sig_algs:
        exts += "_" + hex_list(hello.sig_algs)
    raw = f"{prefix}_{ciphers}_{exts}"
    return f"{prefix}_{_sha12(ciphers)}_{_sha12(exts)}", raw


def hex_list(values: list[int]) -> str:
    """16-bit values as JA4 lists them ("1301,1302"): packed once and printed by one hex call,
    not formatted one by one (a ClientHello has dozens)."""
    if not values:
        return ""
    return struct.pack(f">{len(values)}H", *values).hex(",", 2)


def _sha12(text: str) -> str:
    return digests.sha256_hex(text.encode())[:12] if text else "000000000000"


def md5_hex(text: str) -> str:
    return digests.md5_hex(text.encode())


@dataclass
class ServerHello:
    """What Arkime keeps from a ServerHello."""

    version: str = ""
    session_id: bytes = b""
    cipher: int = 0
    ja3s: str = ""
    h2: bool = False


def version_name(version: int) -> str:
    """Arkime's tls.version strings."""
    names = {0x0100: "SSLv1", 0x0200: "SSLv2", 0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1",
             0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
    if version in names:
        return names[version]
    if 0x7F00 <= version <= 0x7FFF:
        return f"TLSv1.3-draft-{version & 0xFF:02d}"
    return f"0x{version:04x}"


def parse_server_hello(body: bytes) -> ServerHello | None:
    """Parse a ServerHello body (after the handshake header)."""
    r = Reader(body)
    version = r.uint(2)
    r.skip(32)
    if r.error:
        return None
    hello = ServerHello()
    if 0x0300 <= version <= 0x0303:
        sid_len = r.uint(1)
        if 0 < sid_len < r.remaining():
            hello.session_id = body[r.pos:r.pos + sid_len]
        r.skip(sid_len)
    hello.cipher = r.uint(2)
    # TLS 1.3 drafts before 22 have no compression byte.
    if version < 0x0700 or version >= 0x7F16:
        r.skip(1)
    final = version
    exts: list[int] = []
    if r.remaining() > 2:
        ext = r.sub(r.uint(2))
        while ext.remaining() >= 4:
            etype, elen = ext.uint(2), ext.uint(2)
            exts.append(etype)
            if elen > ext.remaining():
                break
            value = ext.take(elen)
            if etype == 0x002B and elen == 2 and value == b"\x03\x04":
                final = 0x0304
            elif etype == 0x0010 and value == b"\x00\x03\x02h2":
                hello.h2 = True
    hello.version = version_name(final)
    hello.ja3s = f"{version},{hello.cipher},{'-'.join(str(e) for e in exts)}"
    return hello


# --- cipher suite names (IANA registry, spelled as Arkime prints them: DH_anon -> DH_ANON) ------
def _block(start: int, names: str) -> dict[int, str]:
    """Consecutive code points from ``start``; '-' marks an unassigned one."""
    out = {}
    for offset, name in enumerate(names.split()):
        if name != "-":
            out[start + offset] = "TLS_" + name
    return out


CIPHERS: Final[dict[int, str]] = {
    **_block(0x0000, """NULL_WITH_NULL_NULL RSA_WITH_NULL_MD5 RSA_WITH_NULL_SHA RSA_EXPORT_WITH_RC4_40_MD5
               RSA_WITH_RC4_128_MD5 RSA_WITH_RC4_128_SHA RSA_EXPORT_WITH_RC2_CBC_40_MD5 RSA_WITH_IDEA_CBC_SHA
               RSA_EXPORT_WITH_DES40_CBC_SHA RSA_WITH_DES_CBC_SHA RSA_WITH_3DES_EDE_CBC_SHA
               DH_DSS_EXPORT_WITH_DES40_CBC_SHA DH_DSS_WITH_DES_CBC_SHA DH_DSS_WITH_3DES_EDE_CBC_SHA
               DH_RSA_EXPORT_WITH_DES40_CBC_SHA DH_RSA_WITH_DES_CBC_SHA DH_RSA_WITH_3DES_EDE_CBC_SHA
               DHE_DSS_EXPORT_WITH_DES40_CBC_SHA DHE_DSS_WITH_DES_CBC_SHA DHE_DSS_WITH_3DES_EDE_CBC_SHA
               DHE_RSA_EXPORT_WITH_DES40_CBC_SHA DHE_RSA_WITH_DES_CBC_SHA DHE_RSA_WITH_3DES_EDE_CBC_SHA
               DH_ANON_EXPORT_WITH_RC4_40_MD5 DH_ANON_WITH_RC4_128_MD5 DH_ANON_EXPORT_WITH_DES40_CBC_SHA
               DH_ANON_WITH_DES_CBC_SHA DH_ANON_WITH_3DES_EDE_CBC_SHA - -
               KRB5_WITH_DES_CBC_SHA KRB5_WITH_3DES_EDE_CBC_SHA KRB5_WITH_RC4_128_SHA KRB5_WITH_IDEA_CBC_SHA
               KRB5_WITH_DES_CBC_MD5 KRB5_WITH_3DES_EDE_CBC_MD5 KRB5_WITH_RC4_128_MD5 KRB5_WITH_IDEA_CBC_MD5
               KRB5_EXPORT_WITH_DES_CBC_40_SHA KRB5_EXPORT_WITH_RC2_CBC_40_SHA KRB5_EXPORT_WITH_RC4_40_SHA
               KRB5_EXPORT_WITH_DES_CBC_40_MD5 KRB5_EXPORT_WITH_RC2_CBC_40_MD5 KRB5_EXPORT_WITH_RC4_40_MD5
               PSK_WITH_NULL_SHA DHE_PSK_WITH_NULL_SHA RSA_PSK_WITH_NULL_SHA
               RSA_WITH_AES_128_CBC_SHA DH_DSS_WITH_AES_128_CBC_SHA DH_RSA_WITH_AES_128_CBC_SHA
               DHE_DSS_WITH_AES_128_CBC_SHA DHE_RSA_WITH_AES_128_CBC_SHA DH_ANON_WITH_AES_128_CBC_SHA
               RSA_WITH_AES_256_CBC_SHA DH_DSS_WITH_AES_256_CBC_SHA DH_RSA_WITH_AES_256_CBC_SHA
               DHE_DSS_WITH_AES_256_CBC_SHA DHE_RSA_WITH_AES_256_CBC_SHA DH_ANON_WITH_AES_256_CBC_SHA
               RSA_WITH_NULL_SHA256 RSA_WITH_AES_128_CBC_SHA256 RSA_WITH_AES_256_CBC_SHA256
               DH_DSS_WITH_AES_128_CBC_SHA256 DH_RSA_WITH_AES_128_CBC_SHA256 DHE_DSS_WITH_AES_128_CBC_SHA256
               RSA_WITH_CAMELLIA_128_CBC_SHA DH_DSS_WITH_CAMELLIA_128_CBC_SHA DH_RSA_WITH_CAMELLIA_128_CBC_SHA
               DHE_DSS_WITH_CAMELLIA_128_CBC_SHA DHE_RSA_WITH_CAMELLIA_128_CBC_SHA
               DH_ANON_WITH_CAMELLIA_128_CBC_SHA"""),
    **_block(0x0067, """DHE_RSA_WITH_AES_128_CBC_SHA256 DH_DSS_WITH_AES_256_CBC_SHA256
               DH_RSA_WITH_AES_256_CBC_SHA256 DHE_DSS_WITH_AES_256_CBC_SHA256 DHE_RSA_WITH_AES_256_CBC_SHA256
               DH_ANON_WITH_AES_128_CBC_SHA256 DH_ANON_WITH_AES_256_CBC_SHA256"""),
    **_block(0x0084, """RSA_WITH_CAMELLIA_256_CBC_SHA DH_DSS_WITH_CAMELLIA_256_CBC_SHA
               DH_RSA_WITH_CAMELLIA_256_CBC_SHA DHE_DSS_WITH_CAMELLIA_256_CBC_SHA DHE_RSA_WITH_CAMELLIA_256_CBC_SHA
               DH_ANON_WITH_CAMELLIA_256_CBC_SHA PSK_WITH_RC4_128_SHA PSK_WITH_3DES_EDE_CBC_SHA
               PSK_WITH_AES_128_CBC_SHA PSK_WITH_AES_256_CBC_SHA DHE_PSK_WITH_RC4_128_SHA
               DHE_PSK_WITH_3DES_EDE_CBC_SHA DHE_PSK_WITH_AES_128_CBC_SHA DHE_PSK_WITH_AES_256_CBC_SHA
               RSA_PSK_WITH_RC4_128_SHA RSA_PSK_WITH_3DES_EDE_CBC_SHA RSA_PSK_WITH_AES_128_CBC_SHA
               RSA_PSK_WITH_AES_256_CBC_SHA RSA_WITH_SEED_CBC_SHA DH_DSS_WITH_SEED_CBC_SHA DH_RSA_WITH_SEED_CBC_SHA
               DHE_DSS_WITH_SEED_CBC_SHA DHE_RSA_WITH_SEED_CBC_SHA DH_ANON_WITH_SEED_CBC_SHA
               RSA_WITH_AES_128_GCM_SHA256 RSA_WITH_AES_256_GCM_SHA384 DHE_RSA_WITH_AES_128_GCM_SHA256
               DHE_RSA_WITH_AES_256_GCM_SHA384 DH_RSA_WITH_AES_128_GCM_SHA256 DH_RSA_WITH_AES_256_GCM_SHA384
               DHE_DSS_WITH_AES_128_GCM_SHA256 DHE_DSS_WITH_AES_256_GCM_SHA384 DH_DSS_WITH_AES_128_GCM_SHA256
               DH_DSS_WITH_AES_256_GCM_SHA384 DH_ANON_WITH_AES_128_GCM_SHA256 DH_ANON_WITH_AES_256_GCM_SHA384
               PSK_WITH_AES_128_GCM_SHA256 PSK_WITH_AES_256_GCM_SHA384 DHE_PSK_WITH_AES_128_GCM_SHA256
               DHE_PSK_WITH_AES_256_GCM_SHA384 RSA_PSK_WITH_AES_128_GCM_SHA256 RSA_PSK_WITH_AES_256_GCM_SHA384
               PSK_WITH_AES_128_CBC_SHA256 PSK_WITH_AES_256_CBC_SHA384 PSK_WITH_NULL_SHA256 PSK_WITH_NULL_SHA384
               DHE_PSK_WITH_AES_128_CBC_SHA256 DHE_PSK_WITH_AES_256_CBC_SHA384 DHE_PSK_WITH_NULL_SHA256
               DHE_PSK_WITH_NULL_SHA384 RSA_PSK_WITH_AES_128_CBC_SHA256 RSA_PSK_WITH_AES_256_CBC_SHA384
               RSA_PSK_WITH_NULL_SHA256 RSA_PSK_WITH_NULL_SHA384 RSA_WITH_CAMELLIA_128_CBC_SHA256
               DH_DSS_WITH_CAMELLIA_128_CBC_SHA256 DH_RSA_WITH_CAMELLIA_128_CBC_SHA256
               DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256 DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256
               DH_ANON_WITH_CAMELLIA_128_CBC_SHA256 RSA_WITH_CAMELLIA_256_CBC_SHA256
               DH_DSS_WITH_CAMELLIA_256_CBC_SHA256 DH_RSA_WITH_CAMELLIA_256_CBC_SHA256
               DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256 DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256
               DH_ANON_WITH_CAMELLIA_256_CBC_SHA256"""),
    0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
    **_block(0x1301, """AES_128_GCM_SHA256 AES_256_GCM_SHA384 CHACHA20_POLY1305_SHA256 AES_128_CCM_SHA256
               AES_128_CCM_8_SHA256"""),
    0x5600: "TLS_FALLBACK_SCSV",
    **_block(0xC001, """ECDH_ECDSA_WITH_NULL_SHA ECDH_ECDSA_WITH_RC4_128_SHA ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA
               ECDH_ECDSA_WITH_AES_128_CBC_SHA ECDH_ECDSA_WITH_AES_256_CBC_SHA ECDHE_ECDSA_WITH_NULL_SHA
               ECDHE_ECDSA_WITH_RC4_128_SHA ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA ECDHE_ECDSA_WITH_AES_128_CBC_SHA
               ECDHE_ECDSA_WITH_AES_256_CBC_SHA ECDH_RSA_WITH_NULL_SHA ECDH_RSA_WITH_RC4_128_SHA
               ECDH_RSA_WITH_3DES_EDE_CBC_SHA ECDH_RSA_WITH_AES_128_CBC_SHA ECDH_RSA_WITH_AES_256_CBC_SHA
               ECDHE_RSA_WITH_NULL_SHA ECDHE_RSA_WITH_RC4_128_SHA ECDHE_RSA_WITH_3DES_EDE_CBC_SHA
               ECDHE_RSA_WITH_AES_128_CBC_SHA ECDHE_RSA_WITH_AES_256_CBC_SHA ECDH_ANON_WITH_NULL_SHA
               ECDH_ANON_WITH_RC4_128_SHA ECDH_ANON_WITH_3DES_EDE_CBC_SHA ECDH_ANON_WITH_AES_128_CBC_SHA
               ECDH_ANON_WITH_AES_256_CBC_SHA SRP_SHA_WITH_3DES_EDE_CBC_SHA SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA
               SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA SRP_SHA_WITH_AES_128_CBC_SHA SRP_SHA_RSA_WITH_AES_128_CBC_SHA
               SRP_SHA_DSS_WITH_AES_128_CBC_SHA SRP_SHA_WITH_AES_256_CBC_SHA SRP_SHA_RSA_WITH_AES_256_CBC_SHA
               SRP_SHA_DSS_WITH_AES_256_CBC_SHA ECDHE_ECDSA_WITH_AES_128_CBC_SHA256
               ECDHE_ECDSA_WITH_AES_256_CBC_SHA384 ECDH_ECDSA_WITH_AES_128_CBC_SHA256
               ECDH_ECDSA_WITH_AES_256_CBC_SHA384 ECDHE_RSA_WITH_AES_128_CBC_SHA256
               ECDHE_RSA_WITH_AES_256_CBC_SHA384 ECDH_RSA_WITH_AES_128_CBC_SHA256 ECDH_RSA_WITH_AES_256_CBC_SHA384
               ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
               ECDH_ECDSA_WITH_AES_128_GCM_SHA256 ECDH_ECDSA_WITH_AES_256_GCM_SHA384
               ECDHE_RSA_WITH_AES_128_GCM_SHA256 ECDHE_RSA_WITH_AES_256_GCM_SHA384
               ECDH_RSA_WITH_AES_128_GCM_SHA256 ECDH_RSA_WITH_AES_256_GCM_SHA384 ECDHE_PSK_WITH_RC4_128_SHA
               ECDHE_PSK_WITH_3DES_EDE_CBC_SHA ECDHE_PSK_WITH_AES_128_CBC_SHA ECDHE_PSK_WITH_AES_256_CBC_SHA
               ECDHE_PSK_WITH_AES_128_CBC_SHA256 ECDHE_PSK_WITH_AES_256_CBC_SHA384 ECDHE_PSK_WITH_NULL_SHA
               ECDHE_PSK_WITH_NULL_SHA256 ECDHE_PSK_WITH_NULL_SHA384"""),
    **_block(0xC09C, """RSA_WITH_AES_128_CCM RSA_WITH_AES_256_CCM DHE_RSA_WITH_AES_128_CCM
               DHE_RSA_WITH_AES_256_CCM RSA_WITH_AES_128_CCM_8 RSA_WITH_AES_256_CCM_8 DHE_RSA_WITH_AES_128_CCM_8
               DHE_RSA_WITH_AES_256_CCM_8 PSK_WITH_AES_128_CCM PSK_WITH_AES_256_CCM DHE_PSK_WITH_AES_128_CCM
               DHE_PSK_WITH_AES_256_CCM PSK_WITH_AES_128_CCM_8 PSK_WITH_AES_256_CCM_8 PSK_DHE_WITH_AES_128_CCM_8
               PSK_DHE_WITH_AES_256_CCM_8 ECDHE_ECDSA_WITH_AES_128_CCM ECDHE_ECDSA_WITH_AES_256_CCM
               ECDHE_ECDSA_WITH_AES_128_CCM_8 ECDHE_ECDSA_WITH_AES_256_CCM_8"""),
    **_block(0xCCA8, """ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
               DHE_RSA_WITH_CHACHA20_POLY1305_SHA256 PSK_WITH_CHACHA20_POLY1305_SHA256
               ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256 DHE_PSK_WITH_CHACHA20_POLY1305_SHA256
               RSA_PSK_WITH_CHACHA20_POLY1305_SHA256"""),
}


def cipher_name(code: int) -> str:
    """IANA name of a cipher suite, or 0xNNNN as Arkime writes unknown ones."""
    return CIPHERS.get(code) or f"0x{code:04x}"
