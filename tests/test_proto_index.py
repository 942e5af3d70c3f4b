"""The detection index only skips detectors that would have said no (or are not on their ports)."""

from __future__ import annotations

import random
from typing import Any

from sessionkit import new_session

from appliance.protocols import TCP, UDP, AppLayer, Protocol
from appliance.protocols._index import CandidateIndex, anchors

OPENINGS = (  # what the parsers' detectors accept in real traffic
    b"SSH-2.0-OpenSSH_8.9\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n",
    b"220 mail.example.com ESMTP ready\r\n", b"EHLO client.example.com\r\n", b"* OK IMAP4rev1 ready\r\n",
    b"+OK POP3 server ready\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)) + b"\x00\x00\x02\x13\x01\x01\x00",
)


def _pool(protocols: list[Protocol], rnd: random.Random) -> list[bytes]:
    """Data some detector might accept: every protocol's prefixes in place with random bytes
    around them, real openings, and noise; each detector is tried on all of it."""
    out = list(OPENINGS) + [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 120))) for _ in range(20)]
    for protocol in protocols:
        for prefix in protocol.prefixes:
            for _ in range(2):
                head = bytes(rnd.randrange(256) for _ in range(protocol.prefix_offset))
                tail = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 120)))
                out.append(head + prefix + tail)
    return out


def _ports(protocol: Protocol, rnd: random.Random) -> list[tuple[int, int]]:
    ports = [(rnd.randrange(1024, 65536), rnd.randrange(1, 65536))]
    ports += [(rnd.randrange(1024, 65536), port) for port in protocol.ports]
    return ports


def test_a_matching_detector_is_always_a_candidate() -> None:
    app = AppLayer()
    rnd = random.Random(7)
    for proto, index, protocols in ((6, app.tcp_index, app.tcp), (17, app.udp_index, app.udp)):
        pool = _pool(protocols, rnd)
        for protocol in protocols:
            for data in pool:
                for port1, port2 in _ports(protocol, rnd):
                    if protocol.ports and port1 not in protocol.ports and port2 not in protocol.ports:
                        continue  # not on its ports: never tried, as before the index
                    for direction in (0, 1):
                        try:
                            matched = protocol.detect(new_session(proto, port1, port2), data, direction)
                        except Exception:  # noqa: BLE001 - a raising detector is AppLayer's business
                            continue
                        if matched:
                            assert protocol in index.candidates(data, port1, port2), (protocol.name, data[:20])


def test_candidates_keep_registration_order_and_ports() -> None:
    def never(session: Any, data: bytes, direction: int) -> bool:
        return False

    protocols = [Protocol("a", TCP, never, prefixes=(b"GET ", b"PUT ")), Protocol("b", TCP, never, ports=(53,)),
                 Protocol("c", TCP | UDP, never), Protocol("d", TCP, never, prefixes=(b"\x00\x0a",), prefix_offset=4)]
    index = CandidateIndex(protocols)
    names = [p.name for p in index.candidates(b"GET / HTTP/1.1", 1000, 80)]
    assert names == ["a", "c"]
    assert [p.name for p in index.candidates(b"GET / HTTP/1.1", 53, 1000)] == ["a", "b", "c"]
    assert [p.name for p in index.candidates(b"xxxx\x00\x0ayy", 1000, 80)] == ["c", "d"]
    assert [p.name for p in index.candidates(b"xxxx\x00", 1000, 80)] == ["c"]  # too short for d


def test_anchors_keep_only_what_every_prefix_shares() -> None:
    protocol = Protocol("x", UDP, lambda s, d, r: False, prefixes=(b"\x00\x01", b"\x00\x05"))
    found = anchors(protocol)
    assert found[0] == frozenset({0}) and found[1] == frozenset({1, 5})
