"""Mutated and truncated corpus captures through ``parse_capture``: nothing may escape but CaptureError.

Seeded, so a failure is reproducible: the report names the seed, the case and the mutation, and the
failing input is kept in pytest's tmp_path. ``benchmarks/fuzz.py`` runs the same campaign at scale
(it imports ``make_case`` and ``run_case`` from here).
"""

from __future__ import annotations

import random
import struct
import traceback
from collections.abc import Callable
from pathlib import Path

import pcapgen as g
import pytest

from appliance.pipeline import parse_capture
from appliance.readers import CaptureError, open_capture
from appliance.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "pcaps" / "arkime"
LINKTYPES = (0, 1, 9, 12, 101, 107, 108, 113, 228, 229, 276, 147)

Records = list[tuple[int, bytes, int]]


class Source:
    """One seed capture: its bytes, its records and its link type."""

    def __init__(self, name: str, blob: bytes, records: Records, linktype: int) -> None:
        self.name, self.blob, self.records, self.linktype = name, blob, records, linktype


def _generated_sources() -> list[Source]:
    """Captures made here, used beside the corpus (and instead of it when ../shared is absent)."""
    rnd = random.Random(1)
    packets = []
    f = g.TcpFlow()
    packets += f.handshake() + [f.data(n % 2, rnd.randbytes(rnd.randrange(1, 400))) for n in range(10)] + f.close()
    packets += [g.ethernet(g.ipv4(g.udp(5353, 53, rnd.randbytes(40))), vlans=[5])]
    packets += [g.ethernet(p) for p in g.ipv4_fragments(g.udp(1, 2, rnd.randbytes(300)), size=64)]
    packets += [g.ethernet(g.ipv4(g.gre(g.ipv4(g.udp(3, 4, b"gre"))), "192.0.2.1", "192.0.2.2"))]
    packets += [g.ethernet(g.ipv4(g.vxlan(g.ethernet(g.ipv4(g.udp(5, 6, b"vx"))))))]
    packets += [g.ethernet(g.mpls(g.ipv4(g.icmp())), ethertype=g.ETH_MPLS)]
    packets += [g.ethernet(g.pppoe(g.ipv6(g.tcp(7, 8, g.SYN))), ethertype=g.ETH_PPPOE)]
    records = [(ts, p, len(p)) for ts, p in g.timed(packets)]
    return [Source("generated.pcap", g.pcap_bytes(records), records, 1)]


def load_sources() -> list[Source]:
    sources = _generated_sources()
    if CORPUS.is_dir():
        for path in sorted(CORPUS.glob("*.pcap")):
            with open_capture(str(path)) as reader:
                records = [(ts, data, wirelen) for ts, _, wirelen, data, _, _ in reader]
                linktype = reader.linktype
            sources.append(Source(path.name, path.read_bytes(), records, linktype))
    return sources


# --- mutations: each takes (rnd, source) and returns the bytes of a capture file -----------------

def _pcap(src: Source, rnd: random.Random) -> bytes:
    """The source as classic pcap, sometimes rewritten big-endian / nanoseconds."""
    choice = rnd.random()
    if choice < 0.6:
        return src.blob
    return g.pcap_bytes(src.records, linktype=src.linktype, endian=rnd.choice("<>"), nanos=rnd.random() < 0.5)


def _container(src: Source, rnd: random.Random) -> tuple[bytes, str]:
    if rnd.random() < 0.3:
        return g.pcapng_bytes(src.records, linktype=src.linktype, endian=rnd.choice("<>"),
                              tsresol=rnd.choice((None, 9, 3))), "pcapng"
    return _pcap(src, rnd), "pcap"


def flip_bytes(rnd: random.Random, src: Source) -> bytes:
    blob, _ = _container(src, rnd)
    data = bytearray(blob)
    start = 24 if rnd.random() < 0.9 else 0  # mostly keep the file header, so the records get read
    for _ in range(rnd.randrange(1, 40)):
        if len(data) > start:
            data[rnd.randrange(start, len(data))] ^= rnd.randrange(1, 256)
    return bytes(data)


