"""QUIC: IETF Initial decryption (v1, v2), gQUIC CHLO tags, fbzero, truncated and hostile input."""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest
from conftest import corpus_sessions
from sessionkit import attach, converse, finish, flat_document, new_session
from test_proto_tls import client_hello

from appliance.protocols import quic
from appliance.sessions import Session

DCID = bytes.fromhex("8394c8f03e515708")


def _varint(value: int) -> bytes:
    return struct.pack(">H", 0x4000 | value) if value >= 64 else bytes([value])


def initial(version: int, frames: bytes, dcid: bytes = DCID, pn: int = 2) -> bytes:
    """A protected client Initial packet carrying ``frames``, padded to 1200 bytes."""
    keys = quic.InitialKeys(version, dcid)
    type_bits = quic.VERSIONS[version][2]
    first = 0xC0 | (type_bits << 4) | 0x01  # 2-byte packet number
    payload_len = max(len(frames), 1200)
    frames = frames.ljust(payload_len, b"\x00")
    head = bytes([first]) + struct.pack(">I", version) + bytes([len(dcid)]) + dcid + b"\x00" + b"\x00"
    length = 2 + len(frames) + 16
    head += struct.pack(">H", 0x4000 | length)
    pn_at = len(head)
    pn_bytes = struct.pack(">H", pn)
    header = head + pn_bytes
    nonce = bytearray(keys.iv)
    for i, byte in enumerate(pn_bytes.rjust(12, b"\x00")):
        nonce[i] ^= byte
    sealed = keys.key.encrypt(bytes(nonce), frames, header)
    encryptor = keys.hp.encryptor()
    mask = encryptor.update(sealed[2:18]) + encryptor.finalize()
    protected = bytearray(header + sealed)
    protected[0] ^= mask[0] & 0x0F
    for i in range(2):
        protected[pn_at + i] ^= mask[1 + i]
    return bytes(protected)


def crypto(offset: int, data: bytes) -> bytes:
    return b"\x06" + _varint(offset) + _varint(len(data)) + data


HELLO = b"\x01" + len(client_hello(b"quic.example")).to_bytes(3, "big") + client_hello(b"quic.example")


def quic_session(proto: int = 17) -> Session:
    """A real session from a client to port 443 (UDP unless ``proto`` says otherwise)."""
    return new_session(proto, 40000, 443)


def _run(datagrams: list[bytes]) -> dict[str, Any]:
    session = quic_session()
    parser = attach(session, quic.QuicParser())
    for datagram in datagrams:
        parser.data(session, datagram, 0)
    return finish(session)


@pytest.mark.parametrize("version", [1, 0x6B3343CF, 0xFF00001D])
def test_initial_decrypts(version: int) -> None:
    packet = initial(version, crypto(0, HELLO))
    assert quic.detect(quic_session(), packet, 0)
    fields = _run([packet])
    assert fields["http.host"] == ["quic.example"]
    assert fields["tls.ja4"][0].startswith("q13d0206h2_")


def test_client_hello_over_two_packets_out_of_order() -> None:
    half = len(HELLO) // 2
    first = initial(1, crypto(half, HELLO[half:]))
    second = initial(1, crypto(0, HELLO[:half]), pn=3)
    assert "tls.ja4" in _run([first, second])
    assert "tls.ja4" not in _run([first])


def test_wrong_keys_do_not_verify() -> None:
    packet = bytearray(initial(1, crypto(0, HELLO)))
    packet[-1] ^= 1
    assert not quic.detect(quic_session(), bytes(packet), 0)
    assert "tls.ja4" not in _run([bytes(packet)])


def chlo(tags: list[tuple[bytes, bytes]]) -> bytes:
    header = b"CHLO" + struct.pack("<HH", len(tags), 0)
    index, values, end = b"", b"", 0
    for tag, value in tags:
        end += len(value)
        index += tag + struct.pack("<I", end)
        values += value
    return header + index + values


