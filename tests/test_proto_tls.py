"""TLS, DTLS and certificate parsing: real captures, built handshakes, truncated and hostile input."""

from __future__ import annotations

import datetime
import random
import struct
from typing import Any

from conftest import corpus_sessions
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sessionkit import attach, converse, finish, flat_document, new_session

from appliance.protocols import _tls_hello as hello_mod
from appliance.protocols import certs, tls
from appliance.sessions import Session


def tls_session(proto: int = 6) -> Session:
    """A real session from a client to port 443 (TCP unless ``proto`` says otherwise)."""
    return new_session(proto, 40000, 443)


def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack(">HH", kind, len(body)) + body


def client_hello(sni: bytes = b"example.com", ciphers: tuple[int, ...] = (0x0A0A, 0x1301, 0xC02F),
                 alpn: bytes = b"h2") -> bytes:
    """A ClientHello body (after the handshake header)."""
    name = b"\x00" + struct.pack(">H", len(sni)) + sni
    exts = _ext(0x0A0A, b"")  # GREASE
    exts += _ext(0, struct.pack(">H", len(name)) + name)
    exts += _ext(10, struct.pack(">H", 4) + struct.pack(">HH", 0x1D, 0x17))
    exts += _ext(11, b"\x01\x00")
    exts += _ext(13, struct.pack(">H", 4) + struct.pack(">HH", 0x0403, 0x0804))
    exts += _ext(16, struct.pack(">H", len(alpn) + 1) + bytes([len(alpn)]) + alpn)
    exts += _ext(43, b"\x04\x03\x04\x03\x03")
    body = b"\x03\x03" + bytes(32) + b"\x20" + b"\x11" * 32
    body += struct.pack(">H", 2 * len(ciphers)) + b"".join(struct.pack(">H", c) for c in ciphers)
    body += b"\x01\x00" + struct.pack(">H", len(exts)) + exts
    return body


def server_hello(version: int = 0x0303, cipher: int = 0x1301, tls13: bool = True) -> bytes:
    exts = _ext(43, b"\x03\x04") if tls13 else _ext(0xFF01, b"\x00")
    return (struct.pack(">H", version) + bytes(32) + b"\x20" + b"\x22" * 32 + struct.pack(">H", cipher)
            + b"\x00" + struct.pack(">H", len(exts)) + exts)


def handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def record(payload: bytes, version: bytes = b"\x03\x01") -> bytes:
    return b"\x16" + version + struct.pack(">H", len(payload)) + payload


def make_cert(cn: str = "Test.Example", issuer_cn: str | None = None, ca: bool = False) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Org")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn or cn),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Org")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(0x1234abcd)
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=365))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName("A.example"), x509.DNSName("b.example")]),
                              critical=False))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                        critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def cert_message(*ders: bytes) -> bytes:
    entries = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    return len(entries).to_bytes(3, "big") + entries


# --- fingerprints ---------------------------------------------------------------------------------
def test_ja3_ja4_of_a_client_hello() -> None:
    session = tls_session()
    assert tls.process_client_hello(session, client_hello())
    fields = finish(session)
    assert fields["tls.ja3string"] == ["771,4865-49199,0-10-11-13-16-43,29-23,0"]
    assert fields["tls.ja3"] == [hello_mod.md5_hex("771,4865-49199,0-10-11-13-16-43,29-23,0")]
    assert fields["tls.ja4_r"] == ["t13d0206h2_1301,c02f_000a,000b,000d,002b_0403,0804"]
    assert fields["tls.ja4"][0].startswith("t13d0206h2_")
    assert fields["http.host"] == ["example.com"]
    assert fields["tls.srcSessionId"] == ["11" * 32]


def test_udp_ja4_letter_is_q() -> None:
    session = tls_session(proto=17)
    tls.process_client_hello(session, client_hello())
    assert finish(session)["tls.ja4"][0].startswith("q13")


def test_server_hello_tls13() -> None:
    session = tls_session()
    assert tls.process_server_hello(session, server_hello())
    fields = finish(session)
    assert fields["tls.version"] == ["TLSv1.3"]
    assert fields["tls.cipher"] == ["TLS_AES_128_GCM_SHA256"]
    assert fields["tls.ja3sstring"] == ["771,4865,43"]
    assert fields["tls.dstSessionId"] == ["22" * 32]


