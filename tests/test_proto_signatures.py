"""Detection-only signatures (appliance/protocols/signatures.py): corpus agreement and byte-level checks."""

from __future__ import annotations

import json
import os
import random
from typing import Any

import pytest
from sessionkit import attach, converse, new_session

from appliance.protocols import PROTOCOLS, TCP, UDP, AppLayer
from appliance.protocols import signatures as sig

CORPUS = "/work/shared/pcaps/arkime"
MAIL = {"smtp", "imap", "pop3"}
MINE = {s.name for s in sig.SIGS} | set(sig.DCERPC_INTERFACES.values()) | {"cip", "s7comm-plus"}


def my_failures(app: AppLayer) -> dict[str, int]:
    """Failures of this module's detectors and confirmers (other modules are tested elsewhere)."""
    return {k: v for k, v in app.failures.items()
            if k.startswith("signature") or k.removesuffix(" detect") in MINE}


def feed(chunks: list[tuple[int, bytes]], proto: int = 6, port1: int = 40000, port2: int = 80) -> list[str]:
    """``(direction, bytes)`` chunks as packets through the session table and application layer
    (one TCP segment or UDP datagram each); the protocols of the saved session, transport left out."""
    session = converse(chunks, proto, port1, port2)
    return sorted(set(session.protocols) - {"tcp", "udp"})


# --- corpus -----------------------------------------------------------------------------------------

CAPTURES = [
    "modbus", "mongo", "bt-tcp", "bt-udp", "IKEv1", "IKEv2", "nbns", "SNMPv2c_get_requests",
    "snmpv3_synthetic", "dcerpc_synthetic", "ntlm_synthetic", "socks5-rdp", "socks-http-pass",
    "mysql-allow", "postgres-good", "tds7", "tds5", "ldap-simpleauth", "krb5-tcp", "krb5-udp",
    "openvpn_synthetic", "s7comm_synthetic", "opcua_synthetic", "synchrophasor_synthetic",
    "dnp3_synthetic", "c1222", "thrift", "aerospike", "kafka", "cassandra1", "radius", "tftp_rrq",
    "stun-ice-testcall", "wireshark-dtls12", "ftp", "irc", "oracle", "wireshark-smb-on-windows10",
]


def _parse(name: str) -> list[dict[str, Any]]:
    from appliance.documents import document
    from appliance.pipeline import parse_capture
    from appliance.settings import Settings

    docs: list[dict[str, Any]] = []
    parse_capture(os.path.join(CORPUS, name + ".pcap"), Settings(), lambda s: docs.append(document(s)))
    return docs


def _key(doc: dict[str, Any]) -> tuple[Any, ...]:
    src, dst = doc.get("source", {}), doc.get("destination", {})
    return (doc.get("ipProtocol"), src.get("ip"), src.get("port"), dst.get("ip"), dst.get("port"),
            doc.get("firstPacket"))


@pytest.mark.parametrize("name", [c for c in CAPTURES if os.path.exists(os.path.join(CORPUS, c + ".pcap"))])
def test_corpus_protocols_match_arkime(name: str) -> None:
    with open(os.path.join(CORPUS, name + ".test")) as fh:
        expected = [s["body"] for s in json.load(fh)["sessions3"]]
    ours: dict[tuple[Any, ...], list[set[str]]] = {}
    for doc in _parse(name):
        ours.setdefault(_key(doc), []).append(set(doc.get("protocol", [])) & MINE)
    for doc in expected:
        got = ours.get(_key(doc))
        if not got:
            continue  # pairing is the session engine's business
        want = set(doc.get("protocol", [])) & MINE
        mine = got.pop(0)
        if MAIL & set(doc.get("protocol", [])):
            mine, want = mine - {"ntlm"}, want - {"ntlm"}  # the mail parsers name NTLM there
        assert mine == want, (name, _key(doc))


# --- byte-level ---------------------------------------------------------------------------------------


