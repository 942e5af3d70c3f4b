"""Live capture over a veth pair in a network namespace the test creates, fed by tcpreplay.

Every packet tcpreplay sends must arrive in the PCAP store, byte for byte, and the live sessions
must be those ``fukurou parse`` finds in the same capture. tcpreplay squeezes an hour of traffic
into well under a second, so both sides run with timeouts longer than the capture (no session is
cut by idle time on either side); otherwise the comparison would measure the clock, not capture.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.readers import open_capture

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT.parent / "shared" / "bench" / "make_bench_pcap.py"
KEY_FIELDS = ("ipProtocol", "source.ip", "source.port", "destination.ip", "destination.port",
              "network.packets", "network.bytes", "totDataBytes")
LONG_TIMEOUTS = {"tcpTimeout": 86400, "udpTimeout": 86400, "icmpTimeout": 86400, "sctpTimeout": 86400,
                 "espTimeout": 86400, "tcpSaveTimeout": 7200, "tcpClosingTimeout": 3600}


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "live capture needs root (network namespaces, veth, raw sockets); CI runs as root"
    for tool in ("ip", "tcpreplay"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not GENERATOR.exists():
        return f"{GENERATOR} (the capture generator) is missing"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


@pytest.fixture
def veth() -> Iterator[str]:
    """A namespace with a veth pair fka<->fkb, up, IPv6 off (no stray neighbour discovery)."""
    ns = f"fukurou-test-{os.getpid()}"
    run("ip", "netns", "add", ns)
    try:
        run("ip", "-n", ns, "link", "add", "fka", "type", "veth", "peer", "name", "fkb")
        run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        for link in ("fka", "fkb"):
            run("ip", "-n", ns, "link", "set", link, "mtu", "65535", "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def config(tmp: Path, **extra: Any) -> Path:
    values = {"pcapDir": tmp / "pcap", "dbPath": tmp / "db.sqlite", "interface": "fkb", "snapLen": 65535,
              "pcapBufferSize": 64 << 20, "maxFileSizeG": 0.001, **LONG_TIMEOUTS, **extra}
    path = tmp / "config.ini"
    path.write_text("[default]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()))
    return path


def key_fields(lines: list[str]) -> Counter[tuple[Any, ...]]:
    keys: Counter[tuple[Any, ...]] = Counter()
    for line in lines:
        doc = json.loads(line)
        flat = {**doc, **{f"{k}.{s}": v for k, sub in doc.items() if isinstance(sub, dict) for s, v in sub.items()}}
        keys[tuple(flat.get(f) for f in KEY_FIELDS)] += 1
    return keys


def start_capture(ns: str, cfg: Path, jsonl: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "appliance.capture.live",
                             "--config", str(cfg), "--jsonl", str(jsonl)],
                            cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "capturing":
        proc.kill()
        pytest.fail(f"capture did not start: {line}{proc.stderr.read() if proc.stderr else ''}")
    return proc


def test_tcpreplay_over_veth_every_packet_and_the_same_sessions(tmp_path: Path, veth: str) -> None:
    capture = tmp_path / "replay.pcap"
    run(sys.executable, str(GENERATOR), "--size", "8M", "--duration", "1h", "--no-sessions", "-o", str(capture))
    cfg = config(tmp_path)
    jsonl = tmp_path / "live.jsonl"
    proc = start_capture(veth, cfg, jsonl)
    try:
        replay = run("ip", "netns", "exec", veth, "tcpreplay", "-i", "fka", "--mbps", "100", str(capture))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert re.search(r"Failed packets:\s+0\n", replay.stdout), replay.stdout

    with open_capture(str(capture)) as reader:
        sent = [bytes(data) for _, _, _, data, _, _ in reader]
    stored = []
    pcap_dir = tmp_path / "pcap"
    for name in sorted(n for n in os.listdir(pcap_dir) if not n.startswith(".")):
        with open_capture(str(pcap_dir / name)) as reader:
            stored += [(caplen, wirelen, data) for _, caplen, wirelen, data, _, _ in reader]
    assert "dropped=0" in out, out
    assert len(stored) == len(sent), out
    assert [data for _, _, data in stored] == sent  # every packet, in order, byte for byte
    assert all(caplen == wirelen for caplen, wirelen, _ in stored)  # next_batch: wirelen recorded as caplen

    parsed = subprocess.run([sys.executable, "-m", "appliance", "--config", str(cfg), "parse", "--format", "jsonl",
                             str(capture)], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    live_keys, parse_keys = key_fields(jsonl.read_text().splitlines()), key_fields(parsed.splitlines())
    assert sum(live_keys.values()) == sum(parse_keys.values())
    assert live_keys == parse_keys
