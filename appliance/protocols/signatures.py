"""Detection-only protocols: Arkime's classifiers for the many protocols we do not parse in depth.

Arkime names a session's protocols from small classifiers that look at the first bytes each side
sends (a prefix at an offset, sometimes a port, then a few sanity checks). This module is a table of
such signatures: each one only puts the protocol's name in the session's ``protocol`` list.

A few of Arkime's classifiers only register a parser and let it name the session later (S7comm on
its first data PDU, MySQL once the client's login packet parses, SOCKS once the server accepts,
DCE/RPC interface names from bind requests, CIP inside ENIP, NTLM inside the protocols that carry
it). For those the detector attaches a tiny *confirmer* parser that watches a bounded amount of the
stream and adds the name when Arkime would; confirmers write no fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from appliance.protocols import (
    PROTOCOLS,
    TCP,
    UDP,
    Detect,
    Parser,
    Protocol,
    _asn1,
    add_user,
    attach_once,
    detach,
    ntlm,
    register,
)
from appliance.protocols._index import CandidateIndex

Check = Callable[[Any, bytes, int], bool]

MAX_BUFFER: Final = 64 * 1024  # per direction, for the confirmers that need whole PDUs
DNS_PORT: Final = 53


# --- small helpers --------------------------------------------------------------------------------


def _u16(data: bytes, at: int) -> int:
    return (data[at] << 8) | data[at + 1]


def _u16le(data: bytes, at: int) -> int:
    return data[at] | (data[at + 1] << 8)


def _u32le(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 4], "little")


def _has_port(session: Any, *ports: int) -> bool:
    return session.port1 in ports or session.port2 in ports


def _attach(session: Any, parser: Parser) -> None:
    """Attach a confirmer the way AppLayer.attach does (one of each type per session)."""
    attach_once(session, parser)


def _detach(session: Any, parser: Parser) -> None:
    detach(session, parser)


def asn_tlv(data: bytes, pos: int) -> tuple[int, int, int, int] | None:
    """One BER element at ``pos``: (constructed, tag, value start, value length), or None.

    Like Arkime's reader, a length running past the buffer is cut to what is there, so the first
    segment of a long message still classifies.
    """
    head = _asn1.header(data, pos, len(data))
    if head is None:
        return None
    constructed, tag, start, length = head
    return int(constructed), tag, start, min(length, len(data) - start)


# --- table-driven signatures ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sig:
    """``name`` when the first bytes a side sends start with one of ``prefixes`` at ``offset``
    (any prefix when empty), ``check`` (if any) agrees, and a port matches (when ``ports`` set)."""

    name: str
    transports: int
    prefixes: tuple[bytes, ...] = ()
    check: Check | None = None
    ports: tuple[int, ...] = ()
    offset: int = 0
    first_bytes: frozenset[int] | None = None  # the check can only agree on data starting with these


def _sig_detect(sig: Sig) -> Detect:
    prefixes, offset, check = sig.prefixes, sig.offset, sig.check
    if not prefixes and check is not None:
        return check  # nothing to test first: the check is the detector (one call less)

    def detect(session: Any, data: bytes, direction: int) -> bool:
        if prefixes and not data.startswith(prefixes, offset):
            return False
        return check is None or check(session, data, direction)

    return detect


def register_sigs(sigs: Iterable[Sig]) -> None:
    """Register each signature as a detection-only protocol."""
    for sig in sigs:
        register(Protocol(sig.name, sig.transports, _sig_detect(sig), None, sig.ports,
                          first_bytes=sig.first_bytes, prefixes=sig.prefixes, prefix_offset=sig.offset))


def _confirm(check: Check, make: Callable[[], Parser]) -> Check:
    """A check that attaches a confirmer instead of naming the session itself."""

    def detect(session: Any, data: bytes, direction: int) -> bool:
        if check(session, data, direction):
            _attach(session, make())
        return False

    return detect


# --- checks taken from Arkime's classifiers (capture/parsers/*.c) ---------------------------------


def _rdp(session: Any, data: bytes, direction: int) -> bool:
    if len(data) < 12 or data[5] not in (0xE0, 0xD0) or _u16(data, 2) > len(data) + 100:
        return False
    return data.startswith(b"Cookie: mstshash=", 11) or data[11] in (1, 2, 3)


def _vnc(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 12 and data[7] == 0x2E and data[11] == 0x0A


def _other220(name: str) -> Check:
    """Arkime's "220 " banner split: LMTP, else FTP unless the banner says SMTP or TLS."""

    def check(session: Any, data: bytes, direction: int) -> bool:
        if b"LMTP" in data:
            return name == "lmtp"
        if name == "lmtp" or b"SMTP" in data or b" TLS" in data:
            return False
        _attach(session, FtpGuard(direction))
        return True

    return check


def _jabber(session: Any, data: bytes, direction: int) -> bool:
    return b"jabber" in data[5:]


def _gh0st(session: Any, data: bytes, direction: int) -> bool:
    if len(data) < 15 or data[13] != 0x78:
        return False
    size = len(data)
    windows = data[7] == 0 and data[8] == 0 and _u16le(data, 5) == size
    mac = data[5] == 0 and data[6] == 0 and _u16(data, 7) == size
    zlib = data[7] == 0 and data[8] == 0 and data[11] == 0 and data[12] == 0 and data[14] == 0x9C
    return windows or mac or zlib


def _stun_udp(session: Any, data: bytes, direction: int) -> bool:
    if len(data) < 20:
        return False
    if data[4:8] == b"\x21\x12\xa4\x42":
        return True
    return _u16(data, 2) + 20 == len(data) and data[0] in (0, 1)