def test_simple_prefixes() -> None:
    assert feed([(0, b"\x13BitTorrent protocol" + bytes(48))]) == ["bittorrent"]
    assert feed([(0, b"d1:ad2:id20:")], proto=17) == ["bittorrent"]
    assert feed([(0, b"*3\r\n$3\r\nSET\r\n")]) == ["redis"]
    assert feed([(1, b"RFB 003.008\n")]) == ["vnc"]


def test_ftp_banner_and_smtp_guard() -> None:
    assert "ftp" in feed([(1, b"220 ProFTPD Server ready\r\n"), (0, b"USER anonymous\r\n")])
    # a banner that does not say SMTP, but the client greets like a mail client
    assert "ftp" not in feed([(1, b"220 mail.example.com Postfix\r\n"), (0, b"EHLO me\r\n")])
    assert "ftp" not in feed([(1, b"220 mail.example.com ESMTP\r\n")])


def test_ftp_login_names_the_user_and_tags_the_password() -> None:
    """ftp.c: USER fills the general ``user`` field (lowercased), PASS with a value tags
    ftp:password; split lines, blank arguments and a flood without newlines are harmless."""
    session = converse([(1, b"220 ProFTPD Server ready\r\n"), (0, b"  user Anon"), (0, b"ymous \r\n"),
                        (1, b"331 ok\r\n"), (0, b"PASS secret\r\n"), (0, b"USER later\r\n")], port2=21)
    assert session.fields["user"] == ["anonymous"] and session.tags == ["ftp:password"]
    session = converse([(1, b"220 ready\r\n"), (0, b"USER \r\nPASS\r\nSYST\r\n")], port2=21)
    assert "user" not in session.fields and not session.tags and "ftp" in session.protocols
    session = converse([(1, b"220 ready\r\n")] + [(0, b"A" * 1400)] * 8 + [(0, b"\r\nUSER x\r\n")], port2=21)
    assert "user" not in session.fields and "ftp" in session.protocols  # gave up after 4 KB


def test_socks5_names_after_server_accepts_and_classifies_tunnel() -> None:
    chunks = [(0, b"\x05\x01\x00"), (1, b"\x05\x00"),
              (0, b"\x05\x01\x00\x01\x0a\x00\x00\x01\x00\x50"), (1, b"\x05\x00\x00\x01" + bytes(6)),
              (0, b"\x13BitTorrent protocol" + bytes(48))]
    assert feed(chunks, port2=1080) == ["bittorrent", "socks"]
    assert "socks" not in feed([(0, b"\x05\x01\x00"), (1, b"\xff\xff")], port2=1080)
    assert "socks" not in feed([(0, b"\x05\x01\x00")], port2=1080)


def test_socks4() -> None:
    request = b"\x04\x01\x00\x50\x0a\x00\x00\x01user\x00"
    assert feed([(0, request), (1, b"\x00\x5a" + bytes(6))]) == ["socks"]
    assert feed([(0, request), (1, b"\x00\x00" + bytes(6))]) == []


def test_mysql_needs_login_packet() -> None:
    greeting = b"\x4a\x00\x00\x00\x0a5.7.1-log\x00" + bytes(60)
    login = bytes([60, 0, 0, 1]) + bytes(32) + b"root\x00" + bytes(24)
    assert feed([(1, greeting), (0, login)], port2=3306) == ["mysql"]
    assert feed([(1, greeting), (0, b"\x01\x00\x00\x01\x01")], port2=3306) == []


def test_s7comm_confirmed_by_data_pdu() -> None:
    connect = b"\x03\x00\x00\x16\x11\xe0\x00\x00\x00\x01\x00\xc1\x02\x01\x00\xc2\x02\x01\x02\xc0\x01\x0a"
    data = b"\x03\x00\x00\x19\x02\xf0\x80\x32\x01" + bytes(16)
    plus = b"\x03\x00\x00\x0c\x02\xf0\x80\x72\x01\x00\x00\x00"
    assert feed([(0, connect)], port2=102) == []
    assert feed([(0, connect), (0, data)], port2=102) == ["s7comm"]
    assert feed([(0, connect), (0, data), (1, plus)], port2=102) == ["s7comm", "s7comm-plus"]


