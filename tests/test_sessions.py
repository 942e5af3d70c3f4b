"""Session building on generated traffic, through ``parse_capture`` on generated capture files."""

from __future__ import annotations

import inspect
import json
import random
import socket
from pathlib import Path
from typing import Any

import pcapgen as g
import pytest

from appliance.community_id import community_id
from appliance.documents import flat_document
from appliance.pipeline import ParseStats, parse_capture
from appliance.settings import Settings

T0 = 1_600_000_000_000_000  # packet time of the first packet, microseconds
MS = 1000
S = 1_000_000


FAST_PATH = "fast_path" in inspect.signature(parse_capture).parameters


def parse(tmp_path: Path, records: list[Any], linktype: int = g.LINK_ETHERNET, parsers: bool = False,
          **settings: Any) -> tuple[list[dict[str, Any]], ParseStats]:
    """The flat documents of the sessions, in the order they were saved, and the stats.

    Where the pipeline has an IPv4 fast path, the same file also goes through the general path
    only, and both must give the same documents (the order of saving may differ at the end).
    """
    path = g.write_pcap(tmp_path / "gen.pcap", records, linktype=linktype)
    config = Settings().replace(**settings) if settings else Settings()
    docs, stats = _run(path, config, parsers, True)
    if FAST_PATH:
        slow_docs, slow_stats = _run(path, config, parsers, False)
        assert _canonical(docs) == _canonical(slow_docs), "the fast path and the general path disagree"
        assert stats.packets == slow_stats.packets and stats.sessions == slow_stats.sessions
    return docs, stats


def _canonical(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(d, sort_keys=True, default=str) for d in docs)


def _run(path: str, config: Settings, parsers: bool, fast: bool) -> tuple[list[dict[str, Any]], ParseStats]:
    docs: list[dict[str, Any]] = []
    kwargs = {"fast_path": fast} if FAST_PATH else {}
    stats = parse_capture(path, config, lambda s: docs.append(flat_document(s)), parsers=parsers, **kwargs)
    return docs, stats


