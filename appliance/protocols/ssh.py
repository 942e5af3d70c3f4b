"""SSH: software versions, HASSH fingerprints and the server host key, as Arkime's ssh parser.

Each side opens with a version line (``SSH-2.0-OpenSSH_5.3``); after it come binary packets
(``uint32 length, byte padding, byte code, ...``). KEXINIT (code 20) gives the algorithm lists
hashed by HASSH; the DH group-exchange reply (code 33) carries the host key. Arkime stops
decoding after that reply, so do we.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Final

from appliance import fields
from appliance.digests import md5_hex
from appliance.protocols import TCP, Parser, Protocol, register

MAX_BUFFER: Final = 8196  # Arkime's per-direction reassembly buffer: bigger packets end decoding
KEXINIT: Final = 20
KEX_GEX_REPLY: Final = 33
HASSH_MAX: Final = 30000
_U32: Final = struct.Struct(">I").unpack_from

fields.register(
    fields.field("ssh.version", "ssh.ver", "lotermfield", "ssh", "SSH software version", multi=True),
    fields.field("ssh.key", "ssh.key", "termfield", "ssh", "SSH host key (base64)", multi=True),
    fields.field("ssh.hassh", "ssh.hassh", "lotermfield", "ssh", "HASSH of the client's KEXINIT", multi=True),
    fields.field("ssh.hasshServer", "ssh.hasshServer", "lotermfield", "ssh",
                 "HASSH of the server's KEXINIT", multi=True),
)


def detect(session: Any, data: bytes, direction: int) -> bool:
    """Either side opening with ``SSH`` (any port, as Arkime)."""
    return data[:3] == b"SSH"


def hassh_string(body: bytes, server: bool) -> bytes | None:
    """The HASSH input: kex;encryption;mac;compression of the sender's own direction."""
    lists = _first_lists(body, 8)
    if lists is None:
        return None
    pick = (0, 3, 5, 7) if server else (0, 2, 4, 6)
    text = b";".join(lists[i] for i in pick)
    return text if len(text) <= HASSH_MAX else None  # Arkime builds it in a 30000-byte buffer


def _first_lists(body: bytes, count: int) -> list[bytes] | None:
    """The first ``count`` name-lists of a KEXINIT body (after the 16-byte cookie)."""
    pos, out = 16, []
    for _ in range(count):
        if pos + 4 > len(body):
            return None
        size = _U32(body, pos)[0]
        pos += 4
        if pos + size > len(body):
            return None
        out.append(body[pos:pos + size])
        pos += size
    return out


class SSHParser(Parser):
    name = "ssh"

    def __init__(self) -> None:
        self.versions: list[str] = []
        self.hassh: list[str] = []
        self.hassh_server: list[str] = []
        self.keys: list[str] = []
        self.buf = [b"", b""]
        self.calls = [0, 0]
        self.small = [[0, 0], [0, 0]]  # per side: packets under 50 bytes, 50..99 bytes
        self.done = False
        self.done_rs = False
        self.reverse_shell = False

    def data(self, session: Any, data: bytes, direction: int) -> None:
        self.calls[direction] += 1
        if not self.done_rs and self._reverse_shell_window(len(data), direction):
            return
        if self.done:
            return
        if len(data) > 3 and data[:3] == b"SSH":
            self._version(data)
            return  # Arkime drops whatever follows the version line in the same chunk
        room = MAX_BUFFER - len(self.buf[direction])
        self.buf[direction] += data[:room]
        self._packets(direction)

    def _reverse_shell_window(self, size: int, direction: int) -> bool:
        """Arkime's reverse-shell guess over packets 6-15 of each side; True skips this chunk."""
        if self.calls[direction] <= 5:
            return False
        if size < 50:
            self.small[direction][0] += 1
        elif size < 100:
            self.small[direction][1] += 1
        if self.calls[direction] <= 15:
            return False
        client, server = self.small
        if client[1] > client[0] and server[1] > server[0]:
            self.reverse_shell = True
        self.done_rs = True
        return True

    def _version(self, data: bytes) -> None:
        end = data.find(b"\n", 3)
        if end < 0:
            return
        if data[end - 1] == 0x0D:
            end -= 1
        text = data[:end].decode("utf-8", "replace").lower()
        if text not in self.versions:
            self.versions.append(text)

    def _packets(self, direction: int) -> None:
        buf = self.buf[direction]
        while len(buf) > 6:
            size = _U32(buf, 0)[0]
            if size < 2 or size > MAX_BUFFER - 4:
                self.done = True
                break
            if size > len(buf) - 4:
                break
            code = buf[5]
            if code == KEXINIT:
                self._kexinit(buf[6:], direction)
            elif code == KEX_GEX_REPLY:
                self.done = True
                self._host_key(buf[6:])
                break
            buf = buf[4 + size:]
        self.buf[direction] = buf

    def _kexinit(self, body: bytes, direction: int) -> None:
        text = hassh_string(body, server=direction == 1)
        if text is None:
            return
        digest = md5_hex(text)
        target = self.hassh_server if direction == 1 else self.hassh
        if digest not in target:
            target.append(digest)

    def _host_key(self, body: bytes) -> None:
        if len(body) < 4:
            return
        size = _U32(body, 0)[0]
        if size > len(body) - 4:
            return
        key = base64.b64encode(body[4:4 + size]).decode("ascii")
        if key not in self.keys:
            self.keys.append(key)

    def finish(self, session: Any) -> None:
        for path, values in (("ssh.version", self.versions), ("ssh.hassh", self.hassh),
                             ("ssh.hasshServer", self.hassh_server), ("ssh.key", self.keys)):
            if values:
                session.fields[path] = list(values)
        if self.reverse_shell:
            session.add_tag("ssh-reverse-shell")


register(Protocol("ssh", TCP, detect, parser=SSHParser, prefixes=(b"SSH",)))
