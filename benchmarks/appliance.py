#!/usr/bin/env python3
"""Memory and CPU of ``fukurou run`` (root, ip and tcpreplay needed).

    python3 benchmarks/appliance.py                  # 100,000 concurrent sessions, 200 MB home capture
    python3 benchmarks/appliance.py --sessions 20000 --size 50M

A veth pair in a network namespace; ``fukurou run`` (viewer on) captures on one end, tcpreplay
sends on the other. Reported:

* RSS idle: VmRSS a few seconds after start, nothing captured yet.
* RSS with N concurrent sessions: N TCP connections (SYN, SYN-ACK, ACK, one request), none
  closed, every timeout at its maximum so all stay open; VmRSS and VmHWM once the status record
  counts them open (past ``compressSessionsAbove``, the idle ones are compressed: the default
  setting, as a user has it), and how long SIGTERM then takes (every open session is saved on
  the way out).
* With two cores the store's batches are written by a child (``BatchWriter``): its RSS is given
  beside the main process's, and its CPU time is counted with the process's.
* CPU seconds per GB captured: utime+stime of the process (from /proc) over a replay of a
  ``make_bench_pcap --profile home`` capture at tcpreplay --mbps 100, divided by the bytes stored.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the package, ahead of this script's own name

from appliance.store.writer_process import child_pids  # noqa: E402

GENERATOR = ROOT.parent / "shared" / "bench" / "make_bench_pcap.py"
LONG = {"tcpTimeout": 86400, "udpTimeout": 86400, "tcpSaveTimeout": 7200, "tcpClosingTimeout": 3600}


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _tcp_frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp


def make_sessions_pcap(path: str, sessions: int) -> None:
    """``sessions`` TCP connections left open: handshake and one request each."""
    start = int(time.time())
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for n in range(sessions):
            client = bytes((10, 1 + n // 65536 % 250, n // 256 % 256, n % 256))
            server = bytes((192, 168, 1, 1))
            sport = 1024 + n % 60000
            frames = (_tcp_frame(client, server, sport, 80, 1000, 0, 0x02, b""),
                      _tcp_frame(server, client, 80, sport, 5000, 1001, 0x12, b""),
                      _tcp_frame(client, server, sport, 80, 1001, 5001, 0x10, b""),
                      _tcp_frame(client, server, sport, 80, 1001, 5001, 0x18, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
            for i, frame in enumerate(frames):
                out.write(struct.pack("<IIII", start, (n * 4 + i) % 1_000_000, len(frame), len(frame)) + frame)


def proc_memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and of its store writer child (they share the work)."""
    total = 0.0
    for each in (pid, *child_pids(pid)):
        parts = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    return total


def writer_memory(pid: int) -> str:
    """", writer process N MiB (peak M)" for the writer child, or "" when there is none."""
    children = child_pids(pid)
    if not children:
        return ""
    rss, hwm = proc_memory(children[0])
    return f", writer process {rss} MiB (peak {hwm} MiB)"


class Namespace:
    def __init__(self) -> None:
        self.name = f"fukurou-bench-{os.getpid()}"

    def __enter__(self) -> str:
        run = ["ip", "-n", self.name]
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run([*run, "link", "add", "fka", "type", "veth", "peer", "name", "fkb"], check=True)
        subprocess.run(["ip", "netns", "exec", self.name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"],
                       check=True)
        for link in ("fka", "fkb", "lo"):
            subprocess.run([*run, "link", "set", link, "mtu", "65535", "up"], check=True)
        return self.name

    def __exit__(self, *_: object) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)


def start(ns: str, folder: str, **values: object) -> tuple[subprocess.Popen[bytes], str]:
    cfg = os.path.join(folder, "config.ini")
    base = {"pcapDir": os.path.join(folder, "pcap"), "dbPath": os.path.join(folder, "db.sqlite"),
            "interface": "fkb", "snapLen": 65535, "viewHost": "127.0.0.1", **values}
    Path(cfg).write_text("[default]\n" + "".join(f"{k} = {v}\n" for k, v in base.items()))
    log = open(os.path.join(folder, "run.log"), "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "appliance", "--config", cfg, "run"],
                            cwd=ROOT, stdout=log, stderr=log)
    status = os.path.join(folder, "db.sqlite.status")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not os.path.exists(status):
        time.sleep(0.2)
    time.sleep(2)  # the capture thread opens the interface
    return proc, status


