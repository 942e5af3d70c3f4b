"""Issue 9: the scan finder and the device inventory, over generated and corpus captures."""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS
from pcapgen import ACK, RST, SYN, TcpFlow, ethernet, ipv4, tcp, udp, write_pcap

from appliance.insights import devices, scans
from appliance.insights.sketch import Sketch, value_hash

OUI_FILE = str(Path(__file__).parent / "data" / "oui.txt")
START_US = 1_699_920_000_000_000  # a UTC midnight: 7 days of traffic are 7 days
MIN_US = 60_000_000
DAY_US = 86_400_000_000
ROUTER_MAC = bytes.fromhex("b827eb000001")
ROUTER_IP = "192.168.1.1"
TARGET = 5  # the device the scanners probe
OPEN_PORTS = (22, 8080)


def device_mac(n: int) -> bytes:
    return bytes.fromhex(f"00113200{n:04x}")


def device_ip(n: int) -> str:
    return f"192.168.1.{10 + n}"


def remac(frame: bytes, src: bytes, dst: bytes) -> bytes:
    return dst + src + frame[12:]


# --- ordinary traffic ----------------------------------------------------------------------------

def dhcp_request(n: int) -> bytes:
    """A DHCP REQUEST with host name (12), class id (60) and requested address (50)."""
    mac = device_mac(n)
    head = struct.pack("!BBBBIHH4s4s4s4s", 1, 1, 6, 0, 0x1000 + n, 0, 0x8000, bytes(4), bytes(4), bytes(4),
                       bytes(4)) + mac.ljust(16, b"\0") + bytes(192)
    name, klass = f"host-{n:02d}".encode(), b"android-dhcp-14"
    options = (b"\x63\x82\x53\x63" + bytes([53, 1, 3, 50, 4]) + bytes(map(int, device_ip(n).split(".")))
               + bytes([12, len(name)]) + name + bytes([60, len(klass)]) + klass + b"\xff")
    payload = (head + options).ljust(300, b"\0")
    return ethernet(ipv4(udp(68, 67, payload), "0.0.0.0", "255.255.255.255"), mac, b"\xff" * 6)


def dns_pair(n: int, name: str, ident: int) -> list[bytes]:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    query = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)
    answer = (struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + qname + struct.pack("!HH", 1, 1)
              + struct.pack("!HHHIH4s", 0xC00C, 1, 1, 300, 4, bytes([93, 184, 216, 34])))
    sport = 30000 + ident
    return [ethernet(ipv4(udp(sport, 53, query), device_ip(n), ROUTER_IP), device_mac(n), ROUTER_MAC),
            ethernet(ipv4(udp(53, sport, answer), ROUTER_IP, device_ip(n)), ROUTER_MAC, device_mac(n))]


