"""TLS and certificates inside other protocols: OpenVPN, IKE, OPC UA; and HTTP/2 detection.

Real captures through the pipeline, built messages fed to the parsers directly, and truncated or
hostile input that must never raise.
"""

from __future__ import annotations

import datetime
import random
import struct
from typing import Any

import pytest
from conftest import corpus_sessions
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sessionkit import attach, converse, finish, flat_document, new_session

from appliance.protocols import http2, ike, opcua, openvpn
from appliance.sessions import Session


def vpn_session(proto: int = 17, port1: int = 40000, port2: int = 500) -> Session:
    """A real session (UDP to the IKE port unless told otherwise)."""
    return new_session(proto, port1, port2)


def run(session: Session, parser: Any, chunks: list[tuple[bytes, int]]) -> dict[str, Any]:
    """Attach ``parser`` as detection would, feed it ``(bytes, direction)`` chunks, then finish."""
    attach(session, parser)
    for data, direction in chunks:
        parser.data(session, data, direction)
    return finish(session)


def make_cert(cn: str = "vpn.example") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(0x1234)
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=10))
            .sign(key, hashes.SHA256()).public_bytes(Encoding.DER))


# --- real captures --------------------------------------------------------------------------------
def test_capture_openvpn_udp_and_tcp() -> None:
    sessions = [s for s in corpus_sessions("openvpn_synthetic") if "openvpn" in s.protocols]
    assert len(sessions) == 4
    for session in sessions:
        assert "tls" not in session.protocols  # Arkime names only the carrier
        assert session.fields["tls.cipher"] == ["TLS_RSA_WITH_AES_128_CBC_SHA"]
        assert session.fields["http.host"] == ["arkime.test"]
        assert session.fields["cert"][0]["subjectCN"] == ["arkime.test"]
        letter = "t" if session.proto == 6 else "q"
        assert session.fields["tls.ja4"] == [letter + "12d030200_f81807f6db74_b9a491fefe05"]


def test_capture_ike_certificates() -> None:
    sessions = [s for s in corpus_sessions("ike-cert_synthetic") if "isakmp" in s.protocols]
    cns = sorted(c["subjectCN"][0] for s in sessions for c in s.fields.get("cert", []))
    assert cns == ["ikev1-ipv6.example.com", "ikev1.example.com", "ikev2-ipv6.example.com",
                   "ikev2.example.com"]
    natt = [s for s in sessions if 4500 in (s.port1, s.port2)]
    assert natt and natt[0].fields["isakmp.initiatorSpi"] == ["1111111111111111"]


def test_capture_ike_proposals() -> None:
    (v1,) = [s for s in corpus_sessions("IKEv1") if "isakmp" in s.protocols]
    assert v1.fields["isakmp.authMethod"] == ["psk"]
    assert set(v1.fields["isakmp.vendorId"]) >= {"dpd", "ikev2"}
    (v2,) = [s for s in corpus_sessions("IKEv2") if "isakmp" in s.protocols]
    assert v2.fields["isakmp.encryption"] == ["aes-cbc"]
    assert v2.fields["isakmp.hash"] == ["prf-hmac-sha2-512"]
    assert v2.fields["isakmp.dhGroup"] == ["ecp384"]


def test_capture_opcua() -> None:
    sessions = [s for s in corpus_sessions("opcua_synthetic") if "opcua" in s.protocols]
    urls = {u for s in sessions for u in s.fields.get("opcua.endpointUrl", [])}
    assert "opc.tcp://hostA.example:4840/" in urls
    cns = {c["subjectCN"][0] for s in sessions for c in s.fields.get("cert", [])}
    assert cns == {"opcua-synthetic-client", "opcua-synthetic-a"}


def test_capture_http2_prior_knowledge() -> None:
    sessions = corpus_sessions("http2-nghttp2")
    assert any("http2" in s.protocols and "http" in s.protocols for s in sessions)