def truncate(rnd: random.Random, src: Source) -> bytes:
    blob, _ = _container(src, rnd)
    return blob[: rnd.randrange(0, len(blob) + 1)]


def splice_garbage(rnd: random.Random, src: Source) -> bytes:
    """Random bytes over part of some packet bodies; the record framing stays valid."""
    records = list(src.records)
    for _ in range(rnd.randrange(1, 6)):
        if not records:
            break
        k = rnd.randrange(len(records))
        ts, data, wirelen = records[k]
        if data:
            a = rnd.randrange(len(data))
            b = min(len(data), a + rnd.randrange(1, 64))
            data = data[:a] + rnd.randbytes(b - a) + data[b:]
        records[k] = (ts, data, wirelen)
    if rnd.random() < 0.3:
        return g.pcapng_bytes(records, linktype=src.linktype)
    return g.pcap_bytes(records, linktype=src.linktype, endian=rnd.choice("<>"))


def resize_bodies(rnd: random.Random, src: Source) -> bytes:
    """Packets cut short or grown with garbage: headers then claim more (or less) than is there."""
    records = []
    for ts, data, wirelen in src.records:
        r = rnd.random()
        if r < 0.2:
            data = data[: rnd.randrange(0, len(data) + 1)]
        elif r < 0.3:
            data = data + rnd.randbytes(rnd.randrange(1, 200))
        records.append((ts, data, wirelen))
    return g.pcap_bytes(records, linktype=src.linktype)


def insert_garbage(rnd: random.Random, src: Source) -> bytes:
    """Raw bytes inserted into the file: everything after is out of frame."""
    blob, _ = _container(src, rnd)
    at = rnd.randrange(24, max(25, len(blob)))
    return blob[:at] + rnd.randbytes(rnd.randrange(1, 100)) + blob[at:]


def absurd_length(rnd: random.Random, src: Source) -> bytes:
    """One record (or block) with a length that is huge, zero, odd, or a little too long."""
    if rnd.random() < 0.3 and src.records:
        data = bytearray(g.pcapng_bytes(src.records, linktype=src.linktype))
        offsets = g.pcapng_offsets(src.records)
        at = offsets[rnd.randrange(len(offsets))]
        field = rnd.choice((4, 20, 24))  # block length, captured length, original length
        struct.pack_into("<I", data, at + field, rnd.choice((0, 1, 13, 0xFFFFFFFF, 1 << 24, 1 << 31,
                                                              rnd.randrange(1 << 32))))
        return bytes(data)
    endian = rnd.choice("<>")
    data = bytearray(g.pcap_bytes(src.records, linktype=src.linktype, endian=endian))
    offsets = g.pcap_offsets(src.records)
    if not offsets:
        return bytes(data)
    at = offsets[rnd.randrange(len(offsets))]
    field = rnd.choice((8, 12))  # caplen, wirelen
    remaining = len(data) - at - 16
    value = rnd.choice((0xFFFFFFFF, (1 << 24) + 1, 1 << 31, 0, remaining + 1, remaining + 4096,
                        rnd.randrange(1 << 32)))
    struct.pack_into(endian + "I", data, at + field, value & 0xFFFFFFFF)
    return bytes(data)


def wrong_linktype(rnd: random.Random, src: Source) -> bytes:
    """Good records under another link type's header: every decoder meets bytes it did not expect."""
    records = src.records
    if rnd.random() < 0.5:  # and mangle some bodies too
        records = [(ts, bytes(b ^ 0x5A for b in d[:4]) + d[4:] if rnd.random() < 0.3 else d, w)
                   for ts, d, w in records]
    return g.pcap_bytes(records, linktype=rnd.choice(LINKTYPES), snaplen=rnd.choice((0, 64, 65535)))


def gzip_mutant(rnd: random.Random, src: Source) -> bytes:
    """A gzip'd classic pcap, then truncated or with its compressed bytes flipped."""
    data = bytearray(g.gzipped(_pcap(src, rnd)))
    if rnd.random() < 0.5:
        return bytes(data[: rnd.randrange(10, len(data) + 1)])
    for _ in range(rnd.randrange(1, 6)):
        data[rnd.randrange(10, len(data))] ^= rnd.randrange(1, 256)
    return bytes(data)