def test_version_names() -> None:
    assert hello_mod.version_name(0x0301) == "TLSv1"
    assert hello_mod.version_name(0x7F12) == "TLSv1.3-draft-18"
    assert hello_mod.version_name(0x1234) == "0x1234"
    assert hello_mod.cipher_name(0xC02F) == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert hello_mod.cipher_name(0xEEEE) == "0xeeee"


# --- the TCP stream -------------------------------------------------------------------------------
def _stream(chunks: list[tuple[int, bytes]]) -> dict[str, Any]:
    session = tls_session()
    stream = tls.TlsStream()
    attach(session, stream)
    for direction, data in chunks:
        stream.data(session, data, direction)
    return finish(session)


def test_client_hello_split_over_chunks() -> None:
    data = record(handshake(1, client_hello()))
    fields = _stream([(0, data[:7]), (0, data[7:50]), (0, data[50:])])
    assert fields["http.host"] == ["example.com"]


def test_truncated_client_hello_gives_nothing() -> None:
    data = record(handshake(1, client_hello()))
    assert "tls.ja4" not in _stream([(0, data[:-3])])


def test_server_records_with_certificates() -> None:
    der = make_cert()
    server = record(handshake(2, server_hello(tls13=False)) + handshake(11, cert_message(der))
                    + handshake(14, b""), b"\x03\x03")
    fields = _stream([(0, record(handshake(1, client_hello()))), (1, server[:30]), (1, server[30:])])
    assert fields["tls.version"] == ["TLSv1.2"]
    (cert,) = fields["cert"]
    assert cert["subjectCN"] == ["test.example"] and cert["issuerON"] == ["Org"]
    assert cert["alt"] == ["a.example", "b.example"] and cert["altCnt"] == 2
    assert cert["serial"] == "1234abcd"
    assert cert["publicAlgorithm"] == "id-ecPublicKey" and cert["curve"] == "prime256v1"
    assert cert["notBefore"] == 1704067200000 and cert["validDays"] == 365
    assert len(cert["hash"]) == 59


def test_certificate_tags() -> None:
    session = tls_session()
    certs.add_certificate(session, make_cert("leaf", "leaf"))
    assert session.tags == ["cert:self-signed"]
    session = tls_session()
    certs.add_certificate(session, make_cert("ca", "root", ca=True))
    assert session.tags == ["cert:certificate-authority"]


def test_duplicate_certificates_kept_once() -> None:
    session = tls_session()
    der = make_cert()
    assert certs.process_certificate_message(session, cert_message(der, der)) == 2
    assert len(finish(session)["cert"]) == 1


def dtls_hello() -> bytes:
    """A DTLS 1.2 record with a ClientHello (empty cookie)."""
    body = client_hello()
    body = body[:35 + 32] + b"\x00" + body[35 + 32:]  # empty cookie after the session id
    msg = bytes([1]) + len(body).to_bytes(3, "big") + b"\x00\x00" + b"\x00\x00\x00" + len(body).to_bytes(3, "big")
    return b"\x16\xfe\xfd" + bytes(8) + struct.pack(">H", len(msg + body)) + msg + body


def test_dtls_client_hello() -> None:
    rec = dtls_hello()
    session = tls_session(proto=17)
    assert tls._dtls_detect(session, rec, 0)
    parser = tls.DtlsParser()
    parser.data(session, rec, 0)
    assert finish(session)["tls.ja4"][0].startswith("d00d")  # legacy 0xfefd but TLS 1.3 listed


# --- the whole packet path: packets -> session table -> detection -> parsers -> document ----------
def test_handshake_through_the_session_table() -> None:
    server = record(handshake(2, server_hello(tls13=False)) + handshake(11, cert_message(make_cert()))
                    + handshake(14, b""), b"\x03\x03")
    hello = record(handshake(1, client_hello()))
    doc = flat_document(converse([(0, hello[:40]), (0, hello[40:]), (1, server)], port2=443))
    assert doc["protocol"] == ["tcp", "tls"]
    assert doc["tls.version"] == ["TLSv1.2"] and doc["http.host"] == ["example.com"]
    assert doc["tls.ja3"] == [hello_mod.md5_hex("771,4865-49199,0-10-11-13-16-43,29-23,0")]
    assert doc["tls.ja4"][0].startswith("t13d0206h2_")
    assert doc["cert"][0]["subjectCN"] == ["test.example"] and "cert:self-signed" in doc["tags"]