# --- OpenVPN --------------------------------------------------------------------------------------
def _control(payload: bytes, hmac: int = 0, acks: int = 0) -> bytes:
    """A P_CONTROL_V1 record (opcode 4, key id 0)."""
    head = b"\x20" + b"S" * 8 + (b"H" * hmac + bytes(8) if hmac else b"")
    ack = bytes([acks]) + b"\x00\x00\x00\x01" * acks + (b"R" * 8 if acks else b"")
    return head + ack + b"\x00\x00\x00\x02" + payload


def _reset(hmac: int = 0) -> bytes:
    return b"\x38" + b"S" * 8 + (b"H" * hmac + bytes(8) if hmac else b"") + bytes(5)


def _tls_record(kind: int, body: bytes) -> bytes:
    message = bytes([kind]) + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack(">H", len(message)) + message


def _cert_body(der: bytes) -> bytes:
    entry = len(der).to_bytes(3, "big") + der
    return len(entry).to_bytes(3, "big") + entry


@pytest.mark.parametrize("hmac", [0, 16, 20, 32, 64])
def test_openvpn_udp_detect_and_certificate_split_over_packets(hmac: int) -> None:
    reset = _reset(hmac)
    session = vpn_session(proto=17)
    assert openvpn._detect_udp(session, reset, 0)
    stream = _tls_record(11, _cert_body(make_cert()))
    chunks = [(reset, 0)] + [(_control(stream[i:i + 100], hmac, acks=i % 2), 1)
                             for i in range(0, len(stream), 100)]
    fields = run(session, openvpn.OpenVpnParser(), chunks)
    assert fields["cert"][0]["subjectCN"] == ["vpn.example"]


def test_openvpn_tcp_framing_across_chunks() -> None:
    reset = _reset(20)
    der = make_cert()
    wire = b"".join(struct.pack(">H", len(r)) + r
                    for r in (reset, _control(_tls_record(11, _cert_body(der)), 20)))
    session = vpn_session(proto=6)
    assert openvpn._detect_tcp(session, wire, 0)
    chunks = [(wire[i:i + 7], 0) for i in range(0, len(wire), 7)]
    assert run(session, openvpn.OpenVpnParser(), chunks)["cert"][0]["subjectCN"] == ["vpn.example"]


def test_openvpn_rejects_near_misses() -> None:
    session = vpn_session()
    assert not openvpn._detect_udp(session, _reset()[:-1] + b"\x01", 0)  # packet id not zero
    assert not openvpn._detect_udp(session, _reset() + b"\x00", 0)  # not a known size
    assert not openvpn._detect_tcp(session, b"\x00\x0e\x38", 0)
    assert openvpn.control_payload(b"\x20\x00", 0) is None


def test_openvpn_stops_at_data_packets_and_non_handshake_records() -> None:
    parser = openvpn.OpenVpnParser()
    session = vpn_session(port2=1194)
    run(session, parser, [(_reset(), 0), (b"\x30" + bytes(20), 0),
                         (_control(_tls_record(11, _cert_body(make_cert()))), 1)])
    assert parser.done and "cert" not in session.fields
    parser = openvpn.OpenVpnParser()
    run(vpn_session(port2=1194), parser, [(_reset(), 0), (_control(b"\x17\x03\x03\x00\x01x"), 1)])
    assert parser.done


# --- IKE ------------------------------------------------------------------------------------------
def _isakmp(payloads: list[tuple[int, bytes]], version: int = 0x10, exchange: int = 2,
            flags: int = 0) -> bytes:
    body = b""
    for i, (_kind, data) in enumerate(payloads):
        following = payloads[i + 1][0] if i + 1 < len(payloads) else 0
        body += bytes([following, 0]) + struct.pack(">H", 4 + len(data)) + data
    first = payloads[0][0] if payloads else 0
    return (b"\x11" * 8 + b"\x22" * 8 + bytes([first, version, exchange, flags]) + bytes(4)
            + struct.pack(">I", 28 + len(body)) + body)


def test_ike_v1_cert_and_vendor() -> None:
    der = make_cert("ike.example")
    msg = _isakmp([(13, bytes.fromhex("afcad71368a1f1c9") + bytes(8)), (6, b"\x04" + der),
                   (13, b"\xee" * 20)])
    session = vpn_session()
    assert ike._detect(session, msg, 0)
    fields = run(session, ike.IkeParser(), [(msg, 0)])
    assert fields["cert"][0]["subjectCN"] == ["ike.example"]
    assert fields["isakmp.vendorId"] == ["dpd", "ee" * 16]
    assert fields["isakmp.exchangeType"] == ["identity-protection"]
    assert fields["isakmp.responderSpi"] == ["22" * 8]


