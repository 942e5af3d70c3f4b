#!/usr/bin/env python3
"""The two halves of ``fukurou import``: which one is slower, and where their memory goes.

    python3 benchmarks/store_process.py split CAPTURE        # wall and CPU seconds of each process
    python3 benchmarks/store_process.py memory CAPTURE       # RSS/PSS by mapping at the joint peak
    python3 benchmarks/store_process.py record CAPTURE [-o FEED]   # keep the store process's input
    python3 benchmarks/store_process.py replay [FEED] [--repeat N] [--cache-kib N]

``fukurou import`` builds sessions in its own process and stores them in a child
(``appliance/store/writer_process.py``). The import goes at the pace of the slower of the two;
on session-heavy traffic that is the store process.

- ``split`` imports CAPTURE into a fresh store and reads both processes' CPU time from /proc
  every 50 ms, so it can tell which half is the slower one.
- ``memory`` samples ``/proc/PID/smaps`` of both processes every 0.3 s and prints, for the moment
  their summed RSS peaked, each one's RSS, PSS and anonymous memory by mapping (heap, anonymous,
  each library). The sampling itself costs CPU, so it says nothing about speed.
- ``record`` imports CAPTURE while copying every message sent to the store process into FEED.
  ``replay`` then runs a store process alone on FEED into a fresh database: the same work, with
  no import process sharing the cores. Two builds can then be compared in alternating runs on
  the same input (``--repeat``), which is how small changes to the store process get measured.
  ``--cache-kib`` sets the store process's SQLite page cache for the replay
  (``writer_process.WRITER_CACHE_KIB``).

All runs use the installed package, or the checkout when run from its root. The temporary
stores go under /var/tmp (a tmpfs /tmp would measure RAM, not the disk).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the package, ahead of benchmarks/appliance.py

from capture import write_config  # noqa: E402  (benchmarks/, this script's folder)

from appliance.store import writer_process  # noqa: E402

FEED = "/tmp/fukurou-store-feed.bin"
TICK = os.sysconf("SC_CLK_TCK")
# A store process as writer_process starts one (_CHILD_MAIN), with its page cache set first.
# Given no parent pid, it does not die with this process.
REPLAY_CHILD = ("import sys; sys.path.insert(0, sys.argv[1]); import appliance.store.writer_process as w; "
                "w.WRITER_CACHE_KIB = int(sys.argv[3]) or w.WRITER_CACHE_KIB; sys.exit(w.main(sys.argv[2:3]))")


def _store_folder() -> tuple[str, str]:
    """(folder, settings file) of a fresh store under /var/tmp."""
    folder = tempfile.mkdtemp(prefix="fukurou-bench-", dir="/var/tmp")
    return folder, write_config(folder)


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def _store_pid(parent: int) -> int | None:
    try:
        found = writer_process.child_pids(parent)
    except OSError:
        return None
    return found[0] if found else None


def _import(capture: str, config: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "appliance", "--config", config, "import", capture],
                            cwd=ROOT, stdout=subprocess.DEVNULL)


def split(capture: str) -> None:
    folder, config = _store_folder()
    try:
        start = time.monotonic()
        proc = _import(capture, config)
        store, cpu = None, {"import": 0.0, "store": 0.0}
        while proc.poll() is None:
            store = store or _store_pid(proc.pid)
            for name, pid in (("import", proc.pid), ("store", store)):
                seconds = _cpu_seconds(pid) if pid else None
                cpu[name] = seconds if seconds is not None else cpu[name]
            time.sleep(0.05)
        wall = time.monotonic() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    slower = max(cpu, key=lambda name: cpu[name])
    print(f"{capture}: wall {wall:.2f} s; import process {cpu['import']:.2f} CPU s, "
          f"store process {cpu['store']:.2f} CPU s (the {slower} process is the slower half)")


def _smaps(pid: int) -> dict[str, list[int]] | None:
    """{mapping: [RSS, PSS, anonymous] KiB} of a process (libraries by file name)."""
    try:
        text = Path(f"/proc/{pid}/smaps").read_text()
    except OSError:
        return None
    out: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    name = "[anon]"
    for line in text.splitlines():
        parts = line.split()
        if not parts[0].endswith(":"):  # a mapping's first line: address, perms, ..., path
            name = parts[5] if len(parts) > 5 else "[anon]"
            if name.startswith("/"):  # a file: its name, with its folder's for a package's __init__
                name = "/".join(Path(name).parts[-2:]) if Path(name).name.startswith("__init__") else Path(name).name
            continue
        slot = {"Rss:": 0, "Pss:": 1, "Anonymous:": 2}.get(parts[0])
        if slot is not None:
            out[name][slot] += int(parts[1])
    return out


def memory(capture: str) -> None:
    folder, config = _store_folder()
    peak: tuple[int, dict[str, dict[str, list[int]]]] = (0, {})
    try:
        proc = _import(capture, config)
        while proc.poll() is None:
            store = _store_pid(proc.pid)
            snap = {"import": _smaps(proc.pid), **({"store": _smaps(store)} if store else {})}
            if all(maps is not None for maps in snap.values()):
                total = sum(v[0] for maps in snap.values() for v in maps.values())  # type: ignore[union-attr]
                if total > peak[0]:
                    peak = (total, snap)  # type: ignore[assignment]
            time.sleep(0.3)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{capture}: peak of the summed RSS {peak[0] / 1024:.1f} MiB")
    for name, maps in peak[1].items():
        rss, pss, anon = (sum(v[i] for v in maps.values()) / 1024 for i in range(3))
        print(f"  {name} process: RSS {rss:.1f} MiB, PSS {pss:.1f}, anonymous {anon:.1f}")
        print(f"    {'RSS':>7} {'PSS':>7} {'anon':>7}  mapping (MiB)")
        for mapping, (r, p, a) in sorted(maps.items(), key=lambda item: -item[1][0]):
            if r >= 256:
                print(f"    {r / 1024:7.1f} {p / 1024:7.1f} {a / 1024:7.1f}  {mapping}")


class _Tee:
    """The store process's stdin, with every byte written also kept in a file."""

    def __init__(self, pipe: IO[bytes], copy: IO[bytes]) -> None:
        self.pipe, self.copy = pipe, copy

    def write(self, data: bytes) -> int:
        self.copy.write(data)
        return self.pipe.write(data)

    def __getattr__(self, name: str) -> Any:  # flush, close, fileno: the pipe's
        return getattr(self.pipe, name)