def test_dcerpc_bind_names_interface() -> None:
    uuid = bytes.fromhex("78573412341 2cdab ef00 0123456789ab".replace(" ", ""))
    context = b"\x00\x00\x01\x00" + uuid + b"\x00\x00\x00\x00" + bytes(20)
    body = b"\xb8\x10\xb8\x10\x00\x00\x00\x00\x01\x00\x00\x00" + context
    header = b"\x05\x00\x0b\x03\x10\x00\x00\x00" + (16 + len(body)).to_bytes(2, "little") + bytes(6)
    assert feed([(0, header + body)], port2=135) == ["dcerpc", "lsarpc"]


def test_enip_and_cip() -> None:
    register = b"\x65\x00\x04\x00" + bytes(20) + b"\x01\x00\x00\x00"
    cpf = b"\x00\x00\x00\x00\x00\x00\x02\x00" + b"\x00\x00\x00\x00" + b"\xb2\x00\x06\x00\x0e\x03\x20\x01\x24\x01"
    send = b"\x6f\x00" + len(cpf).to_bytes(2, "little") + bytes(20) + cpf
    assert feed([(0, register)], port2=44818) == ["enip"]
    assert feed([(0, register), (0, send)], port2=44818) == ["cip", "enip"]


def test_ntlm_in_ldap_and_http() -> None:
    bind = b"0K\x02\x01\x01`F\x02\x01\x03\x04\x00\xa3?\x04\x04NTLM\x047NTLMSSP\x00\x01\x00\x00\x00" + bytes(40)
    assert feed([(0, bind)], port2=389) == ["ldap", "ntlm"]
    http = b"GET / HTTP/1.1\r\nAuthorization: NTLM TlRMTVNTUAABAAAAB4IIog==\r\n\r\n"
    assert "ntlm" in feed([(0, http)])
    assert "ntlm" not in feed([(0, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")])


def test_port_gated_udp() -> None:
    radius = b"\x01\x01\x00\x14" + bytes(16)
    assert feed([(0, radius)], proto=17, port2=1812) == ["radius"]
    assert feed([(0, radius)], proto=17, port2=9999) == []
    snmp = bytes.fromhex("302402010104067075626c6963a017020101020100020100300d06092b060102010101000500")
    assert feed([(0, snmp)], proto=17, port2=161) == ["snmp"]
    bad_version = bytes.fromhex("301802010204067075626c6963a00b0201010201000201003000")
    assert feed([(0, bad_version)], proto=17, port2=161) == []


def test_truncated_inputs_do_not_match() -> None:
    for protocol in PROTOCOLS:
        if protocol.name not in MINE:
            continue
        for size in range(0, 4):
            session = new_session(17 if protocol.transports == UDP else 6, 1, 2)
            assert protocol.detect(session, b"\x00" * size, 0) in (False, True)


def test_hostile_bytes_never_raise() -> None:
    rng = random.Random(7)
    ports = [80, 102, 135, 137, 138, 161, 179, 389, 445, 500, 502, 1080, 1812, 3306, 5353, 44818]
    for _ in range(3000):
        proto = rng.choice((6, 17))
        session = new_session(proto, rng.choice(ports), rng.choice(ports))
        first = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80)))
        app = AppLayer()
        app.data(session, first, 0)
        for _ in range(3):
            app.data(session, bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300))), rng.randrange(2))
        assert not my_failures(app)


