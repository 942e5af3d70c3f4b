#!/usr/bin/env python3
"""Throughput of getting packets in: ``fukurou import`` and live capture over veth.

    python3 benchmarks/capture.py            # 400 MB session-heavy + 1 GB home captures (slow)
    python3 benchmarks/capture.py --quick    # 20 MB + 50 MB captures, live at 8 MB
    python3 benchmarks/capture.py --no-parsers --quick
    python3 benchmarks/capture.py --no-live --repeat 5   # 5 imports of each, taking turns: best/median/worst

Import: ``fukurou import FILE`` as a child process into a fresh store (pcapDir and database in a
temporary folder); wall time and peak RSS are the child's (``os.wait4``: the largest of the import
process and the process that stores its sessions), and the peaks of both together, RSS and PSS
(RSS sampled every 20 ms, PSS every 0.2 s; PSS counts the pages they share once); packets and bytes from the import summary. ``--one-process`` adds a run with the sessions
stored in the import process, for comparison. Beside it, ``tcpdump -r FILE -w OUT`` as the floor for reading and writing the file.
Captures come from ../shared/bench/make_bench_pcap.py (made when missing; /tmp/bench-sessions.pcap
is used when present).

Live (root, ip and tcpreplay needed): a veth pair in a network namespace, ``python -m
appliance.capture.live`` on one end, ``tcpreplay --mbps R`` (R = 100, 300, 1000, then --topspeed)
on the other; reported: packets sent, stored, kernel drops (pcap_stats ps_drop).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT.parent / "shared" / "bench" / "make_bench_pcap.py"


def make_capture(path: str, profile: str, size: str, duration: str = "4h") -> str:
    if not os.path.exists(path):
        print(f"making {path} ({profile}, {size})...", file=sys.stderr)
        subprocess.run([sys.executable, str(GENERATOR), "--profile", profile, "--size", size, "--duration", duration,
                        "--no-sessions", "-o", path], check=True, capture_output=True)
    return path


PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
# PSS is read every this many RSS samples: reading it (smaps_rollup) walks the process's page
# tables, ~0.7 ms for a 60 MiB process. Every 20 ms, for two processes, that took ~7 % of a core
# from the import being measured, on a machine whose two cores it keeps busy.
PSS_EVERY = 10


def _tree_memory_kib(pid: int, with_pss: bool = True) -> tuple[int, int]:
    """(RSS, PSS) of a process and its descendants (``fukurou import`` stores in a child). RSS
    counts the pages both share (libpython, SQLite, the compiled package) in each; PSS divides
    each page among the processes that map it, so its sum is what the import takes of memory.
    Without ``with_pss`` only RSS is read (statm, cheap), and PSS is 0."""
    rss = pss = 0
    try:
        if with_pss:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss = int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss = int(line.split()[1])
        else:
            with open(f"/proc/{pid}/statm") as fh:
                rss = int(fh.read().split()[1]) * PAGE_KIB
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = [int(k) for k in fh.read().split()]
    except (OSError, ValueError):
        return rss, pss
    for kid in kids:
        kid_rss, kid_pss = _tree_memory_kib(kid, with_pss)
        rss, pss = rss + kid_rss, pss + kid_pss
    return rss, pss


def timed(cmd: list[str], **kwargs: object) -> tuple[float, int, int, int, str]:
    """(wall seconds, peak RSS of the largest process in MiB, peak RSS of all its processes
    together, sampled every 20 ms, and peak of their summed PSS in MiB, every PSS_EVERY samples,
    stdout) of a child."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, **kwargs)  # type: ignore[call-overload]
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        n = 0
        while not done.wait(0.02):
            rss, pss = _tree_memory_kib(proc.pid, with_pss=n % PSS_EVERY == 0)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            n += 1

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = proc.stdout.read() if proc.stdout else ""
    done.set()
    sampler.join()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{cmd[:4]} failed with {proc.returncode}")
    return time.monotonic() - start, usage.ru_maxrss // 1024, peak[0] // 1024, peak[1] // 1024, out


def write_config(folder: str, **values: object) -> str:
    path = os.path.join(folder, "config.ini")
    base = {"pcapDir": os.path.join(folder, "pcap"), "dbPath": os.path.join(folder, "db.sqlite"), **values}
    Path(path).write_text("[default]\n" + "".join(f"{k} = {v}\n" for k, v in base.items()))
    return path


def bench_import(capture: str, parsers: bool, one_process: bool = False) -> tuple[float, int, int]:
    """Import ``capture`` (and with ``one_process`` once more in one process), then tcpdump it;
    returns (wall seconds, packets, peak RSS of both processes) of the first import."""
    size = os.path.getsize(capture)
    packets = 0
    first: tuple[float, int, int] | None = None
    for mode in [[], ["--one-process"]] if one_process else [[]]:
        with tempfile.TemporaryDirectory(prefix="fukurou-bench-") as tmp:  # a fresh store for each run
            cmd = [sys.executable, "-m", "appliance", "--config", write_config(tmp), "import", capture, *mode]
            wall, rss, together, pss, out = timed(cmd + ([] if parsers else ["--no-parsers"]), cwd=ROOT)
        packets = int(re.search(r"([\d,]+) packets", out).group(1).replace(",", ""))  # type: ignore[union-attr]
        label = "fukurou import" + ("" if parsers else " --no-parsers") + (" " + " ".join(mode) if mode else "")
        print(f"  {label}: {wall:7.1f} s {packets / wall:10,.0f} packets/s "
              f"{size / 1e6 / wall:7.1f} MB/s  peak RSS {rss} MiB (largest process), {together} MiB (all), "
              f"{pss} MiB summed PSS")
        first = first or (wall, packets, together)
    if shutil.which("tcpdump"):
        with tempfile.TemporaryDirectory(prefix="fukurou-bench-") as tmp:
            wall, rss, _, _, _ = timed(["tcpdump", "-r", capture, "-w", os.path.join(tmp, "copy.pcap")])
        print(f"  tcpdump -r -w:  {wall:7.1f} s {packets / wall:10,.0f} packets/s "
              f"{size / 1e6 / wall:7.1f} MB/s  peak RSS {rss} MiB")
    assert first is not None
    return first


