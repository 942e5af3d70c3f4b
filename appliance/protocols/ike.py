"""IKE (ISAKMP, IKEv1 and IKEv2) on UDP 500 and 4500: header, proposals, vendor ids, certificates.

Detection follows Arkime's isakmp.c: on port 4500 a datagram must start with the 4-byte zero
non-ESP marker; the 28-byte header must carry major version 1 or 2, an exchange type valid for
that version and no unknown flag bits. Every datagram of the session is then read: SPIs, version
and exchange type from the header, and, unless the payloads are encrypted, the SA proposals
(encryption, hash/PRF, DH group, IKEv1 auth method), vendor ids and X.509 certificates of CERT
payloads, which go to the shared certificate collector.
"""

from __future__ import annotations

from typing import Any, Final

from appliance import fields
from appliance.protocols import UDP, Parser, Protocol, register
from appliance.protocols.certs import add_certificate

NATT_PORT: Final = 4500
MAX_VALUES: Final = 32  # per field: bounds memory on long sessions

IKEV1_EXCHANGES: Final = {0: "none", 1: "base", 2: "identity-protection", 3: "authentication-only",
                          4: "aggressive", 5: "informational", 32: "quick-mode", 33: "new-group-mode"}
IKEV2_EXCHANGES: Final = {34: "ike-sa-init", 35: "ike-auth", 36: "create-child-sa", 37: "informational"}
ENCRYPTION: Final = {1: "des-cbc", 2: "idea-cbc", 3: "blowfish-cbc", 4: "rc5-r16-b64-cbc", 5: "3des-cbc",
                     6: "cast-cbc", 7: "aes-cbc", 8: "camellia-cbc", 12: "aes-ctr", 13: "aes-ccm-8",
                     14: "aes-ccm-12", 15: "aes-ccm-16", 18: "aes-gcm-8", 19: "aes-gcm-12",
                     20: "aes-gcm-16", 23: "chacha20-poly1305"}
# IKEv2 numbers its transforms differently (IANA "Transform Type 1"): 12 is AES-CBC there.
ENCRYPTION_V2: Final = {1: "des-iv64", 2: "des-cbc", 3: "3des-cbc", 4: "rc5", 5: "idea", 6: "cast",
                        7: "blowfish", 8: "3idea", 9: "des-iv32", 11: "null", 12: "aes-cbc",
                        13: "aes-ctr", 14: "aes-ccm-8", 15: "aes-ccm-12", 16: "aes-ccm-16",
                        18: "aes-gcm-8", 19: "aes-gcm-12", 20: "aes-gcm-16", 23: "camellia-cbc",
                        24: "camellia-ctr", 25: "camellia-ccm-8", 26: "camellia-ccm-12",
                        27: "camellia-ccm-16", 28: "chacha20-poly1305"}
HASHES: Final = {1: "md5", 2: "sha1", 3: "tiger", 4: "sha2-256", 5: "sha2-384", 6: "sha2-512"}
PRFS: Final = {1: "prf-hmac-md5", 2: "prf-hmac-sha1", 3: "prf-hmac-tiger", 4: "prf-aes128-xcbc",
               5: "prf-hmac-sha2-256", 6: "prf-hmac-sha2-384", 7: "prf-hmac-sha2-512"}
DH_GROUPS: Final = {1: "modp768", 2: "modp1024", 5: "modp1536", 14: "modp2048", 15: "modp3072",
                    16: "modp4096", 17: "modp6144", 18: "modp8192", 19: "ecp256", 20: "ecp384",
                    21: "ecp521", 22: "modp1024s160", 23: "modp2048s224", 24: "modp2048s256",
                    25: "ecp192", 26: "ecp224", 27: "brainpoolp224", 28: "brainpoolp256",
                    29: "brainpoolp384", 30: "brainpoolp512", 31: "curve25519", 32: "curve448"}
AUTH_METHODS: Final = {1: "psk", 2: "dss-sig", 3: "rsa-sig", 4: "rsa-enc", 5: "rsa-enc",
                       64221: "hybrid-rsa", 65001: "xauth-psk", 65005: "xauth-rsa"}
