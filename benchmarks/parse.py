#!/usr/bin/env python3
"""Throughput and memory of ``fukurou parse`` on one capture, as a real subprocess.

    python3 benchmarks/parse.py FILE              # with protocol parsers (what a user gets)
    python3 benchmarks/parse.py FILE --no-parsers # the L2-L4 fast path only
    python3 benchmarks/parse.py FILE --both       # both, and the parsers-on/off ratio
    python3 benchmarks/parse.py FILE --both --repeat 5   # runs alternate: off, on, off, on, ...

Each run is ``fukurou parse --format summary [--no-parsers] FILE > /dev/null``; wall time, CPU time
(user + system) and peak RSS are those of that child process (``os.wait4``). Packets are counted by
reading the file once with ``appliance.readers`` in this process (that read is timed too, as
"reader only"). Beside the runs, ``tcpdump -r FILE -w /dev/null`` on the same file, when tcpdump
is installed, as a floor for what reading the file costs.

With ``--both`` the two commands alternate (off, on, off, on, ...), so a slow spell of a shared
machine falls on both, and the parsers' speed is given as a share of the L2-L4 speed twice: from
the median wall times, and from the least CPU time of each (the run least disturbed by the rest
of the machine, as ``timeit`` reports).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.readers import open_capture  # noqa: E402


@dataclass
class Run:
    label: str
    wall: float
    cpu: float
    rss_kib: int
    status: int
    stderr: str


def fukurou_command() -> list[str]:
    """The installed console script beside this interpreter, else on PATH, else ``python -m appliance``."""
    beside = Path(sys.executable).with_name("fukurou")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("fukurou")
    if found:
        return [found]
    return [sys.executable, "-m", "appliance"]


def run_child(label: str, argv: list[str]) -> Run:
    """Run argv with stdout to /dev/null; wall, CPU and peak RSS of that child alone."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    with open(os.devnull, "wb") as null:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=null, stderr=subprocess.PIPE, env=env)
        # Read stderr while waiting, so a chatty child cannot block on a full pipe.
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stderr.close()
    return Run(label, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode,
               err.decode(errors="replace"))


def best(runs: list[Run]) -> Run:
    """The median run by wall time (the runs are repeats of one command)."""
    ordered = sorted(runs, key=lambda r: r.wall)
    return ordered[(len(ordered) - 1) // 2]


def count_packets(path: str) -> tuple[int, int, float]:
    """(packets, captured bytes, seconds) for one pass of the reader over the file."""
    start = time.perf_counter()
    packets = nbytes = 0
    with open_capture(path) as reader:
        for record in reader:
            packets += 1
            nbytes += record[1]
        damage = reader.damage
    if damage is not None:
        print(f"note: the file is damaged at {damage}; counted the packets before it", file=sys.stderr)
    return packets, nbytes, time.perf_counter() - start


def line(run: Run, packets: int, size: int) -> str:
    mb = size / 1e6
    return (f"{run.label:<22} {run.wall:8.2f} s wall {run.cpu:8.2f} s CPU  "
            f"{packets / run.wall / 1000:9.1f} k packets/s  {mb / run.wall:8.1f} MB/s  "
            f"{packets / run.cpu / 1000 if run.cpu else 0:9.1f} k packets/CPU-s  "
            f"{run.rss_kib / 1024:7.1f} MiB peak RSS")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", help="capture file (pcap, pcapng, gzip)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--no-parsers", action="store_true", help="only the run without protocol parsers")
    group.add_argument("--both", action="store_true", help="run without and with parsers, print the ratio")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each command; the median is shown (default 1)")
    ap.add_argument("--no-tcpdump", action="store_true", help="leave out the tcpdump comparison")
    args = ap.parse_args(argv)

    path = args.file
    if not os.path.isfile(path):
        print(f"{path}: no such file", file=sys.stderr)
        return 2
    size = os.path.getsize(path)
    packets, captured, read_s = count_packets(path)
    base = fukurou_command()
    print(f"file: {path}  {size / 1e6:.1f} MB  {packets:,} packets  {captured / max(packets, 1):.1f} B mean caplen")
    print(f"interpreter: Python {platform.python_version()} {sys.executable} (see benchmarks/README.md: which Python)")
    print(f"command: {' '.join(base)} parse --format summary [--no-parsers] FILE > /dev/null"
          f"  (repeat {args.repeat}, median shown)")
    print(f"{'reader only':<22} {read_s:8.2f} s wall (in this process)"
          f"       {packets / read_s / 1000 if read_s else 0:9.1f} k packets/s  {size / 1e6 / read_s if read_s else 0:8.1f} MB/s")

    modes = [("no parsers", True), ("parsers", False)] if args.both else (
        [("no parsers", True)] if args.no_parsers else [("parsers", False)])
    commands = {label: base + ["parse", "--format", "summary"] + (["--no-parsers"] if no_parsers else []) + [path]
                for label, no_parsers in modes}
    all_runs: dict[str, list[Run]] = {label: [] for label, _ in modes}
    for _ in range(max(1, args.repeat)):
        for label, _ in modes:  # alternating: each repeat runs every mode once
            all_runs[label].append(run_child(label, commands[label]))
    results: dict[str, Run] = {}
    status = 0
    for label, _ in modes:
        runs = all_runs[label]
        run = best(runs)
        results[label] = run
        print(line(run, packets, size))
        if run.status != 0:
            status = 1
            print(f"  exit status {run.status}; stderr: {run.stderr.strip()[-500:]}", file=sys.stderr)
        elif run.stderr.strip():
            print(f"  stderr: {run.stderr.strip()[-300:]}")
        if args.repeat > 1:
            walls = [r.wall for r in runs]
            print(f"  wall over {len(runs)} runs: min {min(walls):.2f} s, "
                  f"stdev {statistics.pstdev(walls):.2f} s")

    if "parsers" in results and "no parsers" in results:
        on, off = results["parsers"], results["no parsers"]
        print(f"parsers on/off ratio: {on.wall / off.wall:.2f}x wall, {on.cpu / off.cpu if off.cpu else 0:.2f}x CPU, "
              f"{on.rss_kib / off.rss_kib if off.rss_kib else 0:.2f}x peak RSS")
        least_on = min(r.cpu for r in all_runs["parsers"])
        least_off = min(r.cpu for r in all_runs["no parsers"])
        print(f"with parsers: {100 * off.wall / on.wall:.0f} % of the L2-L4 packets/s (median wall), "
              f"{100 * least_off / least_on if least_on else 0:.0f} % (least CPU of {len(all_runs['parsers'])} runs each)")

    tcpdump = shutil.which("tcpdump")
    if tcpdump and not args.no_tcpdump:
        runs = [run_child("tcpdump -r -w /dev/null", [tcpdump, "-r", path, "-w", os.devnull])
                for _ in range(max(1, args.repeat))]
        run = best(runs)
        if run.status == 0:
            print(line(run, packets, size))
            for label, r in results.items():
                print(f"  fukurou ({label}) takes {r.wall / run.wall:.1f}x tcpdump's wall time")
        else:
            print(f"tcpdump failed (exit {run.status}): {run.stderr.strip()[-300:]}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
