"""Idle open sessions kept compressed (``compressSessionsAbove``, ``compressed_sessions``).

What must hold: the sessions that come out are the same, field for field and at the same
packet-time second, whether or not their sessions spent time compressed; and a compressed
session is a small fraction of the session it stands for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pcapgen import TcpFlow

from appliance.compressed_sessions import SessionCompressor, field_names
from appliance.decode import Decoder
from appliance.documents import flat_document
from appliance.pipeline import make_app_layer, parse_capture
from appliance.readers import open_capture
from appliance.sessions import Q_TCP, STATE_FIELDS, Session, SessionTable
from appliance.settings import Settings

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "pcaps" / "arkime"
START = 1_700_000_000 * 1_000_000
LINK_ETHERNET = 1


def _doc(session: Session) -> str:
    return json.dumps(flat_document(session), sort_keys=True, default=str)


def _corpus() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    return sorted(p for p in CORPUS.iterdir() if p.suffix in (".pcap", ".pcapng"))


def _compressing_everything(path: Path) -> tuple[list[str], int]:
    """Documents of a capture whose every open session is compressed after every packet (and
    so expanded at its next one); and how many compressions that made."""
    settings = Settings().replace(compressSessionsAbove=0)
    docs: list[str] = []
    table = SessionTable(settings, lambda s: docs.append(_doc(s)), make_app_layer(settings))
    decoder = Decoder()
    compressions = 0
    with open_capture(str(path)) as reader:
        for ts, caplen, wirelen, data, offset, linktype in reader:
            if not (linktype == 1 and caplen >= 54 and table.add_ipv4(ts, caplen, data, offset)):
                frame = decoder.decode(ts, caplen, wirelen, data, offset, linktype)
                if frame is not None:
                    table.add(frame)
            compressions += table.compress_idle(table.clock, 0, by_age=False)
    table.flush()
    return docs, compressions


def test_every_corpus_capture_gives_the_same_sessions_when_every_session_is_compressed_after_every_packet() -> None:
    compressions = 0
    for path in _corpus():
        expected: list[str] = []
        parse_capture(str(path), Settings(), lambda s, out=expected: out.append(_doc(s)))  # type: ignore[misc]
        docs, made = _compressing_everything(path)
        compressions += made
        assert sorted(docs) == sorted(expected), path.name
    assert compressions > 5_000  # the corpus went through compression, not a few sessions


def test_the_state_of_a_session_is_every_field_but_the_tables_in_the_named_order() -> None:
    table_fields = {"key", "queue", "older", "newer", "age_older", "age_newer"}
    assert list(STATE_FIELDS) == [name for name in field_names(Session) if name not in table_fields]
    s = Scenario(3)
    s.answer(1)
    session = s.table.tables[Q_TCP][_key(s, 1)]
    state = session.state()
    copy = Session(b"k", Q_TCP, s.decoder.decode(0, 0, 0, s.flows[2].data(0, b"", advance=False), 0, LINK_ETHERNET))
    copy.restore(state)
    for i, name in enumerate(STATE_FIELDS):
        value = getattr(session, name)
        assert state[i] == (value.tobytes() if name == "positions" else value), name
        assert getattr(copy, name) == value, name


# --- the table's use of it -------------------------------------------------------------------------


class Scenario:
    """TCP sessions with an HTTP request each, opened 1 ms apart, through a real table; packet
    time moves on by sweeps, as a capture's idle loop moves it."""

    def __init__(self, n: int, **settings: Any) -> None:
        self.settings = Settings().replace(**settings)
        self.saved: list[tuple[int, str]] = []  # (packet-time second of the save, document)
        self.table = SessionTable(self.settings, self._save, make_app_layer(self.settings))
        self.decoder = Decoder()
        self.ts = START
        self.flows = [TcpFlow(f"10.1.0.{i // 200 + 1}", "192.168.1.1", 20000 + i % 200, 80) for i in range(n)]
        for flow in self.flows:
            for packet in [*flow.handshake(), flow.data(0, b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n")]:
                self.packet(packet)

    def _save(self, session: Session) -> None:
        self.saved.append((self.table.clock // 1_000_000, _doc(session)))

    def packet(self, data: bytes) -> None:
        self.ts += 1000
        frame = self.decoder.decode(self.ts, len(data), len(data), data, self.ts % 1_000_000_007, LINK_ETHERNET)
        assert frame is not None
        self.table.add(frame)

    def answer(self, i: int) -> None:
        self.packet(self.flows[i].data(1, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))

    def wait(self, seconds: int) -> None:
        """Let packet time pass, one sweep a second (what ``CaptureSink.sweep`` does when idle)."""
        for _ in range(seconds):
            self.ts += 1_000_000
            self.table.clock = self.ts
            self.table.sweep(self.ts)

    def end(self) -> list[tuple[int, str]]:
        self.table.flush()
        return sorted(self.saved)


def _both(run: Any, above: int = 10, **settings: Any) -> tuple[Scenario, list[tuple[int, str]]]:
    """The scenario with compression on (every idle session past the first ``above``), checked
    against the same scenario with it off."""
    plain = Scenario(60, compressSessionsAbove=10_000_000, **settings)
    compressed = Scenario(60, compressSessionsAbove=above, **settings)
    run(plain)
    run(compressed)
    saved = compressed.end()
    assert saved == plain.end()
    return compressed, saved


def test_idle_sessions_past_the_limit_are_compressed_and_expanded_at_their_next_packet() -> None:
    def run(s: Scenario) -> None:
        s.wait(2)
        if s.table.compress_above == 10:
            assert s.table.count == 60
            assert s.table.count - s.table.compressed_count == 10  # the other 50 are bytes now
            assert s.table.compressor.refused == 0
        for i in range(0, 60, 3):
            s.answer(i)
        if s.table.compress_above == 10:  # an answered session is an object again, the others wait
            assert all(_key(s, i) in s.table.tables[Q_TCP] for i in range(0, 60, 3))
            assert s.table.compressed_count >= 60 - 10 - 20
        s.wait(2)

    compressed, saved = _both(run)
    assert len(saved) == 60
    answered = [json.loads(doc) for _, doc in saved if "http.statuscode" in json.loads(doc)]
    assert len(answered) == 20 and all(d["network.packets"] == 5 for d in answered)


def test_compressed_sessions_time_out_and_are_segmented_at_the_same_second() -> None:
    def run(s: Scenario) -> None:
        s.wait(3)
        for i in range(0, 60, 2):
            s.answer(i)  # woken by a packet, then compressed again
        s.wait(45)  # tcpSaveTimeout 20: a segment of each (all had packets); tcpTimeout 30: the rest

    compressed, saved = _both(run, tcpTimeout=30, tcpSaveTimeout=20)
    assert compressed.table.count == 0
    seconds = {second for second, _ in saved}
    assert len(seconds) > 2  # saved over several sweeps, by their timeouts, not all at the flush
    assert len(saved) == 120  # each session's first segment at tcpSaveTimeout, its last at tcpTimeout


def test_a_long_conversation_must_be_quiet_for_a_quarter_of_its_age_before_it_is_compressed() -> None:
    s = Scenario(60, compressSessionsAbove=0)
    s.wait(2)
    for _ in range(40):  # flow 0 goes on for 40 s more: 40 s old
        s.packet(s.flows[0].data(0, b"x"))
        s.wait(1)
    assert _key(s, 0) in s.table.tables[Q_TCP]  # quiet 1 s: not yet
    s.wait(8)
    assert _key(s, 0) in s.table.tables[Q_TCP]  # quiet 9 s, less than a quarter of 41 s
    s.wait(3)
    assert _key(s, 0) in s.table.compressed[Q_TCP]  # quiet 12 s


def test_a_full_table_saves_a_compressed_session_first() -> None:
    def run(s: Scenario) -> None:
        s.wait(2)
        for i in range(10):  # more sessions than maxStreams: the longest idle ones are saved early
            flow = TcpFlow("10.9.0.1", "192.168.1.1", 30000 + i, 443)
            for packet in flow.handshake():
                s.packet(packet)

    compressed, saved = _both(run, maxStreams=62)
    assert compressed.table.count == 0 and len(saved) == 70


def test_a_session_hashing_a_body_is_left_as_it_is_until_the_body_ends() -> None:
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000

    def run(s: Scenario) -> None:
        s.packet(s.flows[0].data(1, body))  # an MD5 and a SHA-256 of the body are running
        s.wait(2)
        if s.table.compress_above == 0:
            assert s.table.compressor.refused >= 1
            assert _key(s, 0) in s.table.tables[Q_TCP]
        for _ in range(3):  # the body ends: its digests are kept, the hashes dropped
            s.packet(s.flows[0].data(1, b"y" * 33000))
        s.wait(2)
        if s.table.compress_above == 0:
            assert _key(s, 0) in s.table.compressed[Q_TCP]

    compressed, saved = _both(run, above=0)
    (doc,) = [json.loads(d) for _, d in saved if "http.md5" in json.loads(d)]
    assert doc["http.md5"] and doc["http.sha256"]


def _key(s: Scenario, i: int) -> bytes:
    """The table key of flow ``i`` (see ``SessionTable._key``: lower address first)."""
    flow = s.flows[i]
    frame = s.decoder.decode(0, 0, 0, flow.data(0, b"", advance=False), 0, LINK_ETHERNET)
    assert frame is not None
    return s.table._key(frame)[0]


def test_a_compressed_http_session_is_a_small_fraction_of_its_objects() -> None:
    s = Scenario(200, compressSessionsAbove=0)
    s.wait(2)
    table = s.table
    blobs = [blob for blobs in table.compressed for blob in blobs.values()]
    assert len(blobs) >= 190  # all but the few the compressor learnt its dictionary from
    assert sum(map(len, blobs)) / len(blobs) < 150  # bytes, against ~1.5 KB of objects
    assert isinstance(table.compressor, SessionCompressor)