# Vendor ids known by their first 8 bytes.
VENDORS: Final = {
    "4a131c8107035845": "rfc3947-nat-t", "90cb80913ebb696e": "draft-ietf-nat-t-02",
    "cd60464335df21f8": "draft-ietf-nat-t-03", "7d9419a65310ca6f": "draft-ietf-nat-t-rfc",
    "afcad71368a1f1c9": "dpd", "12f5f28c457168a9": "cisco-unity", "09002689dfd6b712": "xauth",
    "1f07f70eaa6514d3": "cisco-concentrator", "4048b7d56ebce885": "ikev2",
    "4d532d4d616d6965": "ms-ikev2", "1e2b516905991c7d": "windows", "4f452e484a52414e": "fortigate",
    "166f932d55eb64d8": "strongswan", "699369228741c6d4": "openswan",
    "4f50454e5377616e": "openswan2", "fbf47614984031fa": "checkpoint",
    "f4ed19e0c114eb51": "checkpoint-ng",
}
PAYLOAD_SA: Final = 1
PAYLOAD_CERT: Final = 6
PAYLOAD_VENDOR: Final = 13
PAYLOAD_SA_V2: Final = 33
PAYLOAD_CERT_V2: Final = 37
PAYLOAD_VENDOR_V2: Final = 43
CERT_X509_SIGNATURE: Final = 4

_FIELDS: Final = (
    ("isakmp.initiatorSpi", "isakmp.initiator-spi", "ISAKMP initiator security parameter index"),
    ("isakmp.responderSpi", "isakmp.responder-spi", "ISAKMP responder security parameter index"),
    ("isakmp.version", "isakmp.version", "ISAKMP version"),
    ("isakmp.exchangeType", "isakmp.exchange-type", "ISAKMP exchange type"),
    ("isakmp.vendorId", "isakmp.vendor-id", "ISAKMP vendor identifier"),
    ("isakmp.encryption", "isakmp.encryption", "ISAKMP encryption algorithm"),
    ("isakmp.hash", "isakmp.hash", "ISAKMP hash or PRF algorithm"),
    ("isakmp.dhGroup", "isakmp.dh-group", "ISAKMP Diffie-Hellman group"),
    ("isakmp.authMethod", "isakmp.auth-method", "ISAKMP authentication method"),
)
fields.register(*(fields.field(path, expr, "termfield", "isakmp", help_, multi=True)
                  for path, expr, help_ in _FIELDS))


def _u16(data: bytes, pos: int) -> int:
    return (data[pos] << 8) | data[pos + 1]


def _strip_natt(session: Any, data: bytes) -> bytes | None:
    """The ISAKMP message; on the NAT-T port it follows a zero marker (anything else is ESP)."""
    if NATT_PORT in (session.port1, session.port2):
        if data[:4] != b"\x00\x00\x00\x00":
            return None
        return data[4:]
    return data


def header_ok(msg: bytes) -> bool:
    """Version, exchange type and flags that Arkime accepts as ISAKMP."""
    if len(msg) < 28:
        return False
    major, exchange, flags = msg[17] >> 4, msg[18], msg[19]
    if major == 1:
        return not (5 < exchange < 32 or 33 < exchange < 240) and not flags & 0xF8
    if major == 2:
        return 34 <= exchange <= 37 and not flags & 0xC7
    return False


def _detect(session: Any, data: bytes, direction: int) -> bool:
    msg = _strip_natt(session, data)
    return msg is not None and header_ok(msg)


def _subitems(data: bytes, start: int, min_len: int, chained: bool = True) -> list[tuple[int, int]]:
    """(body start, body end) of 4-byte-headed items (proposals, transforms).

    With ``chained`` the first header byte says whether more follow (0 on the last proposal);
    transforms are counted by their proposal instead, as Arkime does.
    """
    out = []
    pos = start
    while len(data) - pos >= 4:
        more, length = data[pos], _u16(data, pos + 2)
        if length < min_len or pos + length > len(data):
            break
        out.append((pos + 4, pos + length))
        pos += length
        if chained and not more:
            break
    return out