def http_flow(n: int, host: str, cport: int) -> list[bytes]:
    flow = TcpFlow(device_ip(n), "93.184.216.34", cport, 80)
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    frames = [*flow.handshake(), flow.data(0, request), flow.data(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
              *flow.close()]
    mine = device_mac(n)
    return [remac(f, mine, ROUTER_MAC) if f[6:12] == bytes.fromhex("020000000001") else remac(f, ROUTER_MAC, mine)
            for f in frames]


def ordinary_traffic(rnd: random.Random, days: int) -> list[tuple[int, bytes]]:
    """20 devices: DHCP each day, DNS and HTTP every few hours; packets 1 ms apart per exchange."""
    out: list[tuple[int, bytes]] = []
    for n in range(20):
        for day in range(days):
            t = START_US + day * DAY_US + rnd.randrange(3_600_000_000)
            out.append((t, dhcp_request(n)))
            for k in range(6):
                t += rnd.randrange(60 * MIN_US, 200 * MIN_US)
                host = f"site{(n + k) % 7}.example.com"
                frames = dns_pair(n, host, (day * 6 + k) % 30000 + 1) + http_flow(n, host, 40000 + day * 6 + k)
                out += [(t + i * 1000, f) for i, f in enumerate(frames)]
    return out


# --- scanners ----------------------------------------------------------------------------------

def probe(scanner: str, sport: int, port: int, t: int, scanner_mac: bytes) -> list[tuple[int, bytes]]:
    """A SYN; a closed port answers RST-ACK, an open one SYN-ACK and the scanner resets (half-open)."""
    target, tmac = device_ip(TARGET), device_mac(TARGET)

    def frame(src: str, dst: str, sp: int, dp: int, flags: int, smac: bytes, dmac: bytes) -> bytes:
        return ethernet(ipv4(tcp(sp, dp, flags, seq=1000, ack=1 if flags & ACK else 0), src, dst), smac, dmac)

    out = [(t, frame(scanner, target, sport, port, SYN, scanner_mac, tmac))]
    if port in OPEN_PORTS:
        out.append((t + 300, frame(target, scanner, port, sport, SYN | ACK, tmac, scanner_mac)))
        out.append((t + 600, frame(scanner, target, sport, port, RST, scanner_mac, tmac)))
    else:
        out.append((t + 300, frame(target, scanner, port, sport, RST | ACK, tmac, scanner_mac)))
    return out


def ports(rnd: random.Random) -> list[int]:
    chosen = set(OPEN_PORTS)
    while len(chosen) < 1000:
        chosen.add(rnd.randint(1, 65535))
    out = sorted(chosen)
    rnd.shuffle(out)
    return out


def slow_scan(rnd: random.Random) -> list[tuple[int, bytes]]:
    """1,000 ports of one host, one probe every 5-15 minutes, each from a new source port."""
    out, t = [], START_US + 2 * 3_600_000_000
    for port in ports(rnd):
        out += probe("203.0.113.66", rnd.randint(32768, 60999), port, t, ROUTER_MAC)
        t += rnd.randrange(5 * MIN_US, 15 * MIN_US)
    return out


def fast_scan(rnd: random.Random) -> list[tuple[int, bytes]]:
    """An nmap-like SYN sweep from a local machine: 1,000 ports in 2 s from one source port."""
    out, t = [], START_US + 2 * DAY_US + 5_000_000
    for port in ports(rnd):
        out += probe("192.168.1.200", 54321, port, t, bytes.fromhex("001a6b000099"))
        t += 2000
    return out


def store_of(tmp_path: Path, name: str, records: list[tuple[int, bytes]]) -> Any:
    from appliance.documents import flat_document
    from appliance.pipeline import parse_capture
    from appliance.settings import Settings
    from appliance.store.db import open_database
    from appliance.store.sessions import SessionStore

    path = write_pcap(tmp_path / f"{name}.pcap", sorted(records, key=lambda r: r[0]))
    store = SessionStore(open_database(str(tmp_path / f"{name}.db")))
    parse_capture(path, Settings(), lambda s: store.add(flat_document(s)))
    store.flush()
    return store


@pytest.fixture(scope="module")
def slow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    rnd = random.Random(9)
    store = store_of(tmp_path_factory.mktemp("slow"), "slow", ordinary_traffic(rnd, 7) + slow_scan(rnd))
    yield store
    store.conn.close()


@pytest.fixture(scope="module")
def fast_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    rnd = random.Random(10)
    store = store_of(tmp_path_factory.mktemp("fast"), "fast", ordinary_traffic(rnd, 3) + fast_scan(rnd))
    yield store
    store.conn.close()


def count(store: Any, expression: str) -> int:
    from appliance.query import Searcher

    return Searcher(store).count(expression)


def check_scanner(store: Any, src: str) -> scans.Scanner:
    found, _ = scans.find_scanners(store.conn, days=30)
    top = found[0]
    assert top.src == src and top.flagged
    assert [r.src for r in found if r.flagged] == [src], "an ordinary device was flagged"
    assert top.sessions == 1000 and top.probes == 998 and top.answered == 2
    assert abs(top.ports - 1000) <= 50 and top.hosts == 1
    assert sorted((a["dst"], a["port"]) for a in top.answered_probes) == [(device_ip(TARGET), p) for p in OPEN_PORTS]
    # The links show exactly those sessions.
    assert count(store, top.expression) == top.sessions
    assert count(store, top.answered_expression) == 2
    return top


def test_slow_scanner_ranks_first_with_its_two_answers(slow_store: Any) -> None:
    top = check_scanner(slow_store, "203.0.113.66")
    assert 5 * 60 <= top.gap_mean <= 15 * 60 and top.gap_sd < 5 * 60
    assert top.last_ms - top.first_ms > 5 * 86_400_000


def test_fast_syn_sweep_ranks_first(fast_store: Any) -> None:
    top = check_scanner(fast_store, "192.168.1.200")
    assert top.gap_mean is not None and top.gap_mean < 0.01


def test_days_window_limits_the_ranking(slow_store: Any) -> None:
    found, (lo, hi) = scans.find_scanners(slow_store.conn, days=1)
    assert hi - lo == 0
    assert all(r.sessions < 1000 for r in found)


def test_inventory_of_generated_devices(slow_store: Any) -> None:
    found = {d.mac: d for d in devices.inventory(slow_store.conn, OUI_FILE)}
    for n in range(20):
        d = found[device_mac(n).hex(":")]
        assert d.vendor == "Synology Incorporated"
        assert (d.dhcp_host, d.dhcp_class) == (f"host-{n:02d}", "android-dhcp-14")
        assert [i["ip"] for i in d.ips] == [device_ip(n)]
        assert len(d.bytes_per_day) == (8 if n == TARGET else 7) and d.bytes > 0  # the scan runs into day 8
        assert {h["host"] for h in d.top_hosts} <= {f"site{k}.example.com" for k in range(7)}
        assert d.top_hosts and not d.new
        assert count(slow_store, d.expression) == d.sessions
    assert found[ROUTER_MAC.hex(":")].vendor == "Raspberry Pi Foundation"
    assert [i["ip"] for i in found[ROUTER_MAC.hex(":")].ips] == [ROUTER_IP]


def test_new_device_is_highlighted(fast_store: Any) -> None:
    found = {d.mac: d for d in devices.inventory(fast_store.conn, OUI_FILE)}
    assert found["00:1a:6b:00:00:99"].new  # the sweeping machine appeared on the last day
    assert not any(d.new for mac, d in found.items() if mac != "00:1a:6b:00:00:99")


@pytest.mark.parametrize("name, expected", [
    ("wireshark-dhcp", {"00:0b:82:01:fc:42": ("Grandstream Networks, Inc.", ["192.168.0.10"]),
                        "00:08:74:ad:f1:9b": ("Dell Inc.", [])}),
    ("cloudshark-arp", {"00:1a:6b:6c:0c:cc": ("Universal Global Scientific Industrial Co., Ltd.", ["10.10.10.2"]),
                        "00:1d:09:f0:92:ab": ("Dell Inc.", ["10.10.10.1"])}),
])
def test_corpus_inventory_matches_dhcp_and_arp(tmp_path: Path, name: str,
                                               expected: dict[str, tuple[str, list[str]]]) -> None:
    path = CORPUS / f"{name}.pcap"
    if not path.exists():
        pytest.skip("the shared corpus is absent")
    from appliance.documents import flat_document
    from appliance.pipeline import parse_capture
    from appliance.settings import Settings
    from appliance.store.db import open_database
    from appliance.store.sessions import SessionStore

    store = SessionStore(open_database(str(tmp_path / "c.db")))
    docs: list[dict[str, Any]] = []
    parse_capture(str(path), Settings(), lambda s: docs.append(flat_document(s)))
    for doc in docs:
        store.add(doc)
    store.flush()
    found = {d.mac: (d.vendor, [i["ip"] for i in d.ips]) for d in devices.inventory(store.conn, OUI_FILE)}
    assert found == expected
    # What the DHCP and ARP fields of the sessions say, independently of the aggregates.
    for doc in docs:
        for mac in doc.get("dhcp.mac", []):
            assert mac in found
        if len(doc.get("arp.ip", [])) == 1:
            for mac in doc.get("arp.mac", []):
                assert doc["arp.ip"][0] in found[mac][1]


def test_sketch_is_exact_when_small_and_close_when_large() -> None:
    small = Sketch()
    small.add_hashes(value_hash(p) for p in range(100))
    assert Sketch.decode(small.encode()).count() == 100
    big, other = Sketch(), Sketch()
    big.add_hashes(value_hash(p) for p in range(5000))
    other.add_hashes(value_hash(p) for p in range(4000, 12000))
    big.merge(Sketch.decode(other.encode()))
    assert abs(big.count() - 12000) < 12000 * 0.08


def test_value_hashes_are_stable_and_their_memo_bounded() -> None:
    """Sketches stored by one process are merged by another: the hash is blake2b of the text,
    whatever the memo holds, and a flood of distinct addresses keeps at most _HASHES_KEPT."""
    import hashlib

    from appliance.insights import sketch

    def direct(value: str | int) -> int:
        return int.from_bytes(hashlib.blake2b(str(value).encode(), digest_size=8).digest(), "big")

    addresses = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(3 * sketch._HASHES_KEPT)]
    for value in [443, "443", *addresses, 443]:
        assert value_hash(value) == direct(value)
        assert len(sketch._hashes) <= sketch._HASHES_KEPT
    assert value_hash(443) != value_hash("x")


