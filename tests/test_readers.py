"""Capture readers: every format gives the same records; damage is reported, not raised; CLI exit codes."""

from __future__ import annotations

import io
import json
import os
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pcapgen as g
import pytest

from appliance.documents import flat_document
from appliance.pipeline import parse_capture
from appliance.readers import END, CaptureError, open_capture
from appliance.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "pcaps" / "arkime"


def make_records(count: int = 60, seed: int = 7) -> list[tuple[int, bytes, int]]:
    """Varied packets: TCP, UDP, ICMP, IPv6, some cut short by a snap length (wirelen > caplen)."""
    rnd = random.Random(seed)
    out = []
    ts = 1_500_000_000_123_456
    for n in range(count):
        kind = n % 4
        body = rnd.randbytes(rnd.randrange(0, 300))
        if kind == 0:
            pkt = g.ethernet(g.ipv4(g.tcp(1000 + n, 80, g.ACK | g.PSH, n * 1000, 1, body)))
        elif kind == 1:
            pkt = g.ethernet(g.ipv4(g.udp(5000, 53, body), "192.168.1.2", "192.168.1.1"))
        elif kind == 2:
            pkt = g.ethernet(g.ipv6(g.udp(5000 + n, 443, body)))
        else:
            pkt = g.ethernet(g.ipv4(g.icmp(payload=body)))
        wirelen = len(pkt)
        if n % 7 == 3:  # snapped: the capture has less than the wire
            pkt = pkt[:60]
        ts += rnd.randrange(1, 3_000_000)
        out.append((ts, pkt, wirelen))
    return out


RECORDS = make_records()

FORMATS = {
    "pcap-le-us": lambda r: g.pcap_bytes(r, endian="<"),
    "pcap-be-us": lambda r: g.pcap_bytes(r, endian=">"),
    "pcap-le-ns": lambda r: g.pcap_bytes(r, endian="<", nanos=True),
    "pcap-be-ns": lambda r: g.pcap_bytes(r, endian=">", nanos=True),
    "pcapng-le": lambda r: g.pcapng_bytes(r, endian="<"),
    "pcapng-be": lambda r: g.pcapng_bytes(r, endian=">"),
    "pcapng-le-ns": lambda r: g.pcapng_bytes(r, endian="<", tsresol=9),
    "pcapng-be-ns": lambda r: g.pcapng_bytes(r, endian=">", tsresol=9),
    "pcapng-ms": lambda r: g.pcapng_bytes(r, tsresol=3, comment=False),
    "pcap-le-us-gz": lambda r: g.gzipped(g.pcap_bytes(r)),
    "pcap-be-ns-gz": lambda r: g.gzipped(g.pcap_bytes(r, endian=">", nanos=True)),
    "pcapng-be-gz": lambda r: g.gzipped(g.pcapng_bytes(r, endian=">")),
}


