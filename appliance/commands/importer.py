"""``fukurou import``: copy capture files into the PCAP store and save their sessions.

``fukurou import FILE|DIR...`` imports once and prints a summary; a progress bar is drawn while
stdout is a terminal. ``fukurou import --watch [DIR]`` keeps watching pcapImportDir (or DIR) and
imports each capture once it is complete, until SIGTERM/SIGINT. Files already imported are
skipped (``--force`` imports them again).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any, TextIO

from appliance.commands._common import EXIT_DAMAGED, EXIT_OK, EXIT_USAGE


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("import", help="import capture files into the store (or watch pcapImportDir)")
    p.add_argument("paths", nargs="*", metavar="FILE|DIR", help="pcap, pcapng or gzip files, or folders of them")
    p.add_argument("--watch", nargs="?", const="", metavar="DIR",
                   help="keep importing captures dropped in DIR (default: pcapImportDir)")
    p.add_argument("--settle", type=float, default=5.0, metavar="SECONDS",
                   help="with --watch: a file is complete when unchanged this long (default 5)")
    p.add_argument("--force", action="store_true", help="import files even if they were imported before")
    p.add_argument("--no-parsers", action="store_true", help="sessions from L2-L4 only, no protocol parsers")
    p.add_argument("--jsonl", metavar="FILE", help="also write each saved session to FILE as a JSON line")
    p.add_argument("--strict", action="store_true", help="exit 1 when a capture is damaged or truncated")
    p.add_argument("--one-process", action="store_true",
                   help="store sessions in this process (by default a second process stores them when "
                        "there is a second core)")
    p.set_defaults(func=run)


class _Job:
    """The store objects an import needs, opened once and closed in the right order."""

    def __init__(self, settings: Any, args: argparse.Namespace) -> None:
        from appliance.capture.importer import Importer
        from appliance.capture.sink import PacketSink, SessionOutput
        from appliance.pcapstore.freespace import FreeSpaceGuard
        from appliance.pcapstore.writer import PcapWriter
        from appliance.store.db import open_database
        from appliance.store.writer_process import StoreProcess, can_overlap

        self.conn = open_database(settings.dbPath)
        self.jsonl: TextIO | None = open(args.jsonl, "a") if args.jsonl else None  # noqa: SIM115
        # Building sessions and storing them take about the same time: on two cores they overlap.
        self.store = None if args.one_process or not can_overlap() else StoreProcess(self.conn, settings.dbPath)
        self.output = SessionOutput(self.conn, settings.nodeName, self.jsonl, store=self.store)
        self.writer = PcapWriter(self.conn, settings)
        self.guard = FreeSpaceGuard(self.conn, settings, lambda: self.writer.current_num)
        self.writer.on_rotate, self.writer.on_full = self.guard.on_rotate, self.guard.on_full
        self.guard.check()
        self.sink = PacketSink(settings, self.writer, self.output, parsers=not args.no_parsers)
        self.importer = Importer(self.conn, self.sink, self.guard, self.output.flush, self.output.tick)

    def close(self) -> None:
        try:
            self.writer.close()
            self.output.flush()
        finally:
            if self.store is not None:
                self.store.close()
            if self.jsonl is not None:
                self.jsonl.close()
            self.conn.close()


def run(args: argparse.Namespace, settings: Any) -> int:
    if not args.paths and args.watch is None:
        print("fukurou import: give capture files or folders, or --watch", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=getattr(logging, settings.logLevel.upper()), stream=sys.stderr,
                        format="fukurou: %(message)s")
    lock = _lock_store(settings)
    if lock is None:
        return EXIT_USAGE
    try:
        return _run_job(args, settings)
    finally:
        lock.release()


def _lock_store(settings: Any) -> Any | None:
    """The store's writer lock (the one `fukurou run` holds): two writers would each take the
    other's open pcap file for one a crash left behind, and give out the same file numbers."""
    from appliance import status

    lock = status.RunLock(status.lock_path(settings))
    try:
        os.makedirs(os.path.dirname(os.path.abspath(settings.dbPath)), exist_ok=True)
        lock.acquire()
    except status.AlreadyRunning:
        pid = status.read_pid(status.lock_path(settings))
        where = (f"copy the files into pcapImportDir ({settings.pcapImportDir}): the running appliance imports them"
                 if settings.pcapImportDir else
                 "set pcapImportDir in the settings and restart it, then copy the files there; or stop it first")
        print(f"fukurou import: another fukurou process (pid {pid}) is writing this store; {where}", file=sys.stderr)
        return None
    except OSError as err:
        print(f"fukurou import: {err}", file=sys.stderr)
        return None
    return lock