def one(docs: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(docs) == 1, [(d.get("source.ip"), d.get("source.port"), d["network.packets"]) for d in docs]
    return docs[0]


def at(packets: list[bytes], start: int = T0, step: int = MS) -> list[tuple[int, bytes]]:
    return g.timed(packets, start, step)


def http_flow(**kw: Any) -> tuple[g.TcpFlow, list[bytes]]:
    f = g.TcpFlow(**kw)
    packets = f.handshake() + [f.data(0, b"GET / HTTP/1.1\r\n\r\n"), f.ack(1),
                               f.data(1, b"HTTP/1.1 200 OK\r\n\r\nhello"), f.ack(0)] + f.close()
    return f, packets


# --- direction ----------------------------------------------------------------------------------

@pytest.mark.parametrize("parsers", [False, True])
def test_syn_first_client_is_source(tmp_path: Path, parsers: bool) -> None:
    _, packets = http_flow()
    doc = one(parse(tmp_path, at(packets), parsers=parsers)[0])
    assert (doc["source.ip"], doc["source.port"]) == ("10.0.0.1", 40000)
    assert (doc["destination.ip"], doc["destination.port"]) == ("10.0.0.2", 80)
    assert doc["source.mac"] == ["02:00:00:00:00:01"]
    assert doc["destination.mac"] == ["02:00:00:00:00:02"]


def test_syn_decides_even_against_the_port_rule(tmp_path: Path) -> None:
    # The client uses a lower port than the server: the SYN still says who called.
    _, packets = http_flow(cport=1000, sport=8080)
    doc = one(parse(tmp_path, at(packets))[0])
    assert (doc["source.ip"], doc["source.port"], doc["destination.port"]) == ("10.0.0.1", 1000, 8080)


def test_synack_first_receiver_is_source(tmp_path: Path) -> None:
    _, packets = http_flow()
    doc = one(parse(tmp_path, at(packets[1:]))[0])  # the SYN was not captured
    assert (doc["source.ip"], doc["source.port"]) == ("10.0.0.1", 40000)
    assert doc["tcpflags.syn"] == 0 and doc["tcpflags.syn-ack"] == 1


@pytest.mark.parametrize("first_side", [0, 1])
def test_mid_stream_higher_port_is_source(tmp_path: Path, first_side: int) -> None:
    f = g.TcpFlow()
    f.handshake()  # advance the sequence numbers, the handshake is not captured
    request, response, ack = f.data(0, b"more request"), f.data(1, b"more response"), f.ack(0)
    packets = [request, response, ack] if first_side == 0 else [response, ack, request]
    doc = one(parse(tmp_path, at(packets))[0])
    assert (doc["source.ip"], doc["source.port"]) == ("10.0.0.1", 40000)
    assert (doc["source.packets"], doc["destination.packets"]) == (2, 1)
    assert (doc["source.bytes"], doc["destination.bytes"]) == (len(request) + len(ack), len(response))
    # Data bytes of a stream joined mid-way are not asserted: whether Arkime counts them is the
    # conformance test's business.


# --- counters ---------------------------------------------------------------------------------

def test_per_direction_counters(tmp_path: Path) -> None:
    f, packets = http_flow()
    doc = one(parse(tmp_path, at(packets))[0])
    sides = [0, 1, 0, 0, 1, 1, 0, 0, 1, 0]  # who sent each packet of http_flow
    assert doc["source.packets"] == sides.count(0)
    assert doc["destination.packets"] == sides.count(1)
    assert doc["source.bytes"] == sum(len(p) for p, s in zip(packets, sides, strict=True) if s == 0)
    assert doc["destination.bytes"] == sum(len(p) for p, s in zip(packets, sides, strict=True) if s == 1)
    assert doc["network.packets"] == len(packets)
    assert doc["network.bytes"] == sum(map(len, packets))
    assert doc["client.bytes"] == len(b"GET / HTTP/1.1\r\n\r\n")
    assert doc["server.bytes"] == len(b"HTTP/1.1 200 OK\r\n\r\nhello")
    assert doc["totDataBytes"] == doc["client.bytes"] + doc["server.bytes"]
    assert doc["srcTTL"] == [64] and doc["dstTTL"] == [64]
    assert doc["firstPacket"] == T0 // 1000
    assert doc["lastPacket"] == (T0 + (len(packets) - 1) * MS) // 1000
    assert doc["ipProtocol"] == 6 and doc["protocol"] == ["tcp"]


def test_tcp_flag_counts(tmp_path: Path) -> None:
    f = g.TcpFlow()
    packets = f.handshake()
    packets.append(f.data(0, b"x" * 10))
    packets.append(f.ack(1))
    packets.append(g.ethernet(g.ipv4(g.tcp(40000, 80, g.ACK | g.URG, f.seq[0], f.seq[1], urg=1),
                                     "10.0.0.1", "10.0.0.2")))
    packets.append(g.ethernet(g.ipv4(g.tcp(80, 40000, g.ACK, f.seq[1], f.seq[0], win=0), "10.0.0.2",
                                     "10.0.0.1"), g.MAC_B, g.MAC_A))
    packets.append(g.ethernet(g.ipv4(g.tcp(80, 40000, g.ACK, f.seq[1], f.seq[0], win=0), "10.0.0.2",
                                     "10.0.0.1"), g.MAC_B, g.MAC_A))
    packets.append(f.rst(0))
    doc = one(parse(tmp_path, at(packets))[0])
    flags = {k.split(".", 1)[1]: v for k, v in doc.items() if k.startswith("tcpflags.")}
    assert flags == {"syn": 1, "syn-ack": 1, "ack": 5, "psh": 1, "fin": 0, "rst": 1, "urg": 1,
                     "srcZero": 0, "dstZero": 2}


def test_init_rtt(tmp_path: Path) -> None:
    f = g.TcpFlow()
    syn, synack, ack = f.handshake()
    records = [(T0, syn), (T0 + 30 * MS, synack), (T0 + 50 * MS, ack), (T0 + 60 * MS, f.data(0, b"hi"))]
    doc = one(parse(tmp_path, records)[0])
    assert doc["initRTT"] == 25  # (ACK time - SYN time) / 2, in milliseconds
    assert doc["length"] == 60


@pytest.mark.parametrize(("syn_at", "ack_after", "rtt"), [
    (868_016, 383_039, 192),  # across a second: 1 s + (251,055 - 868,016) us cut toward zero = 384 ms
    (969_479, 161_514, 81),
    (500_000, 99_999, 49),  # within a second: 99 ms
    (18_999, 1_999, 0),
])
def test_init_rtt_counts_milliseconds_as_arkime_does(tmp_path: Path, syn_at: int, ack_after: int, rtt: int) -> None:
    """Arkime takes each handshake time as whole seconds apart plus the microsecond difference
    divided toward zero (C division), then halves it: across a second boundary that is a
    millisecond more than the microseconds alone (the corpus's adb, mongo, pop3-tag, smb-port80,
    socks4-https and wireshark-smb captures)."""
    f = g.TcpFlow()
    syn, synack, ack = f.handshake()
    start = T0 + syn_at
    records = [(start, syn), (start + ack_after // 2, synack), (start + ack_after, ack)]
    assert one(parse(tmp_path, records)[0])["initRTT"] == rtt


def test_no_init_rtt_without_handshake(tmp_path: Path) -> None:
    f = g.TcpFlow()
    f.handshake()
    doc = one(parse(tmp_path, at([f.data(0, b"a"), f.ack(1), f.data(1, b"b")]))[0])
    assert "initRTT" not in doc


# --- TCP data: retransmissions, out of order, payload8 --------------------------------------------

def test_retransmission_is_counted_once(tmp_path: Path) -> None:
    f = g.TcpFlow()
    packets = f.handshake()
    start = f.seq[0]
    packets.append(f.data(0, b"ABCDEFGHIJ"))
    packets.append(f.data(0, b"ABCDEFGHIJ", seq=start))  # the same segment again
    packets.append(f.data(0, b"EFGHIJKLMN", seq=start + 4))  # half old, half new
    f.seq[0] = start + 14
    packets.append(f.data(1, b"ok"))
    packets.append(f.data(1, b"ok", seq=f.seq[1] - 2))
    doc = one(parse(tmp_path, at(packets))[0])
    assert doc["client.bytes"] == 14
    assert doc["server.bytes"] == 2
    assert doc["source.packets"] == 5 and doc["destination.packets"] == 3
    assert doc["srcPayload8"] == b"ABCDEFGH".hex()


def test_out_of_order_segments(tmp_path: Path) -> None:
    f = g.TcpFlow()
    packets = f.handshake()
    first = f.data(0, b"0123")
    second = f.data(0, b"4567")
    third = f.data(0, b"89ab")
    packets += [third, second, first]
    packets.append(f.data(1, b"XY"))
    doc = one(parse(tmp_path, at(packets))[0])
    assert doc["client.bytes"] == 12
    assert doc["srcPayload8"] == b"01234567".hex()
    assert doc["dstPayload8"] == b"XY".hex()


def test_payload8_across_small_segments(tmp_path: Path) -> None:
    f = g.TcpFlow()
    packets = f.handshake() + [f.data(0, b"abc"), f.data(0, b"def"), f.data(0, b"ghijk"), f.data(1, b"Z" * 20)]
    doc = one(parse(tmp_path, at(packets))[0])
    assert doc["srcPayload8"] == b"abcdefgh".hex()
    assert doc["dstPayload8"] == (b"Z" * 8).hex()
    assert doc["client.bytes"] == 11 and doc["server.bytes"] == 20


def test_sequence_wraparound(tmp_path: Path) -> None:
    f = g.TcpFlow(cisn=0xFFFFFFF0)
    packets = f.handshake() + [f.data(0, b"A" * 10), f.data(0, b"B" * 10), f.data(0, b"C" * 10)]
    assert f.seq[0] < 100  # the client's sequence number went round
    doc = one(parse(tmp_path, at(packets))[0])
    assert doc["client.bytes"] == 30


def test_udp_counters_and_payload8(tmp_path: Path) -> None:
    packets = [
        g.ethernet(g.ipv4(g.udp(5353, 53, b"question!"))),
        g.ethernet(g.ipv4(g.udp(53, 5353, b"answer......"), "10.0.0.2", "10.0.0.1"), g.MAC_B, g.MAC_A),
        g.ethernet(g.ipv4(g.udp(5353, 53, b""))),
    ]
    doc = one(parse(tmp_path, at(packets))[0])
    assert (doc["source.port"], doc["destination.port"]) == (5353, 53)
    assert (doc["source.packets"], doc["destination.packets"]) == (2, 1)
    assert (doc["client.bytes"], doc["server.bytes"]) == (9, 12)
    assert doc["srcPayload8"] == b"question".hex() and doc["dstPayload8"] == b"answer..".hex()


def test_icmp_echo_is_one_session(tmp_path: Path) -> None:
    packets = [g.ethernet(g.ipv4(g.icmp(8, 0, seq=n))) for n in range(3)]
    packets += [g.ethernet(g.ipv4(g.icmp(0, 0, seq=n), "10.0.0.2", "10.0.0.1"), g.MAC_B, g.MAC_A) for n in range(3)]
    doc = one(parse(tmp_path, at(packets))[0])
    assert doc["network.packets"] == 6
    assert doc["icmp.type"] == [0, 8]
    assert doc["protocol"] == ["icmp"]


def test_icmp_data_bytes_run_to_the_end_of_the_packet(tmp_path: Path) -> None:
    """Arkime counts an ICMP packet's data to the end of the captured packet, so the padding of a
    short Ethernet frame counts; a UDP datagram's data stops where the IP packet ends."""
    solicit = g.ethernet(g.ipv4(g.icmp(10, 0, payload=b""), "10.0.0.1", "224.0.0.2"))  # 42 bytes
    datagram = g.ethernet(g.ipv4(g.udp(5000, 6000, b"x"), "10.0.0.1", "10.0.0.9"))  # 43 bytes
    docs = parse(tmp_path, at([solicit + bytes(60 - len(solicit)), datagram + bytes(60 - len(datagram))]))[0]
    icmp = next(d for d in docs if d["ipProtocol"] == 1)
    udp = next(d for d in docs if d["ipProtocol"] == 17)
    assert icmp["client.bytes"] == icmp["totDataBytes"] == 8 + 18
    assert udp["client.bytes"] == 1


def test_ipv6_session(tmp_path: Path) -> None:
    _, packets = http_flow(client="2001:db8::1", server="2001:db8::2", ipver=6)
    doc = one(parse(tmp_path, at(packets))[0])
    assert (doc["source.ip"], doc["destination.ip"]) == ("2001:db8::1", "2001:db8::2")
    assert doc["network.packets"] == len(packets)
    assert doc["client.bytes"] == len(b"GET / HTTP/1.1\r\n\r\n")


def test_ipv4_options(tmp_path: Path) -> None:
    router_alert = b"\x94\x04\x00\x00"
    packets = [g.ethernet(g.ipv4(g.udp(1000, 2000, b"with options"), options=router_alert)),
               g.ethernet(g.ipv4(g.udp(1000, 2000, b"none")))]
    doc = one(parse(tmp_path, at(packets))[0])
    assert doc["network.packets"] == 2
    assert doc["client.bytes"] == len(b"with options") + 4
    assert doc["srcPayload8"] == b"with opt".hex()


# --- timeouts on packet time -------------------------------------------------------------------

def test_late_packet_of_a_lone_flow_joins_it_as_in_arkime(tmp_path: Path) -> None:
    """Timeouts are checked after each packet, as Arkime does: a flow's own late packet refreshes it
    before any check sees it idle. Other traffic (or the live capture's clock tick) expires it."""
    pkt = g.ethernet(g.ipv4(g.udp(1234, 9999, b"tick")))
    records = [(T0, pkt), (T0 + 1 * S, pkt), (T0 + 59 * S, pkt), (T0 + 120 * S, pkt), (T0 + 121 * S, pkt)]
    docs, _ = parse(tmp_path, records, udpTimeout=60)
    assert [d["network.packets"] for d in docs] == [5]


def test_udp_timeout_splits_a_flow_when_other_traffic_moves_the_clock(tmp_path: Path) -> None:
    pkt = g.ethernet(g.ipv4(g.udp(1234, 9999, b"tick")))
    other = g.ethernet(g.ipv4(g.udp(1, 2, b"other"), "10.5.5.5", "10.5.5.6"))
    records = [(T0, pkt), (T0 + 1 * S, pkt), (T0 + 100 * S, other), (T0 + 120 * S, pkt), (T0 + 121 * S, pkt)]
    docs, _ = parse(tmp_path, records, udpTimeout=60)
    mine = [d for d in docs if d["source.port"] == 1234]
    assert [d["network.packets"] for d in mine] == [2, 2]
    assert mine[1]["firstPacket"] == (T0 + 120 * S) // 1000


def test_udp_timeout_setting_is_used(tmp_path: Path) -> None:
    pkt = g.ethernet(g.ipv4(g.udp(1234, 9999, b"tick")))
    other = g.ethernet(g.ipv4(g.udp(1, 2, b"other"), "10.5.5.5", "10.5.5.6"))
    records = []
    for n in range(4):  # the flow every 20 s, other traffic moving the clock in between
        records += [(T0 + n * 20 * S, pkt), (T0 + n * 20 * S + 15 * S, other)]
    mine = lambda docs: [d for d in docs if d["source.port"] == 1234]  # noqa: E731
    assert len(mine(parse(tmp_path, records, udpTimeout=60)[0])) == 1
    assert len(mine(parse(tmp_path, records, udpTimeout=10)[0])) == 4


def test_idle_session_is_saved_while_others_go_on(tmp_path: Path) -> None:
    """A quiet UDP flow is saved when the packet clock passes its timeout, not at the end of the file."""
    quiet = g.ethernet(g.ipv4(g.udp(1111, 2222, b"once")))
    f = g.TcpFlow()
    busy = f.handshake() + [f.data(0, b"x") for _ in range(40)]
    records = [(T0, quiet)] + [(T0 + n * 5 * S, p) for n, p in enumerate(busy)]
    docs, _ = parse(tmp_path, records, udpTimeout=30)
    # flush() saves TCP before UDP: the UDP session coming first means the timeout saved it.
    assert [d["ipProtocol"] for d in docs] == [17, 6]


def test_tcp_timeout(tmp_path: Path) -> None:
    f = g.TcpFlow()
    f.handshake()
    other = g.ethernet(g.ipv4(g.udp(1, 2, b"clock"), "10.5.5.5", "10.5.5.6"))
    records = [(T0, f.data(0, b"a")), (T0 + 100 * S, f.data(0, b"b")), (T0 + 350 * S, other),
               (T0 + 400 * S, f.data(0, b"c"))]
    docs = parse(tmp_path, records, tcpTimeout=200, tcpSaveTimeout=7200)[0]
    assert [d["network.packets"] for d in docs if d["ipProtocol"] == 6] == [2, 1]


def test_closed_session_then_new_session_on_the_same_ports(tmp_path: Path) -> None:
    _, first = http_flow(cisn=100)
    _, second = http_flow(cisn=90000)
    records = at(first) + at(second, start=T0 + 20 * S)
    docs, _ = parse(tmp_path, records)
    assert [d["network.packets"] for d in docs] == [len(first), len(second)]
    assert [d["tcpflags.syn"] for d in docs] == [1, 1]
    assert docs[1]["firstPacket"] == (T0 + 20 * S) // 1000
    assert docs[0]["tcpflags.fin"] == 2


def test_reset_session_then_new_session_on_the_same_ports(tmp_path: Path) -> None:
    f = g.TcpFlow(cisn=100)
    first = f.handshake() + [f.data(0, b"hello"), f.rst(1)]
    _, second = http_flow(cisn=90000)
    docs, _ = parse(tmp_path, at(first) + at(second, start=T0 + 20 * S))
    assert [d["network.packets"] for d in docs] == [len(first), len(second)]
    assert docs[0]["tcpflags.rst"] == 1


def test_closed_session_saved_after_closing_timeout_by_packet_time(tmp_path: Path) -> None:
    _, closed = http_flow()
    other = [g.ethernet(g.ipv4(g.udp(7, 7, b"clock"), "10.9.9.9", "10.9.9.8"))] * 5
    records = at(closed) + [(T0 + (n + 1) * 3 * S, p) for n, p in enumerate(other)]
    docs, _ = parse(tmp_path, records, tcpClosingTimeout=5)
    # Saved by the sweep before the end of the file, hence before the UDP session at flush.
    assert [d["ipProtocol"] for d in docs] == [6, 17]


# --- long sessions: segments ---------------------------------------------------------------------

def test_max_packets_segments(tmp_path: Path) -> None:
    f = g.TcpFlow()
    packets = f.handshake() + [f.data(n % 2, b"data%d" % n) for n in range(32)]
    docs, _ = parse(tmp_path, at(packets), maxPackets=10)
    assert [d["network.packets"] for d in docs] == [10, 10, 10, 5]
    assert [d["segmentCnt"] for d in docs] == [1, 2, 3, 4]
    assert {d["firstPacket"] for d in docs} == {T0 // 1000}
    assert {(d["source.ip"], d["source.port"]) for d in docs} == {("10.0.0.1", 40000)}
    assert sum(d["totDataBytes"] for d in docs) == sum(len(b"data%d" % n) for n in range(32))
    assert all(d.get("rootId") for d in docs[1:])


def test_max_packets_segments_udp(tmp_path: Path) -> None:
    pkt = g.ethernet(g.ipv4(g.udp(1000, 2000, b"u")))
    docs, _ = parse(tmp_path, at([pkt] * 25), maxPackets=10)
    assert [d["network.packets"] for d in docs] == [10, 10, 5]
    assert [d["segmentCnt"] for d in docs] == [1, 2, 3]


def test_tcp_save_timeout_segments(tmp_path: Path) -> None:
    f = g.TcpFlow()
    packets = f.handshake() + [f.data(0, b"keepalive") for _ in range(30)]
    records = [(T0 + n * 5 * S, p) for n, p in enumerate(packets)]  # 33 packets over 160 s
    docs, _ = parse(tmp_path, records, tcpSaveTimeout=60)
    assert len(docs) >= 3
    assert [d["segmentCnt"] for d in docs] == list(range(1, len(docs) + 1))
    assert {d["firstPacket"] for d in docs} == {T0 // 1000}
    assert sum(d["network.packets"] for d in docs) == len(packets)
    assert all(d["network.packets"] > 0 for d in docs)
    assert docs[-1]["lastPacket"] == records[-1][0] // 1000


def test_tcp_save_timeout_makes_no_empty_segments(tmp_path: Path) -> None:
    f = g.TcpFlow()
    packets = f.handshake() + [f.data(0, b"then quiet")]
    clock = [g.ethernet(g.ipv4(g.udp(7, 7, b"clock"), "10.9.9.9", "10.9.9.8"))] * 40
    records = at(packets) + [(T0 + (n + 1) * 10 * S, p) for n, p in enumerate(clock)]  # 400 s of packets
    docs, _ = parse(tmp_path, records, tcpSaveTimeout=60, tcpTimeout=480)
    tcp = [d for d in docs if d["ipProtocol"] == 6]
    # One segment at tcpSaveTimeout, then no empty segment every 60 s: only the final record that
    # Arkime also writes when the session ends (here at the end of the file) has no packets.
    assert [d["network.packets"] for d in tcp] == [4, 0]


# --- a full table --------------------------------------------------------------------------------

def test_max_streams_saves_the_oldest_idle_first(tmp_path: Path) -> None:
    packets = [g.ethernet(g.ipv4(g.udp(10000 + n, 53, b"q"))) for n in range(12)]
    # Flow 0 is refreshed after flows 1-3 started, so flow 1 is the oldest idle one then.
    order = [0, 1, 2, 3, 0, 4, 5, 6, 7, 8, 9, 10, 11]
    docs, stats = parse(tmp_path, at([packets[n] for n in order]), maxStreams=4)
    saved_ports = [d["source.port"] - 10000 for d in docs]
    assert saved_ports[:2] == [1, 2]
    assert sorted(saved_ports) == list(range(12))
    assert sum(d["network.packets"] for d in docs) == stats.packets == len(order)
    assert next(d for d in docs if d["source.port"] == 10000)["network.packets"] == 2


@pytest.mark.parametrize("seed", range(6))
def test_no_packet_is_lost(tmp_path: Path, seed: int) -> None:
    """Random mix of flows with a tiny table, short timeouts and small segments: every packet is in
    exactly one saved document."""
    rnd = random.Random(seed)
    flows = []
    for n in range(60):
        kind = rnd.choice(("tcp", "udp", "icmp"))
        client = f"10.1.{n // 200}.{n % 200 + 1}"
        if kind == "tcp":
            f = g.TcpFlow(client=client, cport=20000 + n)
            pk = f.handshake() + [f.data(rnd.randrange(2), rnd.randbytes(rnd.randrange(1, 50)))
                                  for _ in range(rnd.randrange(0, 30))]
            if rnd.random() < 0.5:
                pk += f.close()
        elif kind == "udp":
            pk = [g.ethernet(g.ipv4(g.udp(20000 + n, 53, b"x"), client, "10.0.0.53"))
                  for _ in range(rnd.randrange(1, 30))]
        else:
            pk = [g.ethernet(g.ipv4(g.icmp(seq=k), client, "10.0.0.53")) for k in range(rnd.randrange(1, 10))]
        flows.append(pk)
    records = []
    ts = T0
    while any(flows):
        pk = rnd.choice([f for f in flows if f])
        ts += rnd.choice((1000, 50_000, 2 * S, 20 * S))
        records.append((ts, pk.pop(0)))
    docs, stats = parse(tmp_path, records, maxStreams=rnd.choice((1, 3, 10)), maxPackets=rnd.choice((5, 7, 100)),
                        udpTimeout=30, tcpTimeout=60, tcpSaveTimeout=rnd.choice((10, 40, 480)), icmpTimeout=30)
    assert stats.packets == len(records)
    assert not stats.decode_errors
    assert sum(d["network.packets"] for d in docs) == len(records)
    assert sum(d["network.bytes"] for d in docs) == sum(len(r[1]) for r in records)


# --- encapsulations: the session is the inner one --------------------------------------------------

def _inner_udp(src: str = "172.16.0.1", dst: str = "172.16.0.2", body: bytes = b"inner data") -> bytes:
    return g.ipv4(g.udp(33333, 4444, body), src, dst)


def _check_inner(doc: dict[str, Any], packets: int = 2) -> None:
    assert (doc["source.ip"], doc["destination.ip"]) == ("172.16.0.1", "172.16.0.2")
    assert (doc["source.port"], doc["destination.port"]) == (33333, 4444)
    assert doc["network.packets"] == packets
    assert doc["client.bytes"] == len(b"inner data") * packets
    assert doc["ipProtocol"] == 17


def test_vlan(tmp_path: Path) -> None:
    packets = [g.ethernet(_inner_udp(), vlans=[42])] * 2
    doc = one(parse(tmp_path, at(packets))[0])
    _check_inner(doc)
    assert doc["network.vlan.id"] == [42]


def test_qinq(tmp_path: Path) -> None:
    packets = [g.ethernet(_inner_udp(), vlans=[42], qinq=[7])] * 2
    doc = one(parse(tmp_path, at(packets))[0])
    _check_inner(doc)
    assert sorted(doc["network.vlan.id"]) == [7, 42]


def test_mpls(tmp_path: Path) -> None:
    packets = [g.ethernet(g.mpls(_inner_udp(), labels=[16, 17]), ethertype=g.ETH_MPLS)] * 2
    _check_inner(one(parse(tmp_path, at(packets))[0]))


def test_pppoe(tmp_path: Path) -> None:
    packets = [g.ethernet(g.pppoe(_inner_udp()), ethertype=g.ETH_PPPOE)] * 2
    _check_inner(one(parse(tmp_path, at(packets))[0]))


def test_gre(tmp_path: Path) -> None:
    packets = [g.ethernet(g.ipv4(g.gre(_inner_udp()), "192.0.2.1", "192.0.2.2"))] * 2
    doc = one(parse(tmp_path, at(packets))[0])
    _check_inner(doc)
    assert "gre" in doc["protocol"]
    assert doc["srcOuterIp"] == ["192.0.2.1"] and doc["dstOuterIp"] == ["192.0.2.2"]


def test_gre_ppp_is_named(tmp_path: Path) -> None:
    """PPP carried in GRE (PPTP's data channel) adds "ppp" beside "gre", as Arkime does."""
    ppp = b"\xff\x03\x00\x21" + _inner_udp()  # HDLC address/control, protocol IPv4
    packets = [g.ethernet(g.ipv4(g.gre(ppp, ptype=0x880B), "192.0.2.1", "192.0.2.2"))] * 2
    doc = one(parse(tmp_path, at(packets))[0])
    _check_inner(doc)
    assert {"gre", "ppp"} <= set(doc["protocol"])
    doc = one(parse(tmp_path, at([g.ethernet(g.pppoe(_inner_udp()), ethertype=g.ETH_PPPOE)] * 2))[0])
    assert "ppp" not in doc["protocol"]  # PPPoE is named "pppoe" only


def test_gre_ethernet_with_key(tmp_path: Path) -> None:
    inner = g.ethernet(_inner_udp(), bytes.fromhex("0200000000aa"), bytes.fromhex("0200000000bb"))
    packets = [g.ethernet(g.ipv4(g.gre(inner, ptype=g.ETH_TEB, key=5), "192.0.2.1", "192.0.2.2"))] * 2
    _check_inner(one(parse(tmp_path, at(packets))[0]))


def test_vxlan(tmp_path: Path) -> None:
    inner = g.ethernet(_inner_udp(), bytes.fromhex("0200000000aa"), bytes.fromhex("0200000000bb"))
    packets = [g.ethernet(g.ipv4(g.vxlan(inner), "192.0.2.1", "192.0.2.2"))] * 2
    doc = one(parse(tmp_path, at(packets))[0])
    _check_inner(doc)
    assert "vxlan" in doc["protocol"]
    assert doc["source.mac"] == ["02:00:00:00:00:aa"]
    assert doc["srcOuterIp"] == ["192.0.2.1"]


def test_ip_in_ip(tmp_path: Path) -> None:
    packets = [g.ethernet(g.ipv4(g.ipip(_inner_udp()), "192.0.2.1", "192.0.2.2"))] * 2
    doc = one(parse(tmp_path, at(packets))[0])
    _check_inner(doc)
    assert doc["srcOuterIp"] == ["192.0.2.1"]


def test_ipv6_in_ipv4(tmp_path: Path) -> None:
    inner = g.ipv6(g.udp(33333, 4444, b"inner data"), "2001:db8::1", "2001:db8::2")
    packets = [g.ethernet(g.ipv4(g.ipip(inner), "192.0.2.1", "192.0.2.2"))] * 2
    doc = one(parse(tmp_path, at(packets))[0])
    assert (doc["source.ip"], doc["destination.ip"]) == ("2001:db8::1", "2001:db8::2")
    assert doc["network.packets"] == 2


def test_tunnelled_tcp_both_directions(tmp_path: Path) -> None:
    f = g.TcpFlow(client="172.16.0.1", server="172.16.0.2", link=None)
    packets = []
    for n, ip in enumerate(f.handshake() + [f.data(0, b"abc"), f.data(1, b"defg")]):
        outer = ("192.0.2.1", "192.0.2.2") if n in (0, 2, 3) else ("192.0.2.2", "192.0.2.1")
        packets.append(g.ethernet(g.ipv4(g.gre(ip), *outer), vlans=[3]))
    doc = one(parse(tmp_path, at(packets))[0])
    assert (doc["source.ip"], doc["source.port"]) == ("172.16.0.1", 40000)
    assert (doc["source.packets"], doc["destination.packets"]) == (3, 2)
    assert (doc["client.bytes"], doc["server.bytes"]) == (3, 4)


# --- IPv4 fragments ------------------------------------------------------------------------------

def test_ipv4_fragments_reassembled(tmp_path: Path) -> None:
    body = bytes(range(256)) * 3
    frags = g.ipv4_fragments(g.udp(5000, 6000, body), size=200)
    assert len(frags) == 4
    whole = g.ipv4(g.udp(5000, 6000, b"small"))
    packets = [g.ethernet(p) for p in frags] + [g.ethernet(whole)]
    doc = one(parse(tmp_path, at(packets))[0])
    assert (doc["source.port"], doc["destination.port"]) == (5000, 6000)
    assert doc["client.bytes"] == len(body) + len(b"small")
    assert doc["srcPayload8"] == body[:8].hex()


def test_ipv4_fragments_out_of_order(tmp_path: Path) -> None:
    body = b"0123456789abcdef" * 20
    frags = g.ipv4_fragments(g.udp(5000, 6000, body), size=64)
    packets = [g.ethernet(p) for p in reversed(frags)]
    doc = one(parse(tmp_path, at(packets))[0])
    assert doc["client.bytes"] == len(body)
    assert doc["srcPayload8"] == body[:8].hex()


def test_ipv4_fragmented_tcp_segment(tmp_path: Path) -> None:
    f = g.TcpFlow()
    packets = f.handshake()
    data = b"D" * 600
    seg = g.tcp(40000, 80, g.ACK | g.PSH, f.seq[0], f.seq[1], data)
    packets += [g.ethernet(p) for p in g.ipv4_fragments(seg, "10.0.0.1", "10.0.0.2", size=256)]
    doc = one(parse(tmp_path, at(packets))[0])
    assert doc["client.bytes"] == 600


def test_incomplete_fragments_do_not_crash(tmp_path: Path) -> None:
    frags = g.ipv4_fragments(g.udp(5000, 6000, b"x" * 500), size=128)
    packets = [g.ethernet(p) for p in frags[:-1]]  # the last piece never comes
    packets.append(g.ethernet(g.ipv4(g.udp(1, 2, b"other"), "10.0.0.7", "10.0.0.8")))
    docs, stats = parse(tmp_path, at(packets))
    assert stats.packets == len(packets)
    assert [d["source.port"] for d in docs] == [1]


# --- link types ---------------------------------------------------------------------------------

def _link_packets(wrap: Any) -> list[bytes]:
    f = g.TcpFlow(link=None)
    return [wrap(p) for p in f.handshake() + [f.data(0, b"hello"), f.data(1, b"there!")]]


def _check_link(doc: dict[str, Any]) -> None:
    assert (doc["source.ip"], doc["source.port"], doc["destination.port"]) == ("10.0.0.1", 40000, 80)
    assert doc["network.packets"] == 5
    assert (doc["client.bytes"], doc["server.bytes"]) == (5, 6)
    assert doc["tcpflags.syn"] == 1


@pytest.mark.parametrize("name,linktype,wrap", [
    ("ethernet", g.LINK_ETHERNET, g.ethernet),
    ("sll", g.LINK_SLL, lambda p: g.sll(p)),
    ("sll2", g.LINK_SLL2, lambda p: g.sll2(p)),
    ("raw", g.LINK_RAW, lambda p: p),
    ("raw-228", 228, lambda p: p),
    ("null-le", g.LINK_NULL, lambda p: g.null_link(p, 2, "<")),
    ("null-be", g.LINK_NULL, lambda p: g.null_link(p, 2, ">")),
    ("loop", g.LINK_LOOP, lambda p: g.loop_link(p, 2)),
])
def test_link_types(tmp_path: Path, name: str, linktype: int, wrap: Any) -> None:
    doc = one(parse(tmp_path, at(_link_packets(wrap)), linktype=linktype)[0])
    _check_link(doc)
    if name in ("raw", "raw-228", "null-le", "null-be", "loop"):
        assert "source.mac" not in doc


@pytest.mark.parametrize("family", [10, 24, 28, 30])
def test_null_link_ipv6_families(tmp_path: Path, family: int) -> None:
    packets = [g.null_link(g.ipv6(g.udp(1000, 2000, b"v6")), family)] * 3
    doc = one(parse(tmp_path, at(packets), linktype=g.LINK_NULL)[0])
    assert doc["source.ip"] == "fd00::1" and doc["network.packets"] == 3


def test_sll_source_mac(tmp_path: Path) -> None:
    packets = [g.sll(g.ipv4(g.udp(1000, 2000, b"x")), src=bytes.fromhex("0a0b0c0d0e0f"))]
    doc = one(parse(tmp_path, at(packets), linktype=g.LINK_SLL)[0])
    assert doc["source.mac"] == ["0a:0b:0c:0d:0e:0f"]


def test_unsupported_link_type_is_counted(tmp_path: Path) -> None:
    docs, stats = parse(tmp_path, at([b"\0" * 40] * 3), linktype=147)
    assert docs == []
    assert stats.packets == 3
    assert sum(stats.decode_errors.values()) == 3


def test_garbage_packets_are_counted_not_raised(tmp_path: Path) -> None:
    rnd = random.Random(9)
    packets = [rnd.randbytes(rnd.randrange(0, 80)) for _ in range(300)]
    packets += [g.ethernet(b"\x45" + rnd.randbytes(rnd.randrange(0, 60))) for _ in range(300)]
    docs, stats = parse(tmp_path, at(packets))
    assert stats.packets == len(packets)
    assert stats.decode_errors  # short headers are counted by reason
    # Whatever was not an error went to a session (or waits as an IPv4 fragment that never completes).
    assert sum(d["network.packets"] for d in docs) + sum(stats.decode_errors.values()) <= len(packets)


# --- the IPv4 fast path against the general path, on the real captures ------------------------------

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "pcaps" / "arkime"


@pytest.mark.skipif(not FAST_PATH, reason="parse_capture has no fast_path switch")
@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/pcaps/arkime is absent")
@pytest.mark.parametrize("parsers", [False, True])
def test_fast_path_agrees_on_the_corpus(parsers: bool) -> None:
    config = Settings()
    differ = []
    for path in sorted(CORPUS.glob("*.pcap")):
        fast, _ = _run(str(path), config, parsers, True)
        slow, _ = _run(str(path), config, parsers, False)
        if _canonical(fast) != _canonical(slow):
            differ.append(path.name)
    assert not differ, f"fast and general path disagree on {differ}"


def test_many_new_flows_a_second_are_saved_at_their_timeout() -> None:
    """50 new UDP flows a second for 3 minutes: each is saved within a second of its timeout, so
    open sessions stay near 60 s x 50, as in Arkime (which checks before every packet; a check
    once a second at 10 per class let them pile up)."""
    from appliance.decode import Decoder
    from appliance.sessions import SessionTable

    start = 1_600_000_000_000_000
    late: list[int] = []
    table: Any = None

    def saved(session: Any) -> None:
        late.append(table.clock // 1_000_000 - session.last // 1_000_000)

    table = SessionTable(Settings(), saved, None)
    decoder = Decoder()
    most_open = 0
    for n in range(9000):
        frame = g.ethernet(g.ipv4(g.udp(1024 + n % 60000, 53, bytes(30)), f"10.6.{n // 250 % 250}.{n % 250 + 1}",
                                  "10.9.9.9"))
        ts = start + n * 20_000
        decoded = decoder.decode(ts, len(frame), len(frame), frame, 0, 1)
        assert decoded is not None
        table.add(decoded)
        most_open = max(most_open, table.count)
    assert most_open <= 61 * 50 + 10
    assert len(late) >= 9000 - 61 * 50 and max(late) <= 61  # udpTimeout 60 s, whole seconds


@pytest.mark.parametrize(("src", "dst", "proto", "sport", "dport", "seed", "expected"), [
    ("128.232.110.120", "66.35.250.204", 6, 34855, 80, 0, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
    ("66.35.250.204", "128.232.110.120", 6, 80, 34855, 0, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
    ("128.232.110.120", "66.35.250.204", 6, 34855, 80, 1, "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
    ("192.168.1.52", "8.8.8.8", 17, 54585, 53, 0, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="),
    ("192.168.0.89", "192.168.0.1", 1, 8, 0, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="),
])
def test_community_ids_match_the_published_examples(src: str, dst: str, proto: int, sport: int,
                                                    dport: int, seed: int, expected: str) -> None:
    # The Community ID specification's own examples, both directions of a flow giving one id.
    assert community_id(socket.inet_aton(src), socket.inet_aton(dst), proto, sport, dport, seed) == expected


def test_an_ipv4_authentication_header_is_stepped_over_as_arkime_does(tmp_path: Path) -> None:
    """AH (IP protocol 51) carrying ESP makes an esp session that counts data past ESP's first 8
    bytes (Arkime's ah-esp capture); AH carrying anything else (here IP in IP) makes an
    unknown-ip session without data. Both keep IP protocol 51."""
    ah = bytes([50, 4]) + bytes(22)  # next header, length in 4-byte words minus 2: 24 bytes
    esp = bytes(8) + b"E" * 40
    carried = ah + esp
    inner_ip = g.ipv4(g.icmp(), "192.168.3.1", "192.168.3.2")
    docs, _ = parse(tmp_path, [(T0, g.ethernet(g.ipv4(carried, "10.0.0.1", "10.0.0.2", proto=51))),
                               (T0 + MS, g.ethernet(g.ipv4(bytes([4]) + ah[1:] + inner_ip, "10.0.1.1", "10.0.1.2", proto=51)))])
    by_source = {d["source.ip"]: d for d in docs}
    esp_doc, other = by_source["10.0.0.1"], by_source["10.0.1.1"]
    assert (esp_doc["ipProtocol"], esp_doc["protocol"], esp_doc["client.bytes"]) == (51, ["esp"], len(carried) - 8)
    assert (other["ipProtocol"], other["protocol"], other["client.bytes"], other["totDataBytes"]) == (51, ["unknown-ip"], 0, 0)


def test_packets_broken_past_their_ip_header_go_to_a_corrupt_ip_session(tmp_path: Path) -> None:
    """A packet whose IP header reads but whose transport does not (a UDP length below 8, a TCP
    header cut short) is kept, as Arkime keeps it: in one corrupt-ip session per pair of
    addresses, either direction, with its IP protocol, no ports, no data and no TCP flags. The
    well-formed datagrams of the same pair keep their own UDP session, and a packet broken
    before its IP header is still only counted."""
    good = g.ethernet(g.ipv4(g.udp(40100, 9999, b"udplenokpayload!"), "10.9.8.1", "10.9.8.2"))
    bad_udp = bytearray(good)
    bad_udp[38:40] = b"\x00\x00"  # the UDP length field
    short_tcp = g.ethernet(g.ipv4(bytes(g.tcp(1234, 80))[:10], "10.9.8.2", "10.9.8.1", proto=6))
    docs, stats = parse(tmp_path, at([good, bytes(bad_udp), short_tcp, b"\x01" * 10]))
    by_protocol = {tuple(d["protocol"]): d for d in docs}
    assert set(by_protocol) == {("udp",), ("corrupt-ip",)}
    udp, corrupt = by_protocol[("udp",)], by_protocol[("corrupt-ip",)]
    assert (udp["network.packets"], udp["client.bytes"]) == (1, 16)
    assert corrupt["ipProtocol"] == 17  # the first packet's
    assert (corrupt["source.ip"], corrupt["destination.ip"], corrupt["source.port"]) == ("10.9.8.1", "10.9.8.2", 0)
    assert (corrupt["source.packets"], corrupt["destination.packets"], corrupt["totDataBytes"]) == (1, 1, 0)
    assert corrupt["network.bytes"] == len(bad_udp) + len(short_tcp) and corrupt["srcTTL"] == [64]
    assert not any(key.startswith("tcpflags.") for key in corrupt)
    assert stats.corrupt == {"bad udp length": 1, "short tcp header": 1}
    assert stats.decode_errors == {"short ethernet header": 1}


def test_a_closed_session_is_not_cut_into_segments_while_it_waits_to_be_saved(tmp_path: Path) -> None:
    """A TCP session that closes just before tcpSaveTimeout waits tcpClosingTimeout to be saved;
    as in Arkime it has left the save-timeout chain, so it is saved once, whole, and not as a
    segment followed by an empty one."""
    f = g.TcpFlow()
    records = [(T0 + i * MS, p) for i, p in enumerate(f.handshake() + [f.data(0, b"hello"), f.data(1, b"hi")])]
    records += [(T0 + 9 * S + i * MS, p) for i, p in enumerate(f.close())]  # closed at 9 s
    other = g.TcpFlow(cport=50000)
    records += [(T0 + 11 * S, other.handshake()[0]), (T0 + 20 * S, other.handshake()[0])]  # sweeps at 11 s and 20 s
    docs, _ = parse(tmp_path, records, tcpSaveTimeout=10)
    mine = [d for d in docs if d["source.port"] != 50000]
    assert [d["network.packets"] for d in mine] == [len(records) - 2]