def record(status: str) -> dict[str, object]:
    return json.loads(Path(status).read_text())


def stop(proc: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=600)
    return time.monotonic() - started


def bench_sessions(ns: str, sessions: int) -> None:
    with tempfile.TemporaryDirectory(prefix="fukurou-bench-") as folder:
        capture = os.path.join(folder, "sessions.pcap")
        make_sessions_pcap(capture, sessions)
        proc, status = start(ns, folder, maxStreams=max(sessions, 100000) + 1000, **LONG)
        time.sleep(3)
        idle = proc_memory(proc.pid)
        print(f"RSS idle (viewer on): {idle[0]} MiB{writer_memory(proc.pid)}")
        subprocess.run(["ip", "netns", "exec", ns, "tcpreplay", "-i", "fka", "--pps", "20000", capture],
                       check=True, capture_output=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and int(record(status).get("open_sessions", 0)) < sessions:  # type: ignore[call-overload]
            time.sleep(1)
        time.sleep(STATUS_WAIT)
        rss, hwm = proc_memory(proc.pid)
        rec = record(status)
        print(f"RSS with {rec['open_sessions']:,} open sessions ({rec.get('compressed_sessions', 0):,} compressed): "
              f"{rss} MiB (peak {hwm} MiB){writer_memory(proc.pid)}; kernel drops {rec['dropped']}, "
              f"queue stalls {rec['queue_waits']}")
        took = stop(proc)
        print(f"SIGTERM with {rec['open_sessions']:,} open sessions: exited {proc.returncode} in {took:.1f} s")
        for line in Path(folder, "run.log").read_text().splitlines():  # what the stop did, as logged
            if any(word in line for word in ("open sessions", "spooled", "stopped in")):
                print("  " + line.split("] ", 1)[-1])
        restarted, _ = start(ns, folder, maxStreams=max(sessions, 100000) + 1000, **LONG)
        stop(restarted)
        for line in Path(folder, "run.log").read_text().splitlines():
            if "spooled at the last stop" in line:
                print("  next start: " + line.split("] ", 1)[-1])


STATUS_WAIT = 6
MBPS = 100  # a home uplink; --topspeed only measures how fast the kernel drops


def bench_cpu(ns: str, size: str) -> None:
    capture = f"/tmp/fukurou-bench-home-{size}.pcap"
    if not os.path.exists(capture):
        print(f"making {capture}...", file=sys.stderr)
        subprocess.run([sys.executable, str(GENERATOR), "--profile", "home", "--size", size, "--duration", "1h",
                        "--no-sessions", "-o", capture], check=True, capture_output=True)
    with tempfile.TemporaryDirectory(prefix="fukurou-bench-") as folder:
        proc, status = start(ns, folder, **LONG)
        cpu0 = cpu_seconds(proc.pid)
        sent = subprocess.run(["ip", "netns", "exec", ns, "tcpreplay", "-i", "fka", "--mbps", str(MBPS), capture],
                              check=True, capture_output=True, text=True).stdout
        packets = -1
        while int(record(status)["packets"]) != packets:  # type: ignore[call-overload]
            packets = int(record(status)["packets"])  # type: ignore[call-overload]
            time.sleep(STATUS_WAIT)  # a new record every 5 s: unchanged means the queues are empty
        cpu = cpu_seconds(proc.pid) - cpu0
        rss, hwm = proc_memory(proc.pid)
        writer = writer_memory(proc.pid)
        stop(proc)
        rec = record(status)  # the final one, written at the stop
        gb = int(rec["bytes"]) / 1e9  # type: ignore[call-overload]
        actual = next((line.strip() for line in sent.splitlines() if line.strip().startswith("Actual:")), "")
        print(f"capture of {size} home traffic, tcpreplay --mbps {MBPS} ({actual}): stored {rec['packets']:,} packets, "
              f"{gb:.3f} GB; kernel drops {rec['dropped']:,}; {cpu:.1f} CPU s (until the queues were empty) = "
              f"{cpu / gb:.1f} CPU s per GB stored; RSS {rss} MiB (peak {hwm} MiB){writer}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--size", default="200M", help="home capture size for the CPU figure")
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("tcpreplay"):
        print("needs root, ip and tcpreplay")
        return 2
    with Namespace() as ns:
        bench_sessions(ns, args.sessions)
        bench_cpu(ns, args.size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
