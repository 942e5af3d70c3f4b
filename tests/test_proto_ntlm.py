"""NTLMSSP messages (appliance/protocols/ntlm.py): Arkime's ntlm fields and user, from every
carrier in the corpus, and from well-formed, truncated and hostile messages."""

from __future__ import annotations

import base64
import json
import os
import random
import struct
from typing import Any

import pytest
from sessionkit import converse, new_session

from appliance.protocols import ntlm

CORPUS = "/work/shared/pcaps/arkime"
needs_pcaps = pytest.mark.skipif(not os.path.isdir(CORPUS), reason="Arkime test captures not present")


def _buffer(payload: bytes, at: int) -> bytes:
    return struct.pack("<HHI", len(payload), len(payload), at)


def negotiate(domain: bytes = b"DOM", host: bytes = b"HOST", version: bytes = b"\x0a\x00\x61\x4a\0\0\0\x0f") -> bytes:
    flags = 0x02000000 | 0x3000
    start = 40
    return (ntlm.MAGIC + struct.pack("<II", 1, flags) + _buffer(domain, start)
            + _buffer(host, start + len(domain)) + version + domain + host)


def challenge(target: str = "TARGET", unicode: bool = True) -> bytes:
    flags = 0x02000000 | (1 if unicode else 0)
    name = target.encode("utf-16-le" if unicode else "ascii")
    start = 56
    return (ntlm.MAGIC + struct.pack("<I", 2) + _buffer(name, start) + struct.pack("<I", flags) + bytes(8)
            + bytes(8) + _buffer(b"", start + len(name)) + b"\x06\x01\xb1\x1d\0\0\0\x0f" + name)


def authenticate(domain: str = "Dom", user: str = "Alice", host: str = "WS1", unicode: bool = True,
                 version: bool = True) -> bytes:
    enc = "utf-16-le" if unicode else "ascii"
    parts = [b"\x01" * 24, b"\x02" * 24, domain.encode(enc), user.encode(enc), host.encode(enc), b""]
    start = 88 if version else 64
    buffers, body, at = b"", b"", start
    for part in parts:
        buffers += _buffer(part, at)
        body += part
        at += len(part)
    flags = (1 if unicode else 0) | (0x02000000 if version else 0)
    head = ntlm.MAGIC + struct.pack("<I", 3) + buffers + struct.pack("<I", flags)
    if version:
        head += b"\x0a\x00\x4a\x61\0\0\0\x0f" + bytes(16)  # version, MIC
    assert len(head) == start
    return head + body


def fields_of(*messages: bytes) -> dict[str, Any]:
    session = new_session()
    for message in messages:
        ntlm.record(session, message)
    return dict(session.fields)


def test_a_login_of_three_messages() -> None:
    got = fields_of(negotiate(), challenge(), authenticate())
    assert got == {"ntlm.type": [1, 2, 3], "ntlm.domain": ["DOM", "Dom"], "ntlm.host": ["HOST", "WS1"],
                   "ntlm.version": ["10.0.19041", "6.1.7601", "10.0.24906"], "ntlm.targetName": ["TARGET"],
                   "user": ["Alice"]}  # an NTLM user keeps its case, as Arkime keeps it


def test_oem_names_and_no_version() -> None:
    got = fields_of(challenge("LAB", unicode=False), authenticate("LAB", "Administrator", "PC", False, False))
    assert got["ntlm.targetName"] == ["LAB"] and got["user"] == ["Administrator"]
    assert got["ntlm.version"] == ["6.1.7601"]  # the challenge's; the authenticate message has none


def test_a_version_flag_without_room_for_one_is_not_a_version() -> None:
    """Clients that set the version flag but start their names at offset 32 (no version there)."""
    message = negotiate(version=b"")
    message = message[:16] + _buffer(b"DOM", 32) + _buffer(b"HOST", 35) + b"DOMHOST"
    assert "ntlm.version" not in fields_of(message)


def test_truncated_and_damaged_messages_never_raise() -> None:
    """Every prefix of each message, random byte damage, and buffers pointing anywhere: fields
    that can be read are, nothing else, and no exception."""
    rnd = random.Random(5)
    for whole in (negotiate(), challenge(), authenticate(), authenticate(unicode=False, version=False)):
        for cut in range(len(whole)):
            fields_of(whole[:cut])
        for _ in range(300):
            damaged = bytearray(whole)
            for _ in range(rnd.randint(1, 6)):
                damaged[rnd.randrange(8, len(damaged))] = rnd.randrange(256)
            fields_of(bytes(damaged))
    hostile = ntlm.MAGIC + struct.pack("<I", 3) + struct.pack("<HHI", 0xFFFF, 0xFFFF, 0xFFFFFFF0) * 6 + bytes(8)
    assert fields_of(hostile) == {"ntlm.type": [3]}
    assert fields_of(ntlm.MAGIC + struct.pack("<I", 9) + bytes(64)) == {}  # not a type this reads
    assert fields_of(b"NTLMSSP") == {} and fields_of(b"") == {}