def test_a_batch_counts_each_port_and_host_of_a_source_once(tmp_path: Path) -> None:
    """A batch keeps a source's ports and hosts as lists (a set costs 216 bytes even for one value):
    repeats, in a row or not, count once in the stored sketches, in this batch and across batches."""
    from appliance.store.db import open_database
    from appliance.store.sessions import SessionStore

    store = SessionStore(open_database(str(tmp_path / "p.db")))
    t = 1_700_000_000_000
    targets = [("10.0.0.2", 22), ("10.0.0.2", 22), ("10.0.0.3", 80), ("10.0.0.2", 22), ("10.0.0.3", 443)]
    for i, (dst, port) in enumerate(targets * 2):
        store.add({"lastPacket": t + i, "firstPacket": t + i, "source.ip": "10.0.0.1", "destination.ip": dst,
                   "ipProtocol": 6, "source.port": 40000 + i, "destination.port": port, "source.packets": 1,
                   "destination.packets": 0, "network.packets": 1})
        if i == len(targets) - 1:
            store.flush()  # the second half in a batch of its own, merged into the stored sketches
    store.flush()
    rows = store.conn.execute("SELECT sessions, ports_n, hosts_n FROM scan_days WHERE src = '10.0.0.1'").fetchall()
    assert rows == [(10, 3, 2)]