def _stun_tcp(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 20 and data[4:8] == b"\x21\x12\xa4\x42" and data[0] & 0xC0 == 0


def _stun_rsp(session: Any, data: bytes, direction: int) -> bool:
    return b"STUN" in data[7:]


def _flap(session: Any, data: bytes, direction: int) -> bool:
    if len(data) < 6:
        return False
    size = 6 + _u16(data, 4)
    return len(data) == size or (len(data) > size and data[size] == 0x2A)


def _kafka(session: Any, data: bytes, direction: int) -> bool:
    return (len(data) >= 10 and data[4] == 0 and data[5] <= 6 and data[7] == 0
            and len(data) == 4 + _u16(data, 2))


def _thrift(session: Any, data: bytes, direction: int) -> bool:
    return len(data) > 20 and data[4] == 0x80 and data[5] == 1 and data[6] == 0


def _isakmp(session: Any, data: bytes, direction: int) -> bool:
    """isakmp.c: NAT-T marker on 4500, then version / exchange type / flags must agree."""
    if _has_port(session, 4500):
        if data[:4] != b"\x00\x00\x00\x00":
            return False
        data = data[4:]
    if len(data) < 28:
        return False
    major, exchange, flags = data[17] >> 4, data[18], data[19]
    if major == 1:
        return (exchange <= 5 or 32 <= exchange <= 33 or exchange >= 240) and not flags & 0xF8
    if major == 2:
        return 34 <= exchange <= 37 and not flags & 0xC7
    return False


def _aruba_papi(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 20 and data[:2] == b"\x49\x72"


def _skinny(session: Any, data: bytes, direction: int) -> bool:
    return (session.port2 == 2000 and len(data) > 20 and len(data) >= data[0] + 8
            and data[1:8] == bytes(7))


def _hdfs(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 10 and data[5] == 0x0A


def _hsrp(name: str) -> Check:
    def check(session: Any, data: bytes, direction: int) -> bool:
        if session.port1 != session.port2 or len(data) < 3:
            return False
        if name == "hsrp":
            return data[0] == 0 and data[1] == 3
        return data[:3] == b"\x01\x28\x02"

    return check


def _syslog(session: Any, data: bytes, direction: int) -> bool:
    for byte in data[2:]:
        if byte == 0x3E:  # '>'
            return True
        if not 0x30 <= byte <= 0x39:
            return False
    return False


def _tacacs(session: Any, data: bytes, direction: int) -> bool:
    return _has_port(session, 49)


def _rip(session: Any, data: bytes, direction: int) -> bool:
    return _has_port(session, 520)


def _dropbox(session: Any, data: bytes, direction: int) -> bool:
    return b"host_int" in data[1:]


def _mysql_greeting(session: Any, data: bytes, direction: int) -> bool:
    """mysql.c: the server greeting carries a printable, NUL-ended version string."""
    if direction != 1:
        return False
    end = data.find(b"\x00", 5)
    return end > 5 and _printable(data[5:end])


def _printable(data: bytes) -> bool:
    return all(0x20 <= b < 0x7F for b in data)


def _postgresql(session: Any, data: bytes, direction: int) -> bool:
    """postgresql.c: an SSLRequest, or a v3 startup message that names a user."""
    if len(data) == 8 and data[3:] == b"\x08\x04\xd2\x16\x2f":
        return True
    if len(data) <= 8 or data[3] > len(data) or data[4:7] != b"\x00\x03\x00":
        return False
    size = int.from_bytes(data[:4], "big")
    if size > len(data) or size < 16:
        return False
    parts = data[8:].split(b"\x00")
    keys = parts[0:-1:2]
    for key in keys:
        if key == b"":
            break
        if key == b"user":
            return True
    return False


def _oracle(session: Any, data: bytes, direction: int) -> bool:
    size = len(data)
    return (direction == 0 and size > 27 and size == _u16(data, 0)
            and _u16(data, 24) + _u16(data, 26) == size)


def _tds(session: Any, data: bytes, direction: int) -> bool:
    """tds.c: a TDS 4/5 login packet, or a TDS 7+ pre-login / login7 from the client."""
    if direction != 0 or len(data) < 8:
        return False
    if data.startswith(b"\x02\x00\x02\x00\x00\x00\x01\x00"):
        return len(data) >= 512
    return data[0] in (0x10, 0x12) and data[1] == 1 and _u16(data, 2) == len(data) and data[7] == 0


def _irc(session: Any, data: bytes, direction: int) -> bool:
    if len(data) < 8:
        return False
    if data[0] == 0x3A and b" NOTICE " not in data:
        return False
    return not (data[0] == 0x55 and b"\nNICK " not in data and b" +iw " not in data)


def _krb5_udp(session: Any, data: bytes, direction: int) -> bool:
    tlv = asn_tlv(data, 0)
    return tlv is not None and tlv[0] == 1 and tlv[1] in (10, 12, 30)


def _krb5_tcp(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 5 and data[:2] == b"\x00\x00" and data[4] in (0x6A, 0x6B, 0x6C, 0x6D, 0x7E)


def _ldap(session: Any, data: bytes, direction: int) -> bool:
    """ldap.c: SEQUENCE { messageID INTEGER, protocolOp [APPLICATION n] } with n <= 25."""
    outer = asn_tlv(data, 0)
    if outer is None or not outer[0] or outer[1] != 16:
        return False
    body = data[:outer[2] + outer[3]]
    msgid = asn_tlv(body, outer[2])
    if msgid is None or msgid[0] or msgid[1] != 2:
        return False
    pos = msgid[2] + msgid[3]
    if len(body) - pos < 2 or body[pos] & 0xC0 != 0x40:
        return False
    op = asn_tlv(body, pos)
    return op is not None and op[0] == 1 and op[1] <= 25


def _snmp(session: Any, data: bytes, direction: int) -> bool:
    if len(data) < 12 or not _has_port(session, 161, 162, 8161):
        return False
    outer = asn_tlv(data, 0)
    if outer is None or outer[1] != 16 or outer[3] < 16:
        return False
    version = asn_tlv(data[:outer[2] + outer[3]], outer[2])
    # wire versions: 0 v1, 1 v2c, 3 v3
    return (version is not None and version[1] == 2 and version[3] == 1
            and data[version[2]] in (0, 1, 3))


def _c1222(session: Any, data: bytes, direction: int) -> bool:
    if len(data) < 6:
        return False
    outer = asn_tlv(data, 0)
    if outer is None or not outer[0] or outer[1] != 0:
        return False
    inner = asn_tlv(data[:outer[2] + outer[3]], outer[2])
    return inner is not None and inner[1] in (2, 4, 6)


def _smb(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 8 and data[4] in (0xFF, 0xFE)


def _dcerpc(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 16


def _bgp(session: Any, data: bytes, direction: int) -> bool:
    return session.port2 == 179 and len(data) >= 19 and data[:16] == b"\xff" * 16


def _mqtt(session: Any, data: bytes, direction: int) -> bool:
    """mqtt.c: a CONNECT whose protocol name is MQTT or MQIsdp."""
    if len(data) < 10:
        return False
    pos = 1
    while pos < 5 and data[pos] & 0x80:  # remaining length, up to four bytes
        pos += 1
    if pos >= 5:
        return False
    pos += 1
    if pos + 2 > len(data):
        return False
    size = _u16(data, pos)
    name = data[pos + 2:pos + 2 + size]
    return (size, name) in ((4, b"MQTT"), (6, b"MQIsdp"))


def _modbus(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 7 and _u16(data, 2) == 0 and _u16(data, 4) - 1 == len(data) - 7


def _adb_message(session: Any, data: bytes, direction: int) -> bool:
    """adb.c: a 24-byte message header whose magic is the command's complement."""
    if len(data) < 24:
        return False
    command = _u32le(data, 0)
    return _u32le(data, 20) == command ^ 0xFFFFFFFF and data[:4] in ADB_COMMANDS


ADB_COMMANDS: Final = (b"SYNC", b"CNXN", b"OPEN", b"OKAY", b"CLSE", b"WRTE", b"AUTH", b"STLS")


def _adb_host(session: Any, data: bytes, direction: int) -> bool:
    """adb.c: the host protocol on 5037 opens with four hex digits giving a sane length."""
    if len(data) < 4 or not all(chr(b) in HEX_DIGITS for b in data[:4]):
        return False
    return 0 < int(data[:4], 16) <= 4096


HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


def _adb_5555(session: Any, data: bytes, direction: int) -> bool:
    return _has_port(session, 5555) and _adb_any(session, data, direction)


def _adb_5037(session: Any, data: bytes, direction: int) -> bool:
    return _has_port(session, 5037) and _adb_host(session, data, direction)


def _adb_any(session: Any, data: bytes, direction: int) -> bool:
    if _adb_message(session, data, direction):
        _attach(session, AdbTls())
        return True
    return False


def _dnp3(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 10 and data[2] >= 5


def _synchrophasor(udp: bool) -> Check:
    def check(session: Any, data: bytes, direction: int) -> bool:
        if len(data) < 16 or (udp and _has_port(session, DNS_PORT)):
            return False
        version, frame_type, size = data[1] & 0x0F, (data[1] >> 4) & 7, _u16(data, 2)
        return 1 <= version <= 2 and frame_type <= 5 and size >= 16 and (not udp or size <= len(data))

    return check


def _opcua(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 8 and _u32le(data, 4) >= 8 and _u32le(data, 4) <= 16 * 1024 * 1024


OPENVPN_RESET_SIZES: Final = (14, 38, 42, 54, 86)


def _openvpn_record(data: bytes) -> bool:
    """A P_CONTROL_HARD_RESET_CLIENT_V2 record: known size, ends in five zero bytes."""
    return (len(data) in OPENVPN_RESET_SIZES and data[0] == 0x38
            and data[-5:] == b"\x00\x00\x00\x00\x00")


def _openvpn_udp(session: Any, data: bytes, direction: int) -> bool:
    return _openvpn_record(data)


def _openvpn_tcp(session: Any, data: bytes, direction: int) -> bool:
    if len(data) < 3:
        return False
    size = _u16(data, 0)
    return size + 2 <= len(data) and _openvpn_record(data[2:2 + size])


def _diameter(session: Any, data: bytes, direction: int) -> bool:
    if len(data) < 20 or data[0] != 1:
        return False
    size = int.from_bytes(data[1:4], "big")
    return size >= 20 and not data[4] & 0x0F and data[5:8] != b"\x00\x00\x00"


def _enip_header(data: bytes) -> bool:
    return len(data) >= 24 and _u16le(data, 0) in ENIP_COMMANDS


ENIP_COMMANDS: Final = (0x0000, 0x0004, 0x0063, 0x0064, 0x0065, 0x0066, 0x006F, 0x0070, 0x0072, 0x0073)


def _enip_tcp(session: Any, data: bytes, direction: int) -> bool:
    return _has_port(session, 44818) and _enip_header(data)


def _enip_udp(session: Any, data: bytes, direction: int) -> bool:
    return (_has_port(session, 44818, 2222) and _enip_header(data)
            and 24 + _u16le(data, 2) == len(data))


def _bacnet(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 4 and 4 <= _u16(data, 2) <= len(data) and data[1] <= 0x0C


def _pana(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 16 and _u16(data, 2) == len(data) and 1 <= _u16(data, 6) <= 4


PTP_TYPES: Final = (0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xB, 0xC, 0xD)


def _ptp(session: Any, data: bytes, direction: int) -> bool:
    return (len(data) >= 34 and data[1] & 0x0F == 2 and data[0] & 0x0F in PTP_TYPES
            and 34 <= _u16(data, 2) <= len(data))


def _tftp(session: Any, data: bytes, direction: int) -> bool:
    """tftp.c: opcode 1-5; a request names a file and a mode, each NUL-ended."""
    if len(data) < 4 or not 1 <= _u16(data, 0) <= 5:
        return False
    if _u16(data, 0) > 2:
        return True
    name_end = data.find(b"\x00", 2)
    return name_end >= 3 and data.find(b"\x00", name_end + 1) > name_end + 1


def _nbns(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 50 and data[12] == 0x20 and all(0x41 <= b <= 0x50 for b in data[13:17])


def _nbds(session: Any, data: bytes, direction: int) -> bool:
    """NetBIOS datagram service: a known message type and a datagram length that fits."""
    return len(data) >= 14 and 0x10 <= data[0] <= 0x16 and _u16(data, 10) <= len(data) - 14


def _nbds_smb(session: Any, data: bytes, direction: int) -> bool:
    return _nbds(session, data, direction) and b"\xffSMB" in data[14:]


def _radius(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 20 and 20 <= _u16(data, 2) <= len(data) and _has_port(session, 1812, 1813, 1645, 1646)


def _netflow(session: Any, data: bytes, direction: int) -> bool:
    """NetFlow v1/v5/v7 (a count of fixed-size records) or v9 (templates and flow sets)."""
    if len(data) < 20:
        return False
    version, count = _u16(data, 0), _u16(data, 2)
    record = {1: (16, 48), 5: (24, 48), 7: (24, 52)}.get(version)
    if record is not None:
        return 0 < count <= 30 and len(data) >= record[0] + count * record[1]
    if version != 9 or count == 0 or len(data) < 24:
        return False
    flowset, size = _u16(data, 20), _u16(data, 22)
    return (flowset <= 1 or flowset >= 256) and 4 <= size <= len(data) - 20


def _ipfix(session: Any, data: bytes, direction: int) -> bool:
    if len(data) < 20 or _u16(data, 0) != 10 or _u16(data, 2) != len(data):
        return False
    setid, size = _u16(data, 16), _u16(data, 18)
    return (setid in (2, 3) or setid >= 256) and 4 <= size <= len(data) - 16


def _sflow(session: Any, data: bytes, direction: int) -> bool:
    """sFlow v2/v4/v5 datagram header: version, then agent address type 1 (IPv4) or 2 (IPv6)."""
    if len(data) < 28 or data[:3] != b"\x00\x00\x00" or data[3] not in (2, 4, 5):
        return False
    return data[4:7] == b"\x00\x00\x00" and data[7] in (1, 2)


def _telnet(session: Any, data: bytes, direction: int) -> bool:
    """Telnet option negotiation: IAC, then WILL/WONT/DO/DONT (or SB) and an option byte."""
    return len(data) >= 3 and data[1] in (0xFA, 0xFB, 0xFC, 0xFD, 0xFE) and data[2] < 0x30


RPC_NAMES: Final = {0xA0: "portmap", 0xA1: "rstat", 0xA2: "rusers", 0xA4: "ypprog", 0xA5: "mount",
                    0xA7: "ypbind", 0xA8: "wall", 0xA9: "yppasswd", 0xAB: "rquota", 0xB1: "rexec",
                    0xC5: "tfs"}


def _rpc(name: str) -> Check:
    def check(session: Any, data: bytes, direction: int) -> bool:
        return len(data) >= 16 and RPC_NAMES.get(data[15]) == name

    return check


def _ntlm_carrier(session: Any, data: bytes, direction: int) -> bool:
    """Watch the protocols that can carry NTLM for an NTLMSSP message (raw or base64)."""
    if NTLM_CARRIER.match(data):
        _attach(session, NtlmScan())
    elif len(data) >= 8 and data[4:8] == b"\xffSMB":
        _attach(session, NtlmScan(smb1=True))
    return False


# What the carriers' first bytes start with: RPC over HTTP's methods, LDAP's BER sequence ("0"),
# DCE/RPC, TDS, and the NetBIOS session message (type 0) in front of SMB1. The index skips the
# check (a regular expression) for every other session. HTTP's own logins are read by its parser
# from the authentication headers (and the mail parsers read theirs): a scan riding along every
# HTTP session cost ~2 % of a home capture's parse time and ~100 bytes an open session.
NTLM_FIRST: Final = frozenset(b"R0\x05\x10\x12\x00")
NTLM_CARRIER: Final = re.compile(rb"RPC_(?:IN|OUT)_DATA[ /]|0|\x05\x00|[\x10\x12]\x01")


# --- confirmers: tiny parsers that name the session once a later message agrees -------------------


class Confirmer(Parser):
    """Buffers each direction (bounded) and calls ``frames`` until it returns True (done)."""

    name = "signature"

    def __init__(self) -> None:
        self.buf = [b"", b""]
        self.done = [False, False]

    def data(self, session: Any, data: bytes, direction: int) -> None:
        if self.done[direction]:
            return
        buf = self.buf[direction] + data
        if len(buf) > MAX_BUFFER:
            buf = buf[:MAX_BUFFER]
        used, finished = self.frames(session, buf, direction)
        self.buf[direction] = buf[used:]
        if finished or (len(buf) >= MAX_BUFFER and used == 0):
            self.done[direction] = True
            self.buf[direction] = b""
        if all(self.done):
            _detach(session, self)

    def frames(self, session: Any, buf: bytes, direction: int) -> tuple[int, bool]:
        """Consume whole frames from ``buf``: (bytes used, this direction finished)."""
        return len(buf), True


class S7Confirm(Confirmer):
    """s7comm.c: TPKT/COTP data PDUs name s7comm (0x32) or s7comm-plus (0x72)."""

    def frames(self, session: Any, buf: bytes, direction: int) -> tuple[int, bool]:
        pos = 0
        while len(buf) - pos >= 4:
            size = _u16(buf, pos + 2)
            if buf[pos] != 3 or size < 4:
                return pos, True
            if len(buf) - pos < size:
                break
            self._pdu(session, buf[pos:pos + size])
            pos += size
        return pos, "s7comm" in session.protocols and "s7comm-plus" in session.protocols

    @staticmethod
    def _pdu(session: Any, frame: bytes) -> None:
        if len(frame) < 7 or frame[5] >> 4 != 0x0F:
            return
        at = 4 + 1 + frame[4]
        if at < len(frame) and frame[at] in (0x32, 0x72):
            session.add_protocol("s7comm" if frame[at] == 0x32 else "s7comm-plus")


DCERPC_INTERFACES: Final = {
    "e3514235-4b06-11d1-ab04-00c04fc2dcd2": "drsuapi",
    "12345778-1234-abcd-ef00-0123456789ac": "samr",
    "12345678-1234-abcd-ef00-01234567cffb": "netlogon",
    "367abb81-9844-35f1-ad32-98f038001003": "svcctl",
    "4b324fc8-1670-01d3-1278-5a47bf6ee188": "srvsvc",
    "1ff70682-0a51-30e8-076d-740be8cee98b": "atsvc",
    "338cd001-2244-31f1-aaaa-900038001003": "winreg",
    "c681d488-d850-11d0-8c52-00c04fd90f7e": "efsrpc",
    "df1941c5-fe89-4e79-bf10-463657acf44d": "efsr",
    "12345778-1234-abcd-ef00-0123456789ab": "lsarpc",
    "6bffd098-a112-3610-9833-46c3f87e345a": "wkssvc",
    "3919286a-b10c-11d0-9ba8-00c04fd92ef5": "dssetup",
    "e1af8308-5d1f-11c9-91a4-08002b14a0fa": "epmapper",
    "86d35949-83c9-4044-b424-db363231fd0c": "itaskscheduler",
    "99fcfec4-5260-101b-bbcb-00aa0021347a": "ioxidresolver",
    "00000131-0000-0000-c000-000000000046": "iremunknown",
    "00000134-0000-0000-c000-000000000046": "iremunknown2",
    "00000143-0000-0000-c000-000000000046": "iremunknown2",
    "000001a0-0000-0000-c000-000000000046": "isystemactivator",
    "ccd8c074-d0e5-4a40-92b4-d074faa6ba28": "witness",
    "afa8bd80-7d8a-11c9-bef4-08002b102989": "mgmt",
    "f5cc5a18-4264-101a-8c59-08002b2f8426": "nspi",
}


class DceRpcNames(Confirmer):
    """dcerpc.c: each bind / alter-context names the interfaces it asks for."""

    def frames(self, session: Any, buf: bytes, direction: int) -> tuple[int, bool]:
        pos = 0
        while len(buf) - pos >= 16:
            little = bool(buf[pos + 4] & 0x10)
            size = _u16le(buf, pos + 8) if little else _u16(buf, pos + 8)
            if size < 16 or size > 8192:
                return pos, True
            if len(buf) - pos < size:
                break
            if buf[pos + 2] in (11, 14):
                self._bind(session, buf[pos + 16:pos + size], little)
            pos += size
        return pos, False

    @staticmethod
    def _bind(session: Any, body: bytes, little: bool) -> None:
        if len(body) < 12:
            return
        count, pos = body[8], 12
        for _ in range(count):
            if len(body) - pos < 44:
                return
            ntrans = body[pos + 2]
            name = DCERPC_INTERFACES.get(_uuid(body[pos + 4:pos + 20], little))
            if name:
                session.add_protocol(name)
            pos += 24 + ntrans * 20


def _uuid(raw: bytes, little: bool) -> str:
    order: Literal["little", "big"] = "little" if little else "big"
    first = int.from_bytes(raw[0:4], order)
    second = int.from_bytes(raw[4:6], order)
    third = int.from_bytes(raw[6:8], order)
    return f"{first:08x}-{second:04x}-{third:04x}-{raw[8:10].hex()}-{raw[10:16].hex()}"


class EnipCip(Confirmer):
    """enip.c: SendRRData / SendUnitData carrying a CIP message name the session cip too."""

    def __init__(self, udp: bool = False) -> None:
        super().__init__()
        self.udp = udp

    def frames(self, session: Any, buf: bytes, direction: int) -> tuple[int, bool]:
        if self.udp:
            self._message(session, buf)
            return len(buf), False
        pos = 0
        while len(buf) - pos >= 24:
            if _u16le(buf, pos) not in ENIP_COMMANDS:
                return pos, True
            size = 24 + _u16le(buf, pos + 2)
            if len(buf) - pos < size:
                break
            self._message(session, buf[pos:pos + size])
            pos += size
        return pos, "cip" in session.protocols

    @staticmethod
    def _message(session: Any, msg: bytes) -> None:
        if len(msg) < 24 or _u16le(msg, 0) not in (0x6F, 0x70):
            return
        size = _u16le(msg, 2)
        body = msg[24:24 + size]
        if len(body) < 8:
            return
        items, pos = _u16le(body, 6), 8
        if not 0 < items <= 16:
            return
        for _ in range(items):
            if len(body) - pos < 4:
                return
            kind, size = _u16le(body, pos), _u16le(body, pos + 2)
            pos += 4
            if size > len(body) - pos:
                return
            need = 3 if kind == 0xB1 else 1
            if kind in (0xB1, 0xB2) and size >= need:
                session.add_protocol("cip")
            pos += size


class MysqlLogin(Parser):
    """mysql.c: after a greeting, the client's login packet must parse before naming mysql."""

    name = "signature"

    def data(self, session: Any, data: bytes, direction: int) -> None:
        if direction != 0:
            return
        _detach(session, self)
        if (len(data) < 35 and len(data) != 8) or data[1] or data[2] or data[3] > 2:
            return
        size = data[0] | (data[1] << 8) | (data[2] << 16)
        if size < 32 or 4 + size > len(data):
            return
        user = data[36:4 + size].split(b"\x00", 1)[0]
        if _printable(user):
            session.add_protocol("mysql")


class SocksConfirm(Parser):
    """socks.c: SOCKS is named when the server accepts; then the tunnelled bytes are classified.

    Follows Arkime's state machine: the method (or SOCKS4) reply names the session, the connect
    request and reply are skipped, and the first tunnelled data is classified once.
    """

    name = "signature"

    # Defaults: compressed_sessions rebuilds the parser of an idle session from no arguments.
    def __init__(self, client: int = 0, version: int = 0, no_auth: bool = True) -> None:
        self.client = client
        self.version = version
        server = 1 - client
        self.no_auth = no_auth
        self.state = {client: "request", server: "reply"} if version == 4 else {
            client: "greeting", server: "method"}

    def data(self, session: Any, data: bytes, direction: int) -> None:
        state = self.state[direction]
        if state == "request":
            return
        if state == "data":
            _detach(session, self)
            _reclassify(session, data, direction)
            return
        handler = getattr(self, "_" + state)
        if not handler(session, data, direction):
            _detach(session, self)

    def _reply(self, session: Any, data: bytes, direction: int) -> bool:
        if len(data) < 8 or data[0] != 0 or not 0x5A <= data[1] <= 0x5D:
            return False
        session.add_protocol("socks")
        self.state = {0: "data", 1: "data"}
        _reclassify(session, data[8:], direction)
        return True

    def _method(self, session: Any, data: bytes, direction: int) -> bool:
        if len(data) != 2 or data[0] != 5 or data[1] > 2 or data[1] == 1:
            if len(data) == 2 and data[0] == 5 and data[1] == 1:
                session.add_protocol("socks")  # named, but GSSAPI is not followed
            return False
        session.add_protocol("socks")
        if self.state[self.client] == "data":
            self.state[direction] = "connected"
        else:
            self.state[self.client] = "connect" if data[1] == 0 else "user"
            self.state[direction] = "connected" if data[1] == 0 else "userok"
        return True

    def _greeting(self, session: Any, data: bytes, direction: int) -> bool:
        """The client's method offer, already checked by the detector."""
        self.state[direction] = "connect" if self.no_auth else "user"
        return True

    def _user(self, session: Any, data: bytes, direction: int) -> bool:
        self.state[direction] = "connect"
        return True

    def _userok(self, session: Any, data: bytes, direction: int) -> bool:
        self.state[direction] = "connected"
        return True

    def _connect(self, session: Any, data: bytes, direction: int) -> bool:
        if len(data) < 6 or data[:3] != b"\x05\x01\x00":
            return False
        return self._skip_address(session, data, direction)

    def _connected(self, session: Any, data: bytes, direction: int) -> bool:
        return len(data) >= 6 and self._skip_address(session, data, direction)

    def _skip_address(self, session: Any, data: bytes, direction: int) -> bool:
        kind = data[3]
        used = {1: 10, 4: 22}.get(kind, 7 + data[4] if kind == 3 else 0)
        if not used:
            return False
        self.state[direction] = "data"
        _reclassify(session, data[used:], direction)
        return True


def _socks5(session: Any, data: bytes, direction: int) -> bool:
    if 3 <= len(data) <= 5 and data[1] == len(data) - 2 and data[2] <= 3:
        _attach(session, SocksConfirm(direction, 5, data[2] == 0))
    return False


def _socks4(session: Any, data: bytes, direction: int) -> bool:
    if data[-1] == 0:
        _attach(session, SocksConfirm(direction, 4))
    return False


def _reclassify(session: Any, data: bytes, direction: int) -> None:
    """Run the TCP detectors on tunnelled bytes, as Arkime re-classifies after SOCKS."""
    if not data:
        return
    for protocol in _tcp_index().candidates(data, session.port1, session.port2):
        if protocol.name == "socks":
            continue
        try:
            matched = protocol.detect(session, data, direction)
        except Exception:  # noqa: BLE001 - a detector must never take the packet path down
            continue
        if matched:
            session.add_protocol(protocol.name)
            if protocol.parser is not None:
                parser = protocol.parser()
                _attach(session, parser)
                try:
                    parser.data(session, data, direction)
                except Exception:  # noqa: BLE001
                    _detach(session, parser)


_index_cache: list[Any] = [0, None]  # (number of protocols indexed, the index)


def _tcp_index() -> CandidateIndex:
    """The TCP detectors indexed as AppLayer does (rebuilt if protocols were registered since)."""
    if _index_cache[0] != len(PROTOCOLS):
        _index_cache[:] = [len(PROTOCOLS), CandidateIndex([p for p in PROTOCOLS if p.transports & TCP])]
    return _index_cache[1]


class NtlmScan(Parser):
    """NTLMSSP messages inside SMB1, LDAP, DCE/RPC (also over HTTP) and TDS name ntlm; each one read
    (``ntlm.record_all``) fills the ntlm fields, up to the AUTHENTICATE message that ends a login."""

    # Per direction in slots, not pairs of lists: one of these rides along every LDAP session.
    __slots__ = ("seen0", "seen1", "tail0", "tail1", "smb1", "found")
    name = "signature"
    LIMIT = 32 * 1024

    def __init__(self, smb1: bool = False) -> None:
        self.seen0 = self.seen1 = 0
        self.tail0 = self.tail1 = b""
        self.smb1 = smb1
        self.found = False

    def data(self, session: Any, data: bytes, direction: int) -> None:
        # Each side is searched up to LIMIT bytes: the authentication exchange opens a
        # connection, and a download's body (most of an HTTP session's bytes) is left alone.
        seen = self.seen1 if direction else self.seen0
        if seen >= self.LIMIT:
            return
        tail = self.tail1 if direction else self.tail0
        room = self.LIMIT - seen
        head = data if len(data) <= room else data[:room]
        if self.smb1:  # the rare case: search the joined bytes as they are
            found = _smb1_ntlm(tail + head)
        else:
            # Searched in place, and only the seam joined: no copy of every packet's payload.
            # The markers are at most 10 bytes, so one across the seam starts in the 9-byte tail.
            found = _has_ntlm(head) or bool(tail) and _has_ntlm(tail + head[:9])
        if found:
            if not self.found:
                session.add_protocol("ntlm")
                self.found = True
            if ntlm.record_all(session, head) == ntlm.AUTHENTICATE:
                _detach(session, self)  # the login is complete: nothing later is read
                return
        if self.smb1:
            tail = head[-9:] if len(head) >= 9 else (tail + head)[-9:]
        else:
            tail = _seam(head if len(head) >= 9 else tail + head)
        if direction:
            self.tail1, self.seen1 = tail, self.seen1 + len(data)
        else:
            self.tail0, self.seen0 = tail, self.seen0 + len(data)
        if min(self.seen0, self.seen1) >= self.LIMIT:
            _detach(session, self)


def _seam(window: bytes) -> bytes:
    """The end of ``window`` that a marker could continue from in the next chunk: its longest
    suffix that begins a marker, else b"". Most chunks end in nothing of the kind, so an idle
    HTTP session keeps no bytes here (two 9-byte tails were ~85 bytes per open session)."""
    end = window[-9:]
    for start in range(len(end)):  # longest first: a shorter suffix is inside it
        if end[start] in (0x4E, 0x54):  # "N", "T": the markers' first letters
            suffix = end[start:]
            if b"NTLMSSP\x00".startswith(suffix) or b"TlRMTVNTUA".startswith(suffix):
                return suffix
    return b""


def _has_ntlm(window: bytes) -> bool:
    """An NTLMSSP message, raw or base64 (as HTTP and mail authentication carry it)."""
    return b"NTLMSSP\x00" in window or b"TlRMTVNTUA" in window


def _smb1_ntlm(window: bytes) -> bool:
    """NTLMSSP after an SMB1 session setup: Arkime decodes it there, not in SMB2 (which may follow)."""
    setup = window.find(b"\xffSMBs")
    return setup >= 0 and window.find(b"NTLMSSP\x00", setup) > 0


class AdbTls(Parser):
    """adb.c: after a side sends A_STLS, what it sends next is TLS; classify it once."""

    name = "signature"
    LIMIT = 64  # chunks to watch for STLS before giving up

    def __init__(self) -> None:
        self.state = ["adb", "adb"]
        self.chunks = 0

    def data(self, session: Any, data: bytes, direction: int) -> None:
        self.chunks += 1
        if self.state[direction] == "stls" and not data.startswith(ADB_COMMANDS):
            self.state[direction] = "done"
            _reclassify(session, data, direction)
        elif len(data) >= 24 and data.startswith(b"STLS"):
            self.state[direction] = "stls"
        if self.state == ["done", "done"] or self.chunks > self.LIMIT:
            _detach(session, self)


class LdapStartTls(Parser):
    """ldap.c: bytes after an ExtendedRequest (StartTLS) are classified again, usually as TLS."""

    name = "signature"
    LIMIT = 16  # LDAP messages to look through per direction

    def __init__(self) -> None:
        self.buf = [b"", b""]
        self.seen = [0, 0]
        self.starttls = [False, False]

    def data(self, session: Any, data: bytes, direction: int) -> None:
        if self.starttls[direction]:
            _detach(session, self)
            _reclassify(session, data, direction)
            return
        buf = (self.buf[direction] + data)[:MAX_BUFFER]
        while self.seen[direction] < self.LIMIT:
            outer = asn_tlv(buf, 0)
            if outer is None or outer[2] + outer[3] > len(buf) or len(buf) < 2:
                break
            end = outer[2] + outer[3]
            self.seen[direction] += 1
            msgid = asn_tlv(buf[:end], outer[2])
            op = msgid and asn_tlv(buf[:end], msgid[2] + msgid[3])
            buf = buf[end:]
            if op and op[0] == 1 and op[1] == 23:
                self.starttls[direction] = True
                if buf:
                    self.data(session, buf, direction)
                return
        self.buf[direction] = buf
        if min(self.seen) >= self.LIMIT or len(buf) >= MAX_BUFFER:
            _detach(session, self)


def _ldap_tcp(session: Any, data: bytes, direction: int) -> bool:
    if _ldap(session, data, direction):
        _attach(session, LdapStartTls())
        return True
    return False


class FtpGuard(Parser):
    """ftp.c, on the client's command lines: USER names the session's ``user`` and PASS with a
    password tags it ``ftp:password``; a client that greets with HELO/EHLO/LHLO was talking
    SMTP, not FTP. Only the start of the control connection is read: the login opens it."""

    __slots__ = ("server", "line", "seen")
    name = "signature"
    LIMIT = 4096  # client bytes read before giving up on a login
    MAX_LINE = 512

    def __init__(self, server: int) -> None:
        self.server = server
        self.line = b""
        self.seen = 0

    def data(self, session: Any, data: bytes, direction: int) -> None:
        if direction == self.server:
            return
        self.seen += len(data)
        *lines, rest = (self.line + data).split(b"\n")
        self.line = rest[:self.MAX_LINE]
        for line in lines:
            if self._command(session, line.strip(b" \t\r")):
                return
        if self.seen >= self.LIMIT:
            _detach(session, self)

    def _command(self, session: Any, line: bytes) -> bool:
        """One client line; True when this parser is done with the session."""
        verb, _, arg = line.partition(b" ")
        verb = verb.upper()
        if verb in (b"HELO", b"EHLO", b"LHLO"):
            session.remove_protocol("ftp")
            _detach(session, self)
            return True
        arg = arg.strip(b" \t")
        if verb == b"USER" and arg:
            add_user(session, arg.decode("utf-8", "replace"))
        elif verb == b"PASS" and arg:
            session.add_tag("ftp:password")
            _detach(session, self)  # the login is over: nothing later is indexed
            return True
        return False


def _dcerpc_names(session: Any, data: bytes, direction: int) -> bool:
    if _dcerpc(session, data, direction):
        _attach(session, DceRpcNames())
        return True
    return False


def _s7comm(session: Any, data: bytes, direction: int) -> bool:
    """s7comm.c: TPKT + COTP connect with TSAP parameters, or a data PDU carrying S7."""
    if len(data) < 7 or not 7 <= _u16(data, 2) <= len(data):
        return False
    cotp_len, pdu = data[4], data[5] >> 4
    if pdu in (0x0E, 0x0D):
        pos = 11
        while pos + 2 < len(data) and pos < 5 + cotp_len:
            if data[pos] in (0xC1, 0xC2):
                return True
            pos += 2 + data[pos + 1]
        return False
    at = 5 + cotp_len
    return pdu == 0x0F and at < len(data) and data[at] in (0x32, 0x72)


def _enip_tcp_cip(session: Any, data: bytes, direction: int) -> bool:
    if _enip_tcp(session, data, direction):
        _attach(session, EnipCip())
        return True
    return False


def _enip_udp_cip(session: Any, data: bytes, direction: int) -> bool:
    if _enip_udp(session, data, direction):
        _attach(session, EnipCip(udp=True))
        return True
    return False


REDIS: Final = tuple(b"*%d\r\n$" % n for n in range(1, 6)) + (b"+PONG", b"-NOAUTH ")
TACACS: Final = (b"\xc0\x01\x01", b"\xc0\x01\x02", b"\xc0\x02\x01", b"\xc0\x03\x01", b"\xc0\x03\x02",
                 b"\xc1\x01\x01", b"\xc1\x01\x02")
SYSLOG: Final = tuple(b"<%d" % n for n in range(1, 10))
BOTH: Final = TCP | UDP

SIGS: Final[tuple[Sig, ...]] = (
    # misc.c: fixed prefixes
    Sig("bittorrent", TCP, (b"\x13BitTorrent protocol", b"BSYNC\x00")),
    Sig("bittorrent", UDP, (b"d1:a", b"d1:r", b"d1:q")),
    Sig("bitcoin", TCP, (b"\xf9\xbe\xb4\xd9", b"\xf9\xbe\xb4\xfe")),
    Sig("gh0st", TCP, (b"\x78",), _gh0st, offset=13),  # _gh0st needs data[13] == 0x78
    Sig("lmtp", TCP, (b"220 ", b"220-"), _other220("lmtp")),
    Sig("ftp", TCP, (b"220 ", b"220-"), _other220("ftp")),
    Sig("vnc", TCP, (b"RFB 0",), _vnc),
    Sig("redis", TCP, REDIS),
    Sig("mongo", TCP, (b"\x00\x00\x00\x00\xd4\x07\x00\x00", b"\xff\xff\xff\xff\xd4\x07\x00\x00"), offset=8),
    Sig("jabber", TCP, (b"<?xml",), _jabber),
    Sig("thrift", TCP, (b"\x80\x01\x00\x01\x00\x00\x00",)),
    Sig("thrift", TCP, (b"\x00\x00",), _thrift),
    Sig("aerospike", TCP, (b"\x02\x01\x00\x00\x00\x00\x00\x4enode", b"\x02\x01\x00\x00\x00\x00\x00\x23node")),
    Sig("cassandra", TCP, (b"\x00\x00\x00\x25\x80\x01\x00\x01\x00\x00\x00\x0cset_",
                                  b"\x00\x00\x00\x1d\x80\x01\x00\x01\x00\x00\x00\x10desc")),
    Sig("bjnp", UDP, (b"BJNP",)),
    Sig("syslog", BOTH, SYSLOG, _syslog),
    Sig("stun", BOTH, (b"RSP/",), _stun_rsp),
    Sig("stun", UDP, (b"\x00\x01\x00", b"\x00\x03\x00", b"\x01\x01\x00"), _stun_udp),
    Sig("stun", TCP, (b"\x00\x01\x00", b"\x00\x03\x00", b"\x00\x04\x00", b"\x00\x08\x00",
                             b"\x00\x09\x00", b"\x01\x01\x00", b"\x01\x03\x00"), _stun_tcp),
    Sig("flap", TCP, (b"\x2a\x01",), _flap),
    Sig("nsclient", TCP, (b"NSClient", b"None&")),
    Sig("ssdp", UDP, (b"M-SEARCH ", b"NOTIFY * ")),
    Sig("zabbix", TCP, (b"ZBXD\x01",)),
    Sig("rmi", TCP, (b"JRMI\x00\x02\x4b",)),
    Sig("tacacs", BOTH, TACACS, _tacacs),
    Sig("flash-policy", TCP, (b"<policy-file-request/>",)),
    Sig("dropbox-lan-sync", UDP, check=_dropbox, ports=(17500,)),
    Sig("kafka", TCP, (b"\x00\x00",), _kafka),
    Sig("steam-friends", UDP, (b"VS01",)),
    Sig("valve-a2s", UDP, (b"\xff\xff\xff\xffTSou",)),
    Sig("stream-ihscp", TCP, (b"\xa4\x00\x00\x00VT01",)),
    Sig("honeywell-tcc", TCP, (b"CBKPPR\x05P",)),
    Sig("pjl", TCP, (b"\x1b%-12345", b"@PJL ")),
    Sig("rip", UDP, (b"\x01\x01\x00\x00", b"\x01\x02\x00\x00", b"\x02\x01\x00\x00", b"\x02\x02\x00\x00"), _rip),
    Sig("nzsql", TCP, (b"\x00\x00\x00\x08\x00\x01\x00\x03",)),
    Sig("splunk", TCP, (b"--splunk-cooked-mode",)),
    Sig("aruba-papi", UDP, check=_aruba_papi, ports=(8211,)),
    Sig("x11", TCP, (b"\x6c\x00\x0b\x00",)),
    Sig("memcached", TCP, (b"flush_all", b"STORED\r\n", b"END\r\n")),
    Sig("memcached", UDP, (b"\x00\x00stats", b"\x00\x00gets "), offset=6),
    Sig("hbase", TCP, (b"HBas\x00",)),
    Sig("hadoop", TCP, (b"hrpc\x09",)),
    Sig("hdfs", TCP, (b"\x00\x1c\x50", b"\x00\x1c\x51", b"\x00\x1c\x55"), _hdfs),
    Sig("zookeeper", TCP, (b"mntr\n", b"\x00\x00\x00\x2c\x00\x00\x00\x00", b"\x00\x00\x00\x2d\x00\x00\x00\x00")),
    Sig("sccp", TCP, check=_skinny, ports=(2000,)),
    Sig("hsrp", UDP, check=_hsrp("hsrp"), ports=(1985, 2029)),
    Sig("hsrpv2", UDP, check=_hsrp("hsrpv2"), ports=(1985, 2029)),
    Sig("elasticsearch", TCP, (b"ES\x00\x00",)),
    Sig("telnet", TCP, (b"\xff",), _telnet),
    # per-protocol classifiers
    Sig("rdp", TCP, (b"\x03\x00",), _rdp),
    Sig("s7comm", TCP, (b"\x03\x00",), _confirm(_s7comm, S7Confirm)),
    Sig("sip", BOTH, (b"SIP/2.0", b"INVITE sip:", b"REGISTER sip:", b"NOTIFY sip:"),
               lambda s, d, _: len(d) >= 12 and b"SIP/2.0" in d[:200]),
    Sig("sip", UDP, (b"OPTIONS sip:",), lambda s, d, _: len(d) >= 12 and b"SIP/2.0" in d[:200]),
    Sig("irc", TCP, (b":", b"NOTICE AUTH", b"NICK ", b"USER ", b"CAP REQ "), _irc),
    Sig("mysql", TCP, (b"\x00\x00\x00\x0a",), _confirm(_mysql_greeting, MysqlLogin), offset=1),
    Sig("postgresql", TCP, (b"\x00\x00\x00",), _postgresql),
    Sig("oracle", TCP, (b"\x00\x00\x01\x00\x00\x00",), _oracle, offset=2),
    Sig("tds", TCP, (b"\x02", b"\x10", b"\x12"), _tds),  # the first bytes _tds accepts
    Sig("socks", TCP, (b"\x05",), _socks5),
    Sig("socks", TCP, (b"\x04\x00", b"\x04\x01"), _socks4),
    Sig("krb5", UDP, (b"\x03\x02\x01\x05",), _krb5_udp, offset=7),
    Sig("krb5", UDP, (b"\x03\x02\x01\x05",), _krb5_udp, offset=9),
    Sig("krb5", TCP, (b"\x03\x02\x01\x05",), _krb5_tcp, offset=11),
    Sig("krb5", TCP, (b"\x03\x02\x01\x05",), _krb5_tcp, offset=13),
    Sig("ldap", TCP, (b"\x30",), _ldap_tcp),
    Sig("ldap", UDP, (b"\x30",), _ldap),
    Sig("snmp", UDP, (b"\x30",), _snmp),
    Sig("c1222", TCP, (b"\x60",), _c1222),
    Sig("smb", TCP, (b"SMB",), _smb, offset=5),
    Sig("dcerpc", TCP, (b"\x05\x00\x0b", b"\x05\x00\x00", b"\x05\x00\x02", b"\x05\x00\x0c"), _dcerpc_names),
    Sig("bgp", TCP, check=_bgp, ports=(179,)),
    Sig("mqtt", TCP, (b"\x10",), _mqtt),
    Sig("modbus", TCP, check=_modbus, ports=(502,)),
    Sig("adb", TCP, check=_adb_5555, ports=(5555,)),
    Sig("adb", TCP, check=_adb_5037, ports=(5037,)),
    Sig("adb", TCP, (b"CNXN", b"AUTH"), _adb_any),
    Sig("dnp3", BOTH, (b"\x05\x64",), _dnp3),
    Sig("synchrophasor", TCP, (b"\xaa",), _synchrophasor(udp=False)),
    Sig("synchrophasor", UDP, (b"\xaa",), _synchrophasor(udp=True)),
    Sig("opcua", TCP, (b"HELF",), _opcua),
    # RPC over HTTP (Outlook Anywhere): the two long-lived channels' request lines
    Sig("rpc-over-http", TCP, (b"RPC_IN_DATA ", b"RPC_OUT_DATA ")),
    Sig("openvpn", UDP, (b"\x38",), _openvpn_udp),
    Sig("openvpn", TCP, (b"\x00\x0e\x38", b"\x00\x26\x38", b"\x00\x2a\x38", b"\x00\x36\x38", b"\x00\x56\x38"),
               _openvpn_tcp),
    Sig("diameter", TCP, check=_diameter, ports=(3868, 5658)),
    Sig("enip", TCP, check=_enip_tcp_cip, ports=(44818,)),
    Sig("enip", UDP, check=_enip_udp_cip, ports=(44818, 2222)),
    Sig("isakmp", UDP, check=_isakmp, ports=(500, 4500)),
    Sig("bacnet", UDP, (b"\x81", b"\x82"), _bacnet),
    Sig("pana", UDP, (b"\x00\x00",), _pana),
    Sig("ptp", UDP, check=_ptp, ports=(319, 320)),
    Sig("tftp", UDP, check=_tftp, ports=(69,)),
    Sig("nbns", UDP, check=_nbns, ports=(137,)),
    Sig("nbds", UDP, check=_nbds, ports=(138,)),
    Sig("smb", UDP, check=_nbds_smb, ports=(138,)),
    Sig("radius", UDP, (b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"), _radius),
    # the versions these checks accept, as prefixes so that other sessions skip the checks
    Sig("netflow", UDP, (b"\x00\x01", b"\x00\x05", b"\x00\x07", b"\x00\x09"), _netflow),
    Sig("ipfix", UDP, (b"\x00\x0a",), _ipfix),
    Sig("sflow", UDP, (b"\x00\x00\x00\x02", b"\x00\x00\x00\x04", b"\x00\x00\x00\x05"), _sflow),
    *(Sig(name, UDP, (b"\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01\x86",), _rpc(name), offset=4)
             for name in sorted(set(RPC_NAMES.values()))),
    Sig("ntlm", TCP, check=_ntlm_carrier, first_bytes=NTLM_FIRST),
)

register_sigs(SIGS)