def test_ike_v1_proposal_attributes() -> None:
    attrs = struct.pack(">HHHHHHHH", 0x8001, 7, 0x8002, 4, 0x8003, 3, 0x8004, 14)
    transform = b"\x01\x01\x00\x00" + attrs
    proposal = b"\x01\x01\x00\x01" + bytes([0, 0]) + struct.pack(">H", 4 + len(transform)) + transform
    sa = struct.pack(">II", 1, 1) + bytes([0, 0]) + struct.pack(">H", 4 + len(proposal)) + proposal
    fields = run(vpn_session(), ike.IkeParser(), [(_isakmp([(1, sa)]), 0)])
    assert fields["isakmp.encryption"] == ["aes-cbc"]
    assert fields["isakmp.hash"] == ["sha2-256"]
    assert fields["isakmp.authMethod"] == ["rsa-sig"]
    assert fields["isakmp.dhGroup"] == ["modp2048"]


def test_ike_encrypted_payloads_are_skipped_and_natt_marker_required() -> None:
    msg = _isakmp([(6, b"\x04" + make_cert())], version=0x20, exchange=35, flags=0x08)
    fields = run(vpn_session(), ike.IkeParser(), [(msg, 0)])
    assert "cert" not in fields and fields["isakmp.version"] == ["2.0"]
    natt = vpn_session(port2=4500)
    assert not ike._detect(natt, msg, 0)  # ESP, not IKE, without the zero marker
    assert ike._detect(natt, bytes(4) + msg, 0)
    assert not ike._detect(vpn_session(), _isakmp([], version=0x30), 0)
    assert not ike._detect(vpn_session(), _isakmp([], exchange=10), 0)


# --- OPC UA ---------------------------------------------------------------------------------------
def _ua(kind: bytes, body: bytes) -> bytes:
    return kind + b"F" + struct.pack("<I", 8 + len(body)) + body


def _ua_string(data: bytes | None) -> bytes:
    return struct.pack("<i", -1) if data is None else struct.pack("<i", len(data)) + data


def test_opcua_hello_and_open_channel() -> None:
    der = make_cert("ua.example")
    hello = _ua(b"HEL", bytes(20) + _ua_string(b"opc.tcp://ua.example:4840/"))
    opn = _ua(b"OPN", b"\x01\x00\x00\x00" + _ua_string(b"http://opcfoundation.org/UA/SecurityPolicy#X")
              + _ua_string(der) + _ua_string(None))
    session = vpn_session(proto=6)
    assert opcua._detect(session, hello, 0)
    stream = hello + opn
    fields = run(session, opcua.OpcUaParser(), [(stream[i:i + 50], 0) for i in range(0, len(stream), 50)])
    assert fields["opcua.endpointUrl"] == ["opc.tcp://ua.example:4840/"]
    assert fields["opcua.securityPolicyUri"] == ["http://opcfoundation.org/UA/SecurityPolicy#X"]
    assert fields["cert"][0]["subjectCN"] == ["ua.example"]


def test_opcua_null_policy_and_bad_header() -> None:
    assert opcua.open_channel(_ua(b"OPN", bytes(4) + _ua_string(None) + _ua_string(None))) == (None, None)
    assert opcua.hello_url(_ua(b"HEL", bytes(8))) is None
    assert not opcua._detect(vpn_session(proto=6), b"HELF\x04\x00\x00\x00", 0)  # length below 8
    parser = opcua.OpcUaParser()
    run(vpn_session(proto=6), parser, [(b"XYZF\x10\x00\x00\x00" + bytes(8), 0)])
    assert parser.done


# --- HTTP/2 ---------------------------------------------------------------------------------------
def test_http2_preface() -> None:
    assert http2._detect(vpn_session(proto=6), http2.PREFACE + b"\x00\x00\x00\x04", 0)
    assert not http2._detect(vpn_session(proto=6), b"PRI * HTTP/1.1\r\n", 0)