def test_aggregates_roll_back_with_their_batch(tmp_path: Path) -> None:
    from appliance.store.db import open_database
    from appliance.store.sessions import SessionStore

    store = SessionStore(open_database(str(tmp_path / "r.db")))
    doc = {"lastPacket": 1_700_000_000_000, "firstPacket": 1_700_000_000_000, "source.ip": "10.0.0.1",
           "destination.ip": "10.0.0.2", "ipProtocol": 6, "source.port": 1, "destination.port": 2,
           "source.packets": 1, "destination.packets": 0, "source.mac": ["00:11:32:00:00:01"], "bad.field": 1}
    with pytest.raises(KeyError):
        store.add(doc)
    store.flush()
    assert store.conn.execute("SELECT count(*) FROM scan_days").fetchall()[0][0] == 0


# --- the viewer and the commands -------------------------------------------------------------------

def wsgi(app: Any, path: str, token: str) -> tuple[int, bytes]:
    from io import BytesIO
    from wsgiref.util import setup_testing_defaults

    path, _, query = path.partition("?")
    environ: dict[str, Any] = {"PATH_INFO": path, "QUERY_STRING": query, "HTTP_AUTHORIZATION": "Bearer " + token,
                               "wsgi.input": BytesIO()}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    return int(status[0].split()[0]), body


def test_pages_and_api(fast_store: Any) -> None:
    import json

    from appliance.settings import Settings
    from appliance.store.db import open_database
    from appliance.web.app import make_app
    from appliance.web.users import Users

    db = fast_store.conn.filename
    users = Users(fast_store.conn)
    users.add("admin", "a-long-password-9", "admin")
    users.add("alice", "a-long-password-9", "user", expression="protocols == dns")
    tokens = {n: users.new_token(n) for n in ("admin", "alice")}
    settings = Settings().replace(ouiFile=OUI_FILE, queryTimeLimitS=10.0, dbPath=db)
    app = make_app(settings, lambda: open_database(db))
    status, body = wsgi(app, "/api/scans?days=30", tokens["admin"])
    assert status == 200 and json.loads(body)["data"][0]["src"] == "192.168.1.200"
    status, body = wsgi(app, "/api/devices", tokens["admin"])
    assert status == 200 and len(json.loads(body)["data"]) == 22  # 20 devices, the router, the sweeper
    assert wsgi(app, "/api/scans", tokens["alice"])[0] == 403  # aggregates ignore forced expressions
    for page in ("/scans", "/devices"):
        status, body = wsgi(app, page, tokens["admin"])
        assert status == 200 and b'href="/scans"' in body and b'href="/devices"' in body


def test_commands(fast_store: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import json

    from appliance.commands import devices as devices_cmd
    from appliance.commands import scans as scans_cmd
    from appliance.settings import Settings

    db = fast_store.conn.filename
    args = argparse.Namespace(days=30, limit=5, format="table", db=db)
    assert scans_cmd.handler(args, Settings()) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].startswith("!  192.168.1.200") and f"{device_ip(TARGET)}:22" in out
    assert devices_cmd.handler(argparse.Namespace(days=30, format="json", db=db), Settings()) == 0
    assert len(json.loads(capsys.readouterr().out)["data"]) == 22


def test_expire_drops_old_days(tmp_path: Path) -> None:
    from appliance.insights import aggregates
    from appliance.store.db import open_database
    from appliance.store.sessions import SessionStore

    store = SessionStore(open_database(str(tmp_path / "e.db")))
    for day in (0, 10):
        t = 1_700_000_000_000 + day * aggregates.DAY_MS
        store.add({"lastPacket": t, "firstPacket": t, "source.ip": "10.0.0.1", "destination.ip": "10.0.0.2",
                   "ipProtocol": 17, "source.port": 5, "destination.port": 53, "source.packets": 1,
                   "destination.packets": 1, "network.packets": 2, "source.mac": ["00:11:32:00:00:01"],
                   "http.host": ["a.example"]})
    store.flush()
    assert aggregates.expire(store.conn, 1_700_000_000_000 + 5 * aggregates.DAY_MS) == 2  # a scan day and a device day
    assert store.conn.execute("SELECT count(*) FROM scan_days").fetchall()[0][0] == 1
    assert [d.mac for d in devices.inventory(store.conn)] == ["00:11:32:00:00:01"]