def test_prefixed_hostile_bytes_never_raise() -> None:
    """Every registered prefix followed by junk and absurd lengths."""
    rng = random.Random(11)
    for entry in sig.SIGS:
        for prefix in entry.prefixes or (b"",):
            for _ in range(20):
                junk = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
                data = bytes(entry.offset) + prefix + junk
                session = new_session(17 if entry.transports == UDP else 6, 1, (entry.ports or (2,))[0])
                app = AppLayer()
                app.data(session, data, 0)
                app.data(session, b"\xff" * 40 + junk, 1)
                app.data(session, b"\xff\xff\xff\xff" * 20, 0)
                assert not my_failures(app), entry.name


def test_confirmer_buffers_are_bounded() -> None:
    confirmer = sig.DceRpcNames()
    session = new_session(6, 1, 135)
    attach(session, confirmer)
    # a PDU header claiming 8192 bytes, then endless filler: the buffer must stay bounded
    confirmer.data(session, b"\x05\x00\x0b\x03\x10\x00\x00\x00\x00\x20" + bytes(6), 0)
    for _ in range(100):
        confirmer.data(session, bytes(4096), 0)
    assert len(confirmer.buf[0]) <= sig.MAX_BUFFER


def test_asn_tlv_reader() -> None:
    assert sig.asn_tlv(b"\x30\x03\x02\x01\x05", 0) == (1, 16, 2, 3)
    assert sig.asn_tlv(b"\x30\x84\x00\x00\x10\x00\x02", 0) == (1, 16, 6, 1)  # cut to what is there
    assert sig.asn_tlv(b"\x30", 0) is None
    assert sig.asn_tlv(b"\x30\x85\x00\x00\x00\x00\x00", 0) is None
    assert sig.asn_tlv(b"\x7f\x81\x02\x00", 0) == (1, 130, 4, 0)


def test_every_signature_registered_once_per_transport() -> None:
    names = {(p.name, p.transports) for p in PROTOCOLS}
    for entry in sig.SIGS:
        assert (entry.name, entry.transports) in names
    assert all(entry.transports in (TCP, UDP, TCP | UDP) for entry in sig.SIGS)


def test_starttls_inside_ldap_and_adb_is_classified() -> None:
    hello = b"\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03" + bytes(40)
    starttls = b"0\x1d\x02\x01\x01w\x18\x80\x161.3.6.1.4.1.1466.20037"
    protocols = feed([(0, starttls), (0, hello)], port2=389)
    assert "ldap" in protocols
    stls = b"STLS\x00\x00\x00\x01" + bytes(12) + bytes.fromhex("acabb3ac")
    cnxn = b"CNXN\x01\x00\x00\x01\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00" + bytes.fromhex("bcb1a7b1")
    assert "adb" in feed([(0, cnxn), (0, stls), (0, hello)], port2=5555)


@pytest.mark.parametrize("marker", [b"NTLMSSP\x00\x01\x00\x00\x00", b"TlRMTVNTUAABAAAA"])
def test_ntlm_marker_split_across_chunks_is_found(marker: bytes) -> None:
    """A marker cut at any point between two chunks (even a one-byte chunk between) is still
    found: the scan keeps the end of a chunk that could begin one, and nothing otherwise. (RPC
    over HTTP carries it; HTTP's own logins are read from their headers by the HTTP parser.)"""
    request = b"RPC_IN_DATA /rpc/rpcproxy.dll HTTP/1.1\r\nAuthorization: NTLM "
    for cut in range(1, len(marker)):
        chunks = [(0, request + marker[:cut]), (0, marker[cut:] + b"\r\n\r\n")]
        assert "ntlm" in feed(chunks), cut
        chunks = [(0, request + marker[:cut - 1]), (0, marker[cut - 1:cut]), (0, marker[cut:] + b"\r\n\r\n")]
        assert "ntlm" in feed(chunks), cut
    assert sig._seam(b"...NT") == b"NT" and sig._seam(b"xxxxxxxxxxxTlRMT") == b"TlRMT"
    assert sig._seam(b"\r\n\r\n") == b"" and sig._seam(b"TOTAL: N") == b"N"
