"""NTLMSSP messages (MS-NLMP) inside the protocols that carry them: Arkime's ``ntlm.*`` fields
and the ``user`` of an AUTHENTICATE message.

The carriers find the messages (``signatures.NtlmScan`` in SMB1, HTTP, LDAP, DCE/RPC and TDS;
the mail parsers in AUTH exchanges) and hand each one here, raw or base64. A message is read
only within the bytes given: a name whose buffer points past them is skipped, never guessed.
"""

from __future__ import annotations

import binascii
import re
from typing import Any, Final

from appliance import fields
from appliance.protocols import add_user, add_value

MAGIC: Final = b"NTLMSSP\x00"
MAGIC_BASE64: Final = b"TlRMTVNTUA"  # base64 of the magic, as HTTP and mail carry messages
NEGOTIATE, CHALLENGE, AUTHENTICATE = 1, 2, 3
FLAG_UNICODE: Final = 0x00000001
FLAG_VERSION: Final = 0x02000000
_BASE64_RUN: Final = re.compile(rb"[A-Za-z0-9+/]+=*")

# Where each message type keeps its names: (field path, offset of the security buffer).
_NAMES: Final = {
    NEGOTIATE: (("ntlm.domain", 16), ("ntlm.host", 24)),
    CHALLENGE: (("ntlm.targetName", 12),),
    AUTHENTICATE: (("ntlm.domain", 28), ("user", 36), ("ntlm.host", 44)),
}
# Offsets of the flags and of the version (there when the flags say so) in each message type.
_FLAGS_AT: Final = {NEGOTIATE: 12, CHALLENGE: 20, AUTHENTICATE: 60}
_VERSION_AT: Final = {NEGOTIATE: 32, CHALLENGE: 48, AUTHENTICATE: 64}
# Every security buffer of each type (names, target info, responses, session key).
_BUFFERS: Final = {NEGOTIATE: (16, 24), CHALLENGE: (12, 40), AUTHENTICATE: (12, 20, 28, 36, 44, 52)}


def _register_fields() -> None:
    f = fields.field
    fields.register(
        f("ntlm.domain", "ntlm.domain", "termfield", "ntlm", "NTLM domain", multi=True),
        f("ntlm.host", "ntlm.host", "termfield", "ntlm", "NTLM workstation name", multi=True),
        f("ntlm.targetName", "ntlm.target", "termfield", "ntlm", "NTLM target name (from the server)",
          multi=True),
        f("ntlm.type", "ntlm.type", "integer", "ntlm", "NTLM message types seen (1, 2, 3)", multi=True),
        f("ntlm.version", "ntlm.version", "termfield", "ntlm", "Windows version in NTLM messages",
          multi=True),
    )


_register_fields()


def _u16(data: bytes, at: int) -> int:
    return data[at] | data[at + 1] << 8


def _u32(data: bytes, at: int) -> int:
    return data[at] | data[at + 1] << 8 | data[at + 2] << 16 | data[at + 3] << 24


def record(session: Any, message: bytes) -> int:
    """Fill the session's fields from one raw message (it may run on past the message's end);
    returns its type, or 0 when it is not an NTLMSSP message this reads."""
    if len(message) < 16 or not message.startswith(MAGIC):
        return 0
    kind = _u32(message, 8)
    flags_at = _FLAGS_AT.get(kind)
    if flags_at is None:
        return 0
    flags = _u32(message, flags_at) if flags_at + 4 <= len(message) else 0
    add_value(session, "ntlm.type", kind)
    for path, at in _NAMES[kind]:
        name = _name(message, at, flags, kind)
        if name:
            if path == "user":
                add_user(session, name, lower=False)
            else:
                add_value(session, path, name)
    version = _version(message, kind, flags)
    if version:
        add_value(session, "ntlm.version", version)
    return kind


def _name(message: bytes, at: int, flags: int, kind: int) -> str:
    """The string a security buffer (length, room, offset) points at, or "" when it has none or
    points past the message. NEGOTIATE names are OEM text; the others UTF-16 when negotiated."""
    if at + 8 > len(message):
        return ""
    length, offset = _u16(message, at), _u32(message, at + 4)
    if length == 0 or offset < 8 or offset + length > len(message):
        return ""
    raw = message[offset:offset + length]
    if kind != NEGOTIATE and flags & FLAG_UNICODE:
        return raw.decode("utf-16-le", "replace")
    return raw.decode("utf-8", "replace")


def _version(message: bytes, kind: int, flags: int) -> str:
    """major.minor.build, when the flags say a version is there and the fixed part of the message
    has room for it: some clients set the flag but put their names where the version would be."""
    at = _VERSION_AT[kind]
    if not flags & FLAG_VERSION or at + 8 > len(message):
        return ""
    for buffer_at in _BUFFERS[kind]:
        if buffer_at + 8 <= len(message) and _u16(message, buffer_at) and _u32(message, buffer_at + 4) < at + 8:
            return ""
    return f"{message[at]}.{message[at + 1]}.{_u16(message, at + 2)}"


def record_all(session: Any, data: bytes) -> int:
    """Every message in a stretch of carrier bytes, raw or base64; returns the highest type read."""
    highest = 0
    at = data.find(MAGIC)
    while at >= 0:
        highest = max(highest, record(session, data[at:]))
        at = data.find(MAGIC, at + 8)
    at = data.find(MAGIC_BASE64)
    while at >= 0:
        run = _BASE64_RUN.match(data, at)
        text = run.group(0) if run else b""
        highest = max(highest, record(session, decode_base64(text)))
        at = data.find(MAGIC_BASE64, at + len(text) or at + 1)
    return highest


def decode_base64(text: bytes) -> bytes:
    """Base64 as carriers write it (padding may be missing); b"" when it is not base64."""
    text = text.rstrip(b"=")
    if len(text) % 4 == 1:
        text = text[:-1]
    try:
        return binascii.a2b_base64(text + b"=" * (-len(text) % 4))
    except binascii.Error:
        return b""