class IkeParser(Parser):
    """Collects the isakmp.* values and certificates of every datagram."""

    name = "isakmp"

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}

    def add(self, path: str, value: str) -> None:
        values = self.values.setdefault(path, [])
        if value not in values and len(values) < MAX_VALUES:
            values.append(value)

    def data(self, session: Any, data: bytes, direction: int) -> None:
        msg = _strip_natt(session, data)
        if msg is None or len(msg) < 28:
            return
        self._header(msg)
        major, flags = msg[17] >> 4, msg[19]
        encrypted = flags & (0x08 if major == 2 else 0x01)
        if not encrypted:
            self._payloads(session, msg, msg[16], major == 2)

    def _header(self, msg: bytes) -> None:
        self.add("isakmp.initiatorSpi", msg[:8].hex())
        if any(msg[8:16]):
            self.add("isakmp.responderSpi", msg[8:16].hex())
        major, minor, exchange = msg[17] >> 4, msg[17] & 0x0F, msg[18]
        self.add("isakmp.version", f"{major}.{minor}")
        name = (IKEV2_EXCHANGES if major == 2 else IKEV1_EXCHANGES).get(exchange)
        if name:
            self.add("isakmp.exchangeType", name)

    def _payloads(self, session: Any, msg: bytes, kind: int, v2: bool) -> None:
        pos = 28
        while kind and len(msg) - pos >= 4:
            next_kind, length = msg[pos], _u16(msg, pos + 2)
            if length < 4 or pos + length > len(msg):
                break
            body = msg[pos + 4:pos + length]
            if kind == PAYLOAD_SA and not v2:
                self._sa_v1(body)
            elif kind == PAYLOAD_SA_V2 and v2:
                self._sa_v2(body)
            elif kind in (PAYLOAD_VENDOR, PAYLOAD_VENDOR_V2) and body:
                self._vendor(body)
            elif kind in (PAYLOAD_CERT, PAYLOAD_CERT_V2) and len(body) > 1:
                if body[0] == CERT_X509_SIGNATURE:
                    add_certificate(session, body[1:])
            kind = next_kind
            pos += length

    def _vendor(self, body: bytes) -> None:
        name = VENDORS.get(body[:8].hex()) if len(body) >= 8 else None
        self.add("isakmp.vendorId", name or body[:16].hex())

    def _sa_v1(self, body: bytes) -> None:
        if len(body) < 8 or int.from_bytes(body[:4], "big") != 1:  # IPsec DOI only
            return
        for start, end in _subitems(body, 8, 4):
            proposal = body[start:end]
            if len(proposal) < 4:
                continue
            for tstart, tend in _subitems(proposal, 4 + proposal[2], 4, False)[:proposal[3]]:
                self._transform_v1(proposal[tstart:tend])

    def _transform_v1(self, transform: bytes) -> None:
        pos = 4  # transform number, id, reserved
        while len(transform) - pos >= 4:
            kind, value = _u16(transform, pos), _u16(transform, pos + 2)
            pos += 4
            if not kind & 0x8000:  # TLV attribute: skip its value
                pos += value
                continue
            table = {1: ENCRYPTION, 2: HASHES, 3: AUTH_METHODS, 4: DH_GROUPS}.get(kind & 0x7FFF)
            path = {1: "isakmp.encryption", 2: "isakmp.hash", 3: "isakmp.authMethod",
                    4: "isakmp.dhGroup"}.get(kind & 0x7FFF)
            if table is not None and path is not None and value in table:
                self.add(path, table[value])

    def _sa_v2(self, body: bytes) -> None:
        for start, end in _subitems(body, 0, 8):
            proposal = body[start:end]
            if len(proposal) < 4:
                continue
            for tstart, tend in _subitems(proposal, 4 + proposal[2], 8, False)[:proposal[3]]:
                self._transform_v2(proposal[tstart:tend])

    def _transform_v2(self, transform: bytes) -> None:
        kind, ident = transform[0], _u16(transform, 2)
        if kind == 1 and ident in ENCRYPTION_V2:
            self.add("isakmp.encryption", ENCRYPTION_V2[ident])
        elif kind == 2 and ident in PRFS:
            self.add("isakmp.hash", PRFS[ident])
        elif kind == 4 and ident in DH_GROUPS:
            self.add("isakmp.dhGroup", DH_GROUPS[ident])

    def finish(self, session: Any) -> None:
        for path, values in self.values.items():
            session.fields[path] = list(values)


register(Protocol("isakmp", UDP, _detect, parser=IkeParser, ports=(500, NATT_PORT)))