# --- the whole packet path: packets -> session table -> detection -> parsers -> document ----------
def test_openvpn_udp_through_the_session_table() -> None:
    stream = _tls_record(11, _cert_body(make_cert()))
    chunks = [(0, _reset(16))] + [(1, _control(stream[i:i + 100], 16)) for i in range(0, len(stream), 100)]
    doc = flat_document(converse(chunks, proto=17, port2=1194))
    assert "openvpn" in doc["protocol"] and "tls" not in doc["protocol"]
    assert doc["cert"][0]["subjectCN"] == ["vpn.example"]


def test_ike_through_the_session_table_and_nat_traversal() -> None:
    msg = _isakmp([(13, bytes.fromhex("afcad71368a1f1c9") + bytes(8)), (6, b"\x04" + make_cert("ike.example"))])
    doc = flat_document(converse([(0, msg)], proto=17, port1=500, port2=500))
    assert "isakmp" in doc["protocol"] and doc["isakmp.vendorId"] == ["dpd"]
    assert doc["cert"][0]["subjectCN"] == ["ike.example"]
    doc = flat_document(converse([(0, bytes(4) + msg)], proto=17, port1=4500, port2=4500))
    assert "isakmp" in doc["protocol"] and doc["isakmp.initiatorSpi"] == ["11" * 8]


def test_opcua_through_the_session_table() -> None:
    hello = _ua(b"HEL", bytes(20) + _ua_string(b"opc.tcp://ua.example:4840/"))
    doc = flat_document(converse([(0, hello)], port2=4840))
    assert "opcua" in doc["protocol"] and doc["opcua.endpointUrl"] == ["opc.tcp://ua.example:4840/"]


def test_http2_prior_knowledge_through_the_session_table() -> None:
    session = converse([(0, http2.PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")], port2=8080)
    assert "http2" in session.protocols


# --- hostile input --------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_never_raise(seed: int) -> None:
    rng = random.Random(seed)
    for make, proto in ((openvpn.OpenVpnParser, 17), (openvpn.OpenVpnParser, 6), (ike.IkeParser, 17),
                        (opcua.OpcUaParser, 6)):
        session = vpn_session(proto=proto, port2=rng.choice((500, 4500)))
        parser = make()
        chunks = [(bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300))), rng.randrange(2))
                  for _ in range(10)]
        # Seed each with a valid opening so the deeper paths run on garbage.
        opening = {openvpn.OpenVpnParser: _reset() if proto == 17 else b"\x00\x0e" + _reset(),
                   ike.IkeParser: _isakmp([]), opcua.OpcUaParser: _ua(b"HEL", bytes(24))}[make]
        run(session, parser, [(opening, 0)] + chunks)
        for data, direction in chunks:
            for detect in (openvpn._detect_udp, openvpn._detect_tcp, ike._detect, opcua._detect,
                           http2._detect):
                detect(session, data, direction)


def test_absurd_lengths_are_bounded() -> None:
    # A TCP OpenVPN record claiming 65535 bytes, an OPC UA message of 16 MiB, an IKE payload
    # longer than its datagram: buffers stay bounded and nothing is read past the data.
    vpn = openvpn.OpenVpnParser()
    run(vpn_session(proto=6), vpn, [(b"\x00\x0e" + _reset(), 0)] + [(b"\xff\xff" + bytes(4000), 1)] * 20)
    assert all(len(b) <= openvpn.BUF_MAX for b in vpn.frames)
    ua = opcua.OpcUaParser()
    run(vpn_session(proto=6), ua, [(b"HELF" + struct.pack("<I", 16 << 20), 0)])
    assert ua.done
    huge = _isakmp([(6, b"\x04" + bytes(10))])
    huge = huge[:30] + b"\xff\xff" + huge[32:]
    assert "cert" not in run(vpn_session(), ike.IkeParser(), [(huge, 0)])
    opn = _ua(b"OPN", bytes(4) + struct.pack("<i", 1 << 30) + bytes(10))
    assert opcua.open_channel(opn) == (None, None)