def record(capture: str, feed: str) -> None:
    """Import in this process, with the store process's input, from its first message on,
    copied to ``feed``."""
    from appliance.cli import main

    popen = subprocess.Popen
    with open(feed, "wb") as copy:
        class TeeStdin(popen):  # type: ignore[misc,valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                if self.stdin is not None:
                    self.stdin = _Tee(self.stdin, copy)

        folder, config = _store_folder()
        subprocess.Popen = TeeStdin  # type: ignore[misc]  # the import starts no other process
        try:
            code = main(["--config", config, "import", capture])
        finally:
            subprocess.Popen = popen  # type: ignore[misc]
            shutil.rmtree(folder, ignore_errors=True)
    if code:
        raise SystemExit(code)
    print(f"the store process's input: {feed} ({os.path.getsize(feed) / 1e6:,.0f} MB)")


def replay(feed: str, repeat: int, cache_kib: int | None) -> None:
    from appliance.store.db import open_database

    for _ in range(repeat):
        folder = tempfile.mkdtemp(prefix="fukurou-bench-", dir="/var/tmp")
        db = os.path.join(folder, "db.sqlite")
        try:
            open_database(db).close()  # migrated here: the store process opens it as it is
            start = time.monotonic()
            with open(feed, "rb") as inp:
                proc = subprocess.Popen([sys.executable, "-c", REPLAY_CHILD, str(ROOT), db, str(cache_kib or 0)],
                                        stdin=inp, stdout=subprocess.DEVNULL)
                _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - start
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        code = os.waitstatus_to_exitcode(status)
        print(f"replay: wall {wall:6.2f} s  user {usage.ru_utime:6.2f} s  sys {usage.ru_stime:5.2f} s  "
              f"peak RSS {usage.ru_maxrss / 1024:5.1f} MiB  minor faults {usage.ru_minflt:,}" + (f"  (exit {code})" if code else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("split", "memory", "record"):
        p = sub.add_parser(name)
        p.add_argument("capture")
        if name == "record":
            p.add_argument("-o", "--feed", default=FEED)
    p = sub.add_parser("replay")
    p.add_argument("feed", nargs="?", default=FEED)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--cache-kib", type=int, help="the store process's SQLite page cache, KiB")
    args = parser.parse_args()
    if args.command == "split":
        split(args.capture)
    elif args.command == "memory":
        memory(args.capture)
    elif args.command == "record":
        record(args.capture, args.feed)
    else:
        replay(args.feed, max(args.repeat, 1), args.cache_kib)
    return 0


if __name__ == "__main__":
    sys.exit(main())