def read_all(path: str) -> tuple[list[tuple[int, int, int, bytes, int, int]], object]:
    with open_capture(path) as reader:
        records = list(reader)
        return records, reader.damage


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_gives_the_same_records(tmp_path: Path, fmt: str) -> None:
    records = RECORDS
    if fmt == "pcapng-ms":  # millisecond units: the expected times lose their microseconds
        records = [(ts - ts % 1000, d, w) for ts, d, w in RECORDS]
    path = g.write(tmp_path / "cap", FORMATS[fmt](records))
    got, damage = read_all(path)
    assert damage is None
    assert [(ts, caplen, wirelen, data, linktype) for ts, caplen, wirelen, data, _, linktype in got] == [
        (ts, len(d), w, d, 1) for ts, d, w in records
    ]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_next_record_gives_the_records_then_end_for_good(tmp_path: Path, fmt: str) -> None:
    """The packet path's ``next_record`` and iteration give the same records; after the last,
    every call answers END (caplen -1), also on a file cut inside a record."""
    data = FORMATS[fmt](RECORDS)
    for name, content in (("whole", data), ("cut", data[: len(data) * 2 // 3])):
        path = g.write(tmp_path / name, content)
        expected, damage = read_all(path)
        with open_capture(path) as reader:
            got = []
            while (record := reader.next_record())[1] >= 0:
                got.append(record)
            assert [reader.next_record() for _ in range(3)] == [END] * 3
            assert got == expected and (reader.damage is None) == (damage is None)


@pytest.mark.parametrize("fmt", ["pcap-le-us", "pcap-be-ns", "pcap-le-us-gz"])
def test_pcap_offsets_are_record_positions(tmp_path: Path, fmt: str) -> None:
    path = g.write(tmp_path / "cap", FORMATS[fmt](RECORDS))
    got, _ = read_all(path)
    assert [r[4] for r in got] == g.pcap_offsets(RECORDS)


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("tsresol", [None, 9])
def test_pcapng_offsets_are_block_positions(tmp_path: Path, endian: str, tsresol: int | None) -> None:
    path = g.write(tmp_path / "cap", g.pcapng_bytes(RECORDS, endian=endian, tsresol=tsresol))
    got, _ = read_all(path)
    assert [r[4] for r in got] == g.pcapng_offsets(RECORDS, tsresol=tsresol)


def test_header_fields(tmp_path: Path) -> None:
    path = g.write(tmp_path / "cap", g.pcap_bytes(RECORDS[:2], linktype=g.LINK_SLL2, endian=">", snaplen=1600))
    with open_capture(path) as reader:
        assert (reader.linktype, reader.snaplen) == (g.LINK_SLL2, 1600)
        assert [r[5] for r in reader] == [g.LINK_SLL2, g.LINK_SLL2]


def test_record_header_is_the_files_own_only_where_the_store_writes_the_same(tmp_path: Path) -> None:
    records = [(1_600_000_000_123_456, b"a" * 60), (1_600_000_001_000_001, b"b" * 70, 1500)]
    path = g.write_pcap(tmp_path / "le.pcap", records)
    raw = Path(path).read_bytes()
    with open_capture(path) as reader:
        assert reader.record_header() is None  # before the first record
        reader.next_record()
        assert reader.record_header() == raw[24:40]
        reader.next_record()
        assert reader.record_header() == raw[24 + 16 + 60: 24 + 16 + 60 + 16]
        assert reader.next_record() == END
    for kwargs in ({"endian": ">"}, {"nanos": True}):
        with open_capture(g.write_pcap(tmp_path / "other.pcap", records, **kwargs)) as reader:
            reader.next_record()
            assert reader.record_header() is None
    with open_capture(g.write(tmp_path / "ng.pcapng", g.pcapng_bytes(records))) as reader:
        reader.next_record()
        assert reader.record_header() is None
    # A fraction of a second written as 1,000,000 or more: not a header the store would write.
    odd = g.pcap_header() + struct.pack("<IIII", 1_600_000_000, 1_500_000, 4, 4) + b"abcd"
    with open_capture(g.write(tmp_path / "odd.pcap", odd)) as reader:
        assert reader.next_record()[0] == 1_600_000_001_500_000
        assert reader.record_header() is None


def test_pcap_linktype_fcs_bits_are_masked(tmp_path: Path) -> None:
    path = g.write(tmp_path / "cap", g.pcap_bytes(RECORDS[:1], linktype=0x10000000 | 1))
    got, _ = read_all(path)
    assert got[0][5] == 1


def test_pcapng_binary_time_resolution(tmp_path: Path) -> None:
    # if_tsresol 0x94: units of 2**-20 s; a whole number of seconds converts exactly.
    records = [(1_600_000_000_000_000 + n * 1_000_000, b"\0" * 60) for n in range(3)]
    path = g.write(tmp_path / "cap", g.pcapng_bytes(records, tsresol=0x80 | 20))
    got, _ = read_all(path)
    assert [r[0] for r in got] == [r[0] for r in records]


def test_large_file_across_read_chunks(tmp_path: Path) -> None:
    """More than one 1 MiB read: records that straddle a chunk boundary come out whole."""
    rnd = random.Random(3)
    records = g.timed([rnd.randbytes(rnd.randrange(60, 1600)) for _ in range(3000)])
    path = g.write(tmp_path / "big.pcap", g.pcap_bytes(records))
    assert os.path.getsize(path) > 2 << 20
    got, damage = read_all(path)
    assert damage is None
    assert [r[3] for r in got] == [r[1] for r in records]
    assert [r[4] for r in got] == g.pcap_offsets(records)


# --- damage ---------------------------------------------------------------------------------

def _cuts(offsets: list[int], total: int) -> list[tuple[int, int]]:
    """(cut position, index of the first record that is incomplete) pairs."""
    rnd = random.Random(11)
    out = []
    ends = offsets[1:] + [total]
    for k in (0, 1, 5, len(offsets) // 2, len(offsets) - 1):
        start, end = offsets[k], ends[k]
        out.append((start + 1, k))  # inside the record header
        out.append((start + 15, k))  # one byte short of the header
        out.append((rnd.randrange(start + 16, end), k))  # inside the packet data
        out.append((end - 1, k))  # one byte short of the whole record
    return out


@pytest.mark.parametrize("endian", ["<", ">"])
def test_truncated_pcap_keeps_every_complete_record(tmp_path: Path, endian: str) -> None:
    data = g.pcap_bytes(RECORDS, endian=endian)
    offsets = g.pcap_offsets(RECORDS)
    for cut, k in _cuts(offsets, len(data)):
        path = g.write(tmp_path / f"cut{cut}.pcap", data[:cut])
        got, damage = read_all(path)
        assert [r[3] for r in got] == [r[1] for r in RECORDS[:k]], cut
        assert damage is not None, cut
        assert damage.offset == offsets[k], cut


def test_cut_at_a_record_boundary_is_not_damage(tmp_path: Path) -> None:
    data = g.pcap_bytes(RECORDS)
    offsets = g.pcap_offsets(RECORDS)
    for k in (0, 10, len(RECORDS) - 1):
        got, damage = read_all(g.write(tmp_path / "c.pcap", data[: offsets[k]]))
        assert len(got) == k
        assert damage is None


@pytest.mark.parametrize("endian", ["<", ">"])
def test_truncated_pcapng_keeps_every_complete_block(tmp_path: Path, endian: str) -> None:
    data = g.pcapng_bytes(RECORDS, endian=endian)
    offsets = g.pcapng_offsets(RECORDS)
    for cut, k in _cuts(offsets, len(data)):
        got, damage = read_all(g.write(tmp_path / "cut.pcapng", data[:cut]))
        assert [r[3] for r in got] == [r[1] for r in RECORDS[:k]], cut
        assert damage is not None, cut
        assert damage.offset == offsets[k], cut


def test_absurd_record_length_is_damage(tmp_path: Path) -> None:
    data = bytearray(g.pcap_bytes(RECORDS))
    offsets = g.pcap_offsets(RECORDS)
    k = 9
    struct.pack_into("<I", data, offsets[k] + 8, 0xFFFFFFF0)
    got, damage = read_all(g.write(tmp_path / "bad.pcap", bytes(data)))
    assert len(got) == k
    assert damage is not None and damage.offset == offsets[k]


def test_bad_pcapng_block_length_is_damage(tmp_path: Path) -> None:
    data = bytearray(g.pcapng_bytes(RECORDS))
    offsets = g.pcapng_offsets(RECORDS)
    k = 4
    struct.pack_into("<I", data, offsets[k] + 4, 13)  # not a multiple of 4
    got, damage = read_all(g.write(tmp_path / "bad.pcapng", bytes(data)))
    assert len(got) == k
    assert damage is not None and damage.offset == offsets[k]


def test_pcapng_captured_length_past_its_block_keeps_what_the_block_holds(tmp_path: Path) -> None:
    """A damaged enhanced packet block claims more bytes than it has (found by the fuzzer: the
    IPv4 fast path then indexed past the data): the record carries what is there, and says so."""
    data = bytearray(g.pcapng_bytes(RECORDS))
    offsets = g.pcapng_offsets(RECORDS)
    k = 4
    struct.pack_into("<I", data, offsets[k] + 20, 61803)  # the EPB's captured length
    path = g.write(tmp_path / "long.pcapng", bytes(data))
    got, damage = read_all(path)
    assert damage is None and len(got) == len(RECORDS)
    assert all(caplen == len(packet) for _, caplen, _, packet, _, _ in got)
    block_len = struct.unpack_from("<I", data, offsets[k] + 4)[0]
    assert got[k][3] == bytes(data[offsets[k] + 28 : offsets[k] + block_len - 4])
    parse_capture(path, Settings(), lambda session: None)  # no exception, parsers on
    parse_capture(path, Settings(), lambda session: None, parsers=False)


def test_truncated_gzip_is_damage_not_an_exception(tmp_path: Path) -> None:
    data = g.gzipped(g.pcap_bytes(RECORDS))
    got, damage = read_all(g.write(tmp_path / "cut.pcap.gz", data[: len(data) // 2]))
    assert damage is not None
    assert len(got) < len(RECORDS)
    assert [r[3] for r in got] == [r[1] for r in RECORDS[: len(got)]]


def _big_records() -> list[tuple[int, bytes]]:
    rnd = random.Random(5)
    # Incompressible payloads, 2.2 MB: the cut lands beyond the first 1 MiB read of the reader.
    return g.timed([g.ethernet(g.ipv4(g.udp(1, 2, rnd.randbytes(rnd.randrange(0, 1400))))) for _ in range(3000)])


def test_truncated_gzip_pcap_keeps_every_complete_record(tmp_path: Path) -> None:
    records = _big_records()
    raw = g.pcap_bytes(records)
    gz = g.gzipped(raw)
    cut = gz[: len(gz) // 2]
    # Everything zlib can decode from the cut stream is what a reader can hope to keep.
    available = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(cut)
    offsets = g.pcap_offsets(records)
    complete = sum(1 for o, r in zip(offsets, records, strict=True) if o + 16 + len(r[1]) <= len(available))
    got, damage = read_all(g.write(tmp_path / "cut.pcap.gz", cut))
    assert damage is not None
    assert len(got) == complete
    assert damage.offset == offsets[complete]


def test_truncated_gzip_pcapng_is_damage_not_an_exception(tmp_path: Path) -> None:
    gz = g.gzipped(g.pcapng_bytes(RECORDS))
    got, damage = read_all(g.write(tmp_path / "cut.pcapng.gz", gz[: len(gz) // 2]))
    assert damage is not None
    assert 0 < len(got) < len(RECORDS)


# --- not a capture ----------------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    b"",
    b"\xd4\xc3",
    b"hello, this is a text file and not a capture\n" * 10,
    b"\x7fELF\x02\x01\x01" + b"\0" * 100,
    g.gzipped(b""),
    g.gzipped(b"just text inside gzip\n"),
    b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00",  # a pcap magic with a cut file header
], ids=["empty", "two-bytes", "text", "elf", "gzip-empty", "gzip-text", "short-pcap-header"])
def test_not_a_capture_raises_capture_error(tmp_path: Path, content: bytes) -> None:
    path = g.write(tmp_path / "x", content)
    with pytest.raises(CaptureError):
        with open_capture(path) as reader:
            list(reader)


def test_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        open_capture(str(tmp_path / "nope.pcap"))


# --- the same sessions whatever the container ---------------------------------------------------

def _corpus_sample() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    files = sorted(CORPUS.glob("*.pcap"))
    return files[:: max(1, len(files) // 8)][:8]


def _docs(path: str) -> list[dict]:
    out: list[dict] = []
    # Packet positions are byte offsets in the container, so they differ between formats.
    keep = lambda doc: {k: v for k, v in doc.items() if k not in ("packetPos", "fileId")}  # noqa: E731
    parse_capture(path, Settings(), lambda s: out.append(keep(flat_document(s))), parsers=False)
    return sorted(out, key=lambda d: json.dumps(d, sort_keys=True, default=str))


@pytest.mark.parametrize("fmt", ["pcap-be-ns", "pcapng-le", "pcapng-be-gz"])
def test_corpus_rewritten_gives_the_same_sessions(tmp_path: Path, fmt: str) -> None:
    sample = _corpus_sample()
    if not sample:
        pytest.skip("../shared/pcaps/arkime is absent")
    for src in sample:
        with open_capture(str(src)) as reader:
            records = [(ts, data, wirelen) for ts, _, wirelen, data, _, _ in reader]
            linktype = reader.linktype
        assert records, src
        if fmt == "pcap-be-ns":
            blob = g.pcap_bytes(records, linktype=linktype, endian=">", nanos=True)
        elif fmt == "pcapng-le":
            blob = g.pcapng_bytes(records, linktype=linktype)
        else:
            blob = g.gzipped(g.pcapng_bytes(records, linktype=linktype, endian=">"))
        copy = g.write(tmp_path / (src.name + "." + fmt), blob)
        original, rewritten = _docs(str(src)), _docs(copy)
        assert len(original) == len(rewritten), src
        # packetPos differs between containers; _docs leaves it out.
        assert original == rewritten, src


# --- the command line --------------------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "appliance", "parse", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("cli")
    flow = g.TcpFlow()
    packets = flow.handshake() + [flow.data(0, b"hello"), flow.data(1, b"world")] + flow.close()
    packets.append(g.ethernet(g.ipv4(g.udp(4000, 53, b"\0" * 20), "10.0.0.9", "10.0.0.1")))
    records = g.timed(packets)
    data = g.pcap_bytes(records)
    offsets = g.pcap_offsets(records)
    return {
        "good": g.write(d / "good.pcap", data),
        "gz": g.write(d / "good.pcap.gz", g.gzipped(data)),
        "ng": g.write(d / "good.pcapng", g.pcapng_bytes(records)),
        "truncated": g.write(d / "truncated.pcap", data[: offsets[5] + 30]),
        "text": g.write(d / "notes.txt", b"not a capture\n"),
    }


def test_cli_normal_exit_0(cli_files: dict[str, str]) -> None:
    for name in ("good", "gz", "ng"):
        res = run_cli("--format", "jsonl", cli_files[name])
        assert res.returncode == 0, res.stderr
        docs = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
        assert len(docs) == 2
        assert sorted(d["network"]["packets"] for d in docs) == [1, 8]
        assert res.stderr == ""


def test_cli_formats(cli_files: dict[str, str]) -> None:
    res = run_cli("--format", "arkime", cli_files["good"])
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)["sessions3"]) == 2
    res = run_cli("--no-parsers", cli_files["good"])  # default table
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 3  # heading and two sessions


def test_arkime_export_writes_ttl_lists_as_arkime_does() -> None:
    """sessions3 documents: several TTLs as strings (["62", "63"]), one as a number ([61]), as in
    Arkime's documents; the JSON lines keep numbers throughout."""
    path = CORPUS / "mongo.pcap"
    if not path.exists():
        pytest.skip("../shared/pcaps/arkime is absent")
    from appliance.output import SessionWriter
    from appliance.pipeline import parse_capture
    from appliance.settings import Settings

    outputs = {}
    for fmt in ("arkime", "jsonl"):
        out = io.StringIO()
        writer = SessionWriter(fmt, out)
        parse_capture(str(path), Settings(), writer.write)
        writer.close()
        text = out.getvalue()
        outputs[fmt] = ([d["body"] for d in json.loads(text)["sessions3"]] if fmt == "arkime"
                        else [json.loads(line) for line in text.splitlines()])
    ttls = [d["srcTTL"] for d in outputs["arkime"]]
    assert ["62", "63"] in ttls and [61] in ttls
    assert all(isinstance(v, int) for d in outputs["jsonl"] for v in d["srcTTL"] + d.get("dstTTL", []))


def test_cli_truncated_warns_and_exits_0(cli_files: dict[str, str]) -> None:
    res = run_cli("--format", "jsonl", cli_files["truncated"])
    assert res.returncode == 0, res.stderr
    assert "damaged" in res.stderr and cli_files["truncated"] in res.stderr
    docs = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert sum(d["network"]["packets"] for d in docs) == 5  # every complete record


def test_cli_truncated_strict_exits_1(cli_files: dict[str, str]) -> None:
    res = run_cli("--strict", "--format", "jsonl", cli_files["truncated"])
    assert res.returncode == 1
    assert "damaged" in res.stderr
    assert res.stdout.strip()  # the sessions up to the damage are still printed


def test_cli_strict_on_a_good_file_exits_0(cli_files: dict[str, str]) -> None:
    assert run_cli("--strict", cli_files["good"]).returncode == 0


def test_cli_not_a_capture_exits_2(cli_files: dict[str, str], tmp_path: Path) -> None:
    res = run_cli(cli_files["text"])
    assert res.returncode == 2
    assert "not a pcap" in res.stderr
    assert "Traceback" not in res.stderr
    res = run_cli(str(tmp_path / "missing.pcap"))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr


def test_cli_not_a_capture_among_good_ones(cli_files: dict[str, str]) -> None:
    res = run_cli("--format", "jsonl", cli_files["good"], cli_files["text"], cli_files["truncated"])
    assert res.returncode == 2
    docs = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert len(docs) >= 3  # the good and the truncated file were still parsed


def test_cli_closed_stdout_is_not_an_error(tmp_path: Path) -> None:
    packets = [g.ethernet(g.ipv4(g.udp(10000 + n % 50000, 53, b"q"), f"10.{n // 60000}.{n // 250 % 240}.{n % 250 + 1}"))
               for n in range(4000)]
    path = g.write_pcap(tmp_path / "many.pcap", g.timed(packets))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "appliance", "parse", "--format", "jsonl", path], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()  # like `| head -1`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Broken pipe" not in err