def test_gquic_q043_chlo() -> None:
    msg = chlo([(b"PAD\x00", b""), (b"SNI\x00", b"Www.Example.com"), (b"UAID", b"Chrome/1"), (b"VER\x00", b"Q043")])
    frame = bytes([0xA0, 0x01]) + struct.pack(">H", len(msg)) + msg
    packet = bytes([0x0D]) + bytes(8) + b"Q043" + b"\x01" + bytes(12) + frame
    packet = packet.ljust(1350, b"\x00")
    assert quic.detect(quic_session(), packet, 0)
    fields = _run([packet])
    assert fields["quic.host"] == ["www.example.com"]
    assert fields["quic.useragent"] == ["Chrome/1"]
    assert fields["quic.version"] == ["Q043"]


def test_fbzero() -> None:
    msg = chlo([(b"SNI\x00", b"graph.facebook.com")])
    data = b"\x31QTV\x00" + struct.pack("<H", len(msg)) + b"\x00\x00" + msg
    session = quic_session(proto=6)
    assert quic._fbzero(session, data, 0)
    parser = attach(session, quic.FbzeroParser())
    parser.data(session, data[:10], 0)
    parser.data(session, data[10:], 0)
    assert finish(session)["quic.host"] == ["graph.facebook.com"]
    assert "quic" in session.protocols


# --- the whole packet path: packets -> session table -> detection -> parser -> document ------------
@pytest.mark.parametrize("version", [1, 0x6B3343CF])
def test_initial_through_the_session_table(version: int) -> None:
    doc = flat_document(converse([(0, initial(version, crypto(0, HELLO)))], proto=17, port2=443))
    assert "quic" in doc["protocol"]
    assert doc["http.host"] == ["quic.example"] and doc["tls.ja4"][0].startswith("q13d0206h2_")


def test_gquic_through_the_session_table() -> None:
    msg = chlo([(b"SNI\x00", b"gquic.example"), (b"VER\x00", b"Q043")])
    frame = bytes([0xA0, 0x01]) + struct.pack(">H", len(msg)) + msg
    packet = (bytes([0x0D]) + bytes(8) + b"Q043" + b"\x01" + bytes(12) + frame).ljust(1350, b"\x00")
    doc = flat_document(converse([(0, packet)], proto=17, port2=443))
    assert "quic" in doc["protocol"] and doc["quic.host"] == ["gquic.example"]


def test_q05x_named_from_both_sides_first_bytes() -> None:
    # Detection of the answer looks at the first payload bytes the client sent (payload8).
    client, server = b"\x0dQ050" + bytes(40), b"\x0dQ050" + bytes(40)
    assert "quic" in converse([(0, client), (1, server)], proto=17, port2=443).protocols
    assert "quic" not in converse([(0, bytes(45)), (1, server)], proto=17, port2=443).protocols


def test_truncated_initial_through_the_session_table() -> None:
    packet = initial(1, crypto(0, HELLO))
    session = converse([(0, packet[:600])], proto=17, port2=443)
    assert "quic" not in session.protocols and "tls.ja4" not in session.fields


def test_hostile_datagrams() -> None:
    rng = random.Random(3)
    good = initial(1, crypto(0, HELLO))
    for _ in range(200):
        junk = bytearray(good if rng.random() < 0.5 else bytes(rng.randrange(256) for _ in range(1300)))
        for _ in range(rng.randint(1, 10)):
            junk[rng.randrange(len(junk))] = rng.randrange(256)
        data = bytes(junk[:rng.randint(0, len(junk))])
        quic.detect(quic_session(), data, 0)
        _run([data, data])
        quic.crypto_frames(data)
        quic.parse_chlo(data)
    assert quic.parse_chlo(b"CHLO\xff\xff\x00\x00") == (True, {})


def test_capture_quic_ietf() -> None:
    (session,) = [s for s in corpus_sessions("quicietf") if "quic" in s.protocols]
    assert session.fields["http.host"] == ["ssl.gstatic.com"]
    assert session.fields["tls.ja4"] == ["q13d0311h3_55b375c5d22e_3512bcbbc9ec"]


def test_capture_gquic() -> None:
    (session,) = [s for s in corpus_sessions("quic43") if "quic" in s.protocols]
    assert session.fields["quic.host"] == ["r3---sn-n4v7knl6.googlevideo.com"]
    assert session.fields["quic.version"] == ["Q043"]