def summarize(capture: str, runs: list[tuple[float, int, int]]) -> None:
    """Best, median and worst of the repeated imports of one capture (the machine's speed varies
    by up to 2x between hours: one run says little)."""
    size = os.path.getsize(capture)
    walls = sorted(wall for wall, _, _ in runs)
    packets = runs[0][1]
    rates = ", ".join(f"{packets / w:,.0f} packets/s {size / 1e6 / w:.1f} MB/s"
                      for w in (walls[0], statistics.median(walls), walls[-1]))
    print(f"{capture}: {len(runs)} imports, best / median / worst: {rates}; "
          f"peak RSS (all) at most {max(rss for _, _, rss in runs)} MiB")


def bench_live(capture: str, rates: list[str], parsers: bool) -> None:
    if os.geteuid() != 0 or not shutil.which("tcpreplay") or not shutil.which("ip"):
        print("  live: skipped (needs root, ip and tcpreplay)")
        return
    ns = f"fukurou-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for cmd in (["link", "add", "fka", "type", "veth", "peer", "name", "fkb"],
                    ["link", "set", "fka", "mtu", "65535", "up"], ["link", "set", "fkb", "mtu", "65535", "up"]):
            subprocess.run(["ip", "-n", ns, *cmd], check=True)
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"], check=True)
        for rate in rates:
            _live_once(ns, capture, rate, parsers)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def _live_once(ns: str, capture: str, rate: str, parsers: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="fukurou-bench-") as tmp:
        config = write_config(tmp, interface="fkb", snapLen=65535, pcapBufferSize=64 << 20)
        cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "appliance.capture.live", "--config", config]
        proc = subprocess.Popen(cmd + ([] if parsers else ["--no-parsers"]), cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        proc.stdout.readline()  # "capturing"
        speed = ["--topspeed"] if rate == "top" else ["--mbps", rate]
        replay = subprocess.run(["ip", "netns", "exec", ns, "tcpreplay", "-i", "fka", *speed, capture],
                                capture_output=True, text=True).stdout
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=600)[0]
        sent = re.search(r"Actual: (\d+) packets .* in ([\d.]+) seconds", replay)
        rated = re.search(r"Rated: [\d.]+ Bps, ([\d.]+) Mbps", replay)
        got = re.search(r"packets=(\d+) .*dropped=(\d+)", out)
        print(f"  live --mbps {rate:>4}: sent {sent.group(1) if sent else '?'} at {rated.group(1) if rated else '?'} "
              f"Mbit/s, stored {got.group(1) if got else '?'}, kernel drops {got.group(2) if got else '?'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small captures (tens of MB)")
    parser.add_argument("--no-parsers", action="store_true", help="L2-L4 sessions only")
    parser.add_argument("--no-live", action="store_true")
    parser.add_argument("--one-process", action="store_true",
                        help="also import with --one-process (sessions stored in the import process)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="import each capture N times, the captures taking turns, and print the best, "
                             "median and worst rate of each")
    args = parser.parse_args()
    parsers = not args.no_parsers
    if args.quick:
        captures = [make_capture("/tmp/bench-quick-sessions.pcap", "session-heavy", "20M"),
                    make_capture("/tmp/bench-quick-home.pcap", "home", "50M")]
        live = make_capture("/tmp/bench-quick-live.pcap", "home", "8M", "1h")
    else:
        sessions = "/tmp/bench-sessions.pcap"
        captures = [sessions if os.path.exists(sessions) else make_capture(sessions, "session-heavy", "400M"),
                    make_capture("/tmp/bench-home.pcap", "home", "1G")]
        live = make_capture("/tmp/bench-live.pcap", "home", "100M", "1h")
    print(f"interpreter: Python {platform.python_version()} {sys.executable} (see benchmarks/README.md: which Python)")
    runs: dict[str, list[tuple[float, int, int]]] = {capture: [] for capture in captures}
    for _ in range(max(args.repeat, 1)):
        for capture in captures:
            print(f"{capture} ({os.path.getsize(capture) / 1e6:,.0f} MB)")
            runs[capture].append(bench_import(capture, parsers, args.one_process))
    if args.repeat > 1:
        for capture in captures:
            summarize(capture, runs[capture])
    if not args.no_live:
        print(f"live capture of {live} ({os.path.getsize(live) / 1e6:,.0f} MB) over veth")
        bench_live(live, ["100", "300", "1000", "top"], parsers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