def test_carriers_raw_and_base64_and_bounded_lists() -> None:
    session = new_session()
    header = b"Authorization: NTLM " + base64.b64encode(authenticate()).rstrip(b"=") + b"\r\n"
    assert ntlm.record_all(session, b"junk" + negotiate()) == 1
    assert ntlm.record_all(session, b"GET / HTTP/1.1\r\n" + header) == 3
    assert session.fields["user"] == ["Alice"]
    for n in range(40):
        ntlm.record(session, authenticate(user=f"user{n}"))
    assert len(session.fields["user"]) == 16
    assert ntlm.record_all(new_session(), b"TlRMTVNTUA!!!" + b"TlRMTVNTUA") == 0


def test_http_ntlm_login_through_the_session_table() -> None:
    def http(message: bytes, request: bool) -> bytes:
        text = base64.b64encode(message)
        if request:
            return b"GET / HTTP/1.1\r\nHost: nas\r\nAuthorization: NTLM " + text + b"\r\n\r\n"
        return b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM " + text + b"\r\nContent-Length: 0\r\n\r\n"

    session = converse([(0, http(negotiate(), True)), (1, http(challenge(), False)),
                        (0, http(authenticate(user="bob"), True)), (1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")])
    assert "ntlm" in session.protocols and session.fields["user"] == ["bob"]
    assert session.fields["ntlm.type"] == [1, 2, 3] and session.fields["ntlm.targetName"] == ["TARGET"]


def test_http_reads_ntlm_from_its_authentication_headers_only() -> None:
    """The HTTP parser reads a login from Authorization / WWW-Authenticate and their proxy
    forms. A body that only mentions the base64 marker is not a login (the byte scan that used
    to ride along every HTTP session named it ntlm). RPC over HTTP is still scanned."""
    def proxied(message: bytes, request: bool) -> bytes:
        text = base64.b64encode(message)
        if request:
            return b"GET http://nas/ HTTP/1.1\r\nHost: nas\r\nProxy-Authorization: NTLM " + text + b"\r\n\r\n"
        # The authentication header last: it must not be taken for the body's framing.
        return (b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\nProxy-Authenticate: NTLM "
                + text + b"\r\n\r\n")

    session = converse([(0, proxied(negotiate(), True)), (1, proxied(challenge(), False)),
                        (0, proxied(authenticate(user="carol"), True))])
    assert "ntlm" in session.protocols and session.fields["user"] == ["carol"]
    assert session.fields["ntlm.type"] == [1, 2, 3]
    page = b"<p>An NTLM message starts TlRMTVNTUAAB in base64</p>"
    session = converse([(0, b"GET /doc HTTP/1.1\r\nHost: wiki\r\n\r\n"),
                        (1, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(page) + page)])
    assert "http" in session.protocols and "ntlm" not in session.protocols
    rpc = b"RPC_IN_DATA /rpc/rpcproxy.dll HTTP/1.1\r\nHost: mail\r\n\r\n" + bytes(16) + negotiate()
    assert "ntlm" in converse([(0, rpc)], port2=443).protocols


@needs_pcaps
def test_corpus_fields_match_arkime() -> None:
    """ntlm_synthetic carries NTLM in SMB, HTTP, LDAP, DCE/RPC, SMTP, IMAP, POP3 and TDS: each
    session's domain, host, target name, types and user are Arkime's (its types as numbers)."""
    from appliance.documents import document
    from appliance.pipeline import parse_capture
    from appliance.settings import Settings

    with open(os.path.join(CORPUS, "ntlm_synthetic.test")) as fh:
        expected = {s["body"]["source"]["port"]: s["body"] for s in json.load(fh)["sessions3"]}
    docs: list[dict[str, Any]] = []
    parse_capture(os.path.join(CORPUS, "ntlm_synthetic.pcap"), Settings(), lambda s: docs.append(document(s)))
    assert len(docs) == len(expected) == 14
    for doc in docs:
        want, got = expected[doc["source"]["port"]], doc
        for key in ("domain", "host", "targetName", "version"):
            assert set(got.get("ntlm", {}).get(key, [])) == set(want.get("ntlm", {}).get(key, [])), (key, want)
        assert set(got["ntlm"]["type"]) == {int(t) for t in want["ntlm"]["type"]}
        assert got.get("user") == want.get("user")
