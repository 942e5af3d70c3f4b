"""OpenVPN: the TLS handshake carried in the control channel (JA3/JA4, SNI, certificates).

Detection follows Arkime's openvpn.c: a client opens with P_CONTROL_HARD_RESET_CLIENT_V2
(opcode 7, key id 0, first byte 0x38) whose length tells the tls-auth HMAC size (14 bytes without
HMAC, 38/42/54/86 with a 16/20/32/64-byte one) and whose last five bytes (ack array length and
packet id) are zero. Over TCP each record is preceded by a 2-byte length.

The parser strips the OpenVPN framing of P_CONTROL_V1 records, concatenates their payloads into
one TLS byte stream per direction and hands the ClientHello, ServerHello and Certificate messages
of each complete handshake record to the TLS helpers. Like Arkime it stops at the first data
packet or non-handshake TLS record (the handshake is over) and after 256 records. Arkime does not
add "tls" to the protocol list for these sessions, so neither do we.
"""

from __future__ import annotations

from typing import Any, Final

from appliance.protocols import TCP, UDP, Parser, Protocol, register
from appliance.protocols.certs import process_certificate_message
from appliance.protocols.tls import process_client_hello, process_server_hello

# Length of a HARD_RESET_CLIENT_V2 record -> tls-auth HMAC size.
RESET_HMAC: Final = {14: 0, 38: 16, 42: 20, 54: 32, 86: 64}
P_CONTROL_V1: Final = 4
P_DATA_V1: Final = 6
P_DATA_V2: Final = 9
BUF_MAX: Final = 65535  # per direction, for both the TCP framing and the inner TLS stream
MAX_RECORDS: Final = 256


def reset_hmac_size(record: bytes) -> int:
    """The HMAC size of a HARD_RESET_CLIENT_V2 record, or -1 if this is not one."""
    size = RESET_HMAC.get(len(record), -1)
    if size < 0 or record[0] != 0x38 or record[-5:] != b"\x00\x00\x00\x00\x00":
        return -1
    return size


def _detect_udp(session: Any, data: bytes, direction: int) -> bool:
    return len(data) >= 14 and data[0] == 0x38 and reset_hmac_size(data) >= 0


def _detect_tcp(session: Any, data: bytes, direction: int) -> bool:
    if len(data) < 3 or data[2] != 0x38:
        return False
    size = int.from_bytes(data[:2], "big")
    return size + 2 <= len(data) and size in RESET_HMAC and reset_hmac_size(data[2:2 + size]) >= 0


def control_payload(record: bytes, hmac_size: int) -> bytes | None:
    """The TLS bytes of a P_CONTROL_V1 record (after its opcode byte), or None if it is short."""
    pos = 1 + 8  # opcode, session id
    if hmac_size:
        pos += hmac_size + 8  # HMAC, replay packet id, net time
    if pos >= len(record):
        return None
    acks = record[pos]
    pos += 1 + 4 * acks + (8 if acks else 0)  # ack array, remote session id
    pos += 4  # message packet id
    if pos > len(record):
        return None
    return record[pos:]


def dispatch_handshake(session: Any, record: bytes) -> bool:
    """The handshake messages of one TLS record; False if a message overruns the record."""
    pos = 0
    while len(record) - pos >= 4:
        kind = record[pos]
        end = pos + 4 + int.from_bytes(record[pos + 1:pos + 4], "big")
        if end > len(record):
            return False  # Arkime does not join messages across records either
        body = record[pos + 4:end]
        if kind == 1:
            process_client_hello(session, body)
        elif kind == 2:
            process_server_hello(session, body)
        elif kind == 11:
            process_certificate_message(session, body)
        pos = end
    return True


class OpenVpnParser(Parser):
    """Strips OpenVPN framing and reads the TLS handshake inside it."""

    name = "openvpn"

    def __init__(self) -> None:
        self.hmac_size = -1  # learnt from the client's hard reset
        self.frames = [bytearray(), bytearray()]  # TCP length framing
        self.tls = [bytearray(), bytearray()]  # inner TLS stream
        self.records = 0
        self.done = False

    def data(self, session: Any, data: bytes, direction: int) -> None:
        if self.done:
            return
        if session.proto != 6:
            self._record(session, data, direction)
            return
        buf = self.frames[direction]
        if len(buf) + len(data) > BUF_MAX:
            self._stop()
            return
        buf += data
        while len(buf) >= 2 and not self.done:
            size = int.from_bytes(buf[:2], "big")
            if size == 0:
                self._stop()
                return
            if len(buf) < 2 + size:
                return
            record = bytes(buf[2:2 + size])
            del buf[:2 + size]
            self._record(session, record, direction)

    def _record(self, session: Any, record: bytes, direction: int) -> None:
        self.records += 1
        if self.records > MAX_RECORDS:
            self._stop()
            return
        if not record:
            return
        if self.hmac_size < 0:
            self.hmac_size = reset_hmac_size(record)
        opcode = record[0] >> 3
        if opcode in (P_DATA_V1, P_DATA_V2):
            self._stop()  # the tunnel is up: no more handshake
            return
        if opcode != P_CONTROL_V1 or self.hmac_size < 0:
            return
        payload = control_payload(record, self.hmac_size)
        if payload is None:
            self._stop()
            return
        if payload:
            self._tls(session, payload, direction)

    def _tls(self, session: Any, payload: bytes, direction: int) -> None:
        buf = self.tls[direction]
        if len(buf) + len(payload) > BUF_MAX:
            self._stop()  # one TLS record larger than the buffer: framing is lost
            return
        buf += payload
        while len(buf) >= 5:
            if buf[0] != 0x16:
                self._stop()  # ChangeCipherSpec, alert or data: the handshake is done
                return
            end = 5 + int.from_bytes(buf[3:5], "big")
            if len(buf) < end:
                return
            record = bytes(buf[5:end])
            del buf[:end]
            if not dispatch_handshake(session, record):
                self._stop()
                return

    def _stop(self) -> None:
        self.done = True
        self.frames = [bytearray(), bytearray()]
        self.tls = [bytearray(), bytearray()]


register(Protocol("openvpn", UDP, _detect_udp, parser=OpenVpnParser, prefixes=(b"\x38",)))
register(Protocol("openvpn", TCP, _detect_tcp, parser=OpenVpnParser, prefixes=(b"\x38",), prefix_offset=2))