def test_tls_through_an_http_connect_tunnel() -> None:
    """A proxy's CONNECT, its 200, then TLS inside: both the HTTP and the TLS fields, as Arkime
    reads an HTTPS session through a proxy; a refused CONNECT that is retried on the same
    connection (407, then 200) still finds the TLS that follows."""
    server = record(handshake(2, server_hello(tls13=False)) + handshake(11, cert_message(make_cert()))
                    + handshake(14, b""), b"\x03\x03")
    hello = record(handshake(1, client_hello()))
    connect = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
    ok = b"HTTP/1.1 200 Connection established\r\n\r\n"
    doc = flat_document(converse([(0, connect), (1, ok), (0, hello), (1, server)], port2=3128))
    assert doc["protocol"] == ["http", "tcp", "tls"]
    assert doc["http.method"] == ["CONNECT"] and doc["http.uri"] == ["example.com:443"]
    assert doc["tls.version"] == ["TLSv1.2"] and doc["cert"][0]["subjectCN"] == ["test.example"]
    refused = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
    chunks = [(0, connect), (1, refused), (0, connect.replace(b"\r\n\r\n", b"\r\nProxy-Authorization: x\r\n\r\n")),
              (1, ok), (0, hello), (1, server)]
    doc = flat_document(converse(chunks, port2=3128))
    assert "tls" in doc["protocol"] and doc["http.statuscode"] == [407, 200]
    assert doc["tls.ja3"] == [hello_mod.md5_hex("771,4865-49199,0-10-11-13-16-43,29-23,0")]


def test_dtls_through_the_session_table() -> None:
    doc = flat_document(converse([(0, dtls_hello())], proto=17, port2=4433))
    assert "dtls" in doc["protocol"] and doc["tls.ja4"][0].startswith("d00d")


def test_truncated_hello_through_the_session_table() -> None:
    hello = record(handshake(1, client_hello()))
    doc = flat_document(converse([(0, hello[:-3])], port2=443))
    assert "tls" in doc["protocol"] and "tls.ja4" not in doc


# --- hostile input --------------------------------------------------------------------------------
def test_random_bytes_never_raise() -> None:
    rng = random.Random(7)
    base = record(handshake(1, client_hello()))
    for _ in range(300):
        junk = bytearray(base)
        for _ in range(rng.randint(1, 20)):
            junk[rng.randrange(len(junk))] = rng.randrange(256)
        data = bytes(junk[:rng.randint(0, len(junk))])
        session = tls_session()
        stream = tls.TlsStream()
        attach(session, stream)
        stream.data(session, data, 0)
        stream.data(session, bytes(rng.randrange(256) for _ in range(200)), 1)
        tls.process_server_hello(session, data)
        tls.process_server_handshake(session, data)
        certs.process_certificate_message(session, data)
        tls.DtlsParser().data(session, data, 0)
        finish(session)


def test_absurd_lengths() -> None:
    session = tls_session()
    assert certs.process_certificate_message(session, b"\xff\xff\xff" * 4) == 0
    assert certs.parse_certificate(b"\x30\x84\xff\xff\xff\xff", session, 0) is None
    stream = tls.TlsStream()
    attach(session, stream)
    stream.data(session, b"\x16\x03\x01\xff\xff\x01" + b"\x00" * 100, 0)
    for _ in range(20):
        stream.data(session, b"\x00" * 8192, 0)
    assert len(stream.bufs[0]) <= tls.CLIENT_LIMIT
    assert "tls.ja4" not in finish(session)


# --- real captures --------------------------------------------------------------------------------
def test_capture_tls13_draft() -> None:
    (session,) = [s for s in corpus_sessions("tls13") if "tls" in s.protocols]
    assert session.fields["tls.version"] == ["TLSv1.3-draft-18"]
    assert session.fields["tls.ja4"] == ["t00d1815h2_a30347de7a75_2a77702ff8e0"]
    assert session.fields["http.host"] == ["blog.cloudflare.com"]


def test_capture_certificate_chain() -> None:
    (session,) = [s for s in corpus_sessions("https2-301-get") if "tls" in s.protocols]
    alts = [c.get("alt") for c in session.fields["cert"]]
    assert ["github.com", "www.github.com"] in alts
    assert session.fields["tls.ja3s"] == ["280ca4511bfaa384b2e931c058e8816e"]


def test_capture_dtls_certificate() -> None:
    (session,) = [s for s in corpus_sessions("wireshark-dtls0") if "dtls" in s.protocols]
    assert session.fields["cert"][0]["issuerCN"] == ["snake oil ca"]