def _run_job(args: argparse.Namespace, settings: Any) -> int:
    from appliance.memory import collect_cycles_less_often
    from appliance.pcapstore.writer import WriterError
    from appliance.store.db import StoreError

    try:
        job = _Job(settings, args)
    except (StoreError, OSError) as err:
        print(f"fukurou import: {err}", file=sys.stderr)
        return EXIT_USAGE
    collect_cycles_less_often()
    status, reported = EXIT_USAGE, ""
    try:
        status = _watch(job, args, settings) if args.watch is not None else _import_files(job, args)
    except (WriterError, StoreError) as err:
        reported = f"fukurou import: {err}"
        print(reported, file=sys.stderr)
    finally:
        try:
            job.close()
        except StoreError as err:  # the last sessions could not be committed: not a success
            if f"fukurou import: {err}" != reported:
                print(f"fukurou import: {err}", file=sys.stderr)
            status = EXIT_USAGE
    return status


def _import_files(job: _Job, args: argparse.Namespace) -> int:
    from appliance.capture.importer import ImportTotals, Progress, expand_paths

    paths = expand_paths(args.paths)
    progress = Progress(sum(os.path.getsize(p) for p in paths if os.path.isfile(p)))
    totals = ImportTotals()
    status = EXIT_OK
    # SIGTERM or Ctrl-C: the file in hand stops part-way with its sessions saved, and the next
    # import of it goes on from there (docs/PCAP_STORE.md); the files after it are left alone.
    stopped_by: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopped_by.append(signum)
        job.importer.stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    for path in paths:
        if stopped_by:
            break
        result = job.importer.import_file(path, force=args.force, progress=progress)
        totals.files.append(result)
        progress.finish()
        # The importer has logged the failure or the damage already (stderr): only the exit code here.
        if result.status == "failed":
            status = EXIT_USAGE
        elif result.message and result.status == "done" and args.strict:
            status = max(status, EXIT_DAMAGED)
    print(totals.summary())
    if job.output.store_errors:
        print(f"fukurou import: the session store refused {job.output.store_errors} sessions (see the log)",
              file=sys.stderr)
    if stopped_by:
        print(f"fukurou import: stopped by {signal.Signals(stopped_by[0]).name}; importing the same files again "
              "goes on where this one stopped", file=sys.stderr)
        return 128 + stopped_by[0]
    return status


def _watch(job: _Job, args: argparse.Namespace, settings: Any) -> int:
    from appliance.capture.watch import ImportWatcher

    folder = args.watch or settings.pcapImportDir
    if not folder:
        print("fukurou import --watch: no folder (set pcapImportDir or give DIR)", file=sys.stderr)
        return EXIT_USAGE
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    watcher = ImportWatcher(folder, job.importer, settle=args.settle)
    watcher.start()
    print(f"watching {folder}", flush=True)
    try:
        while not stop.wait(min(1.0, args.settle / 2 or 1.0)):
            for result in watcher.poll():
                print(f"{result.status}: {result.path} {result.packets} packets {result.message}".rstrip(), flush=True)
            job.writer.tick()
            job.guard.tick()
            job.output.tick()
    finally:
        watcher.stop()
    return EXIT_OK