def gzip_pcapng_mutant(rnd: random.Random, src: Source) -> bytes:
    """A gzip'd pcapng, truncated."""
    data = g.gzipped(g.pcapng_bytes(src.records, linktype=src.linktype))
    return data[: rnd.randrange(10, len(data) + 1)]


MUTATORS: dict[str, Callable[[random.Random, Source], bytes]] = {
    "flip": flip_bytes,
    "truncate": truncate,
    "splice": splice_garbage,
    "resize": resize_bodies,
    "insert": insert_garbage,
    "absurd-length": absurd_length,
    "linktype": wrong_linktype,
}

# Damaged gzip input: its own test, because gzip damage takes a different path in the readers.
GZIP_MUTATORS: dict[str, Callable[[random.Random, Source], bytes]] = {
    "gzip": gzip_mutant,
    "gzip-pcapng": gzip_pcapng_mutant,
}


def make_case(rnd: random.Random, sources: list[Source],
              mutators: dict[str, Callable[[random.Random, Source], bytes]] = MUTATORS) -> tuple[str, str, bytes]:
    """(mutation name, source name, capture bytes) for one fuzz input."""
    src = rnd.choice(sources)
    name = rnd.choice(sorted(mutators))
    return name, src.name, mutators[name](rnd, src)


SETTINGS = Settings().replace(maxPackets=50, maxStreams=20)  # small limits: segments and evictions too


def run_case(path: str, parsers: bool, settings: Settings = SETTINGS) -> str | None:
    """Parse one input; None if it went well (or was refused with CaptureError), else the traceback."""
    saved = []
    try:
        stats = parse_capture(path, settings, saved.append, parsers=parsers)
    except CaptureError:
        return None
    except Exception:  # noqa: BLE001 - the point of the fuzz test
        return traceback.format_exc()
    if stats.sessions != len(saved):
        return f"stats.sessions {stats.sessions} != {len(saved)} sessions saved"
    return None


def campaign(tmp: Path, seed: int, count: int, sources: list[Source],
             mutators: dict[str, Callable[[random.Random, Source], bytes]] = MUTATORS) -> list[str]:
    """Run ``count`` inputs with parsers on and off; the list of failures (each a readable report)."""
    rnd = random.Random(seed)
    failures = []
    for case in range(count):
        name, src_name, blob = make_case(rnd, sources, mutators)
        path = tmp / f"seed{seed}-case{case}-{name}.cap"
        path.write_bytes(blob)
        failed = False
        for parsers in (False, True):
            error = run_case(str(path), parsers)
            if error is not None:
                failures.append(f"seed {seed} case {case} {name} of {src_name} parsers={parsers} "
                                f"input {path}:\n{error}")
                failed = True
        if not failed:
            path.unlink()
    return failures


_SOURCES: list[Source] = []


def sources() -> list[Source]:
    if not _SOURCES:
        _SOURCES.extend(load_sources())
    return _SOURCES


@pytest.mark.parametrize("seed", range(8))
def test_fuzz_mutated_captures(tmp_path: Path, seed: int) -> None:
    failures = campaign(tmp_path, seed, 40, sources())
    assert not failures, "\n".join(failures[:5])


def test_every_mutator_makes_inputs_that_differ(tmp_path: Path) -> None:
    rnd = random.Random(0)
    src = max(sources(), key=lambda s: len(s.records))
    for name, mutator in MUTATORS.items():
        blobs = {mutator(rnd, src) for _ in range(5)}
        assert len(blobs) > 1, name


def test_corpus_is_used() -> None:
    """The campaign runs on the real captures when they are there (and on generated ones always)."""
    names = {s.name for s in sources()}
    assert "generated.pcap" in names
    if CORPUS.is_dir():
        assert len(names) > 100


def test_fuzz_damaged_gzip(tmp_path: Path) -> None:
    failures = campaign(tmp_path, 99, 40, sources(), GZIP_MUTATORS)
    assert not failures, "\n".join(failures[:3])
