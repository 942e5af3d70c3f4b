"""The import folder (pcapImportDir): captures dropped there are imported once they are complete.

"Complete" means closed and stable: its size and mtime have not changed for ``settle`` seconds (a
copy over the network or a tcpdump still writing keeps changing them) and, on Linux, no process
has it open for writing (``/proc/*/fd``; a writer that pauses longer than ``settle`` would
otherwise hand us half a file). watchdog only tells us
*which* files to look at; the import itself runs in the caller's thread (``poll``), because the
database connection and the writer belong to that thread. A file that cannot be read as a capture
is moved to ``failed/`` beside it and reported; the others go on. Exactly-once across restarts is
the importer's ``imported_files`` table, so a restart simply rescans the folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from appliance.capture.importer import CAPTURE_SUFFIXES, FileResult, Importer

log = logging.getLogger(__name__)

FAILED_DIR = "failed"


@dataclass
class _Candidate:
    size: int
    mtime_ns: int
    since: float


class _Events(FileSystemEventHandler):
    """Collects paths from watchdog's thread; the importing thread drains them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paths: set[str] = set()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        path = getattr(event, "dest_path", "") or event.src_path
        with self.lock:
            self.paths.add(os.fsdecode(path))

    def drain(self) -> set[str]:
        with self.lock:
            paths, self.paths = self.paths, set()
        return paths


def is_capture_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(CAPTURE_SUFFIXES)


def open_for_writing(path: str) -> bool:
    """Whether any process we can see has ``path`` open for writing (always False without /proc)."""
    target = os.path.realpath(path)
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return False
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # gone, or not ours to look at
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") == target and _writable(pid, fd):
                    return True
            except OSError:
                continue
    return False


def _writable(pid: str, fd: str) -> bool:
    with open(f"/proc/{pid}/fdinfo/{fd}") as info:
        for line in info:
            if line.startswith("flags:"):
                return int(line.split()[1], 8) & 3 != os.O_RDONLY
    return False


class ImportWatcher:
    """Watches ``folder``; call ``poll()`` about once a second from the importing thread."""

    def __init__(self, folder: str, importer: Importer, settle: float = 5.0) -> None:
        self.folder = os.path.abspath(folder)
        self.importer = importer
        self.settle = settle
        self.events = _Events()
        self.observer: Observer | None = None  # type: ignore[valid-type]
        self.candidates: dict[str, _Candidate] = {}
        self.results: list[FileResult] = []

    def start(self) -> None:
        os.makedirs(self.folder, exist_ok=True)
        self.observer = Observer()
        self.observer.schedule(self.events, self.folder, recursive=False)
        self.observer.start()
        # Files that arrived while we were not running: the table knows which are already imported.
        for name in sorted(os.listdir(self.folder)):
            self.events.paths.add(os.path.join(self.folder, name))

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)
            self.observer = None

    def poll(self, now: float | None = None) -> list[FileResult]:
        """Import every candidate that has been stable long enough; returns what was done."""
        now = time.monotonic() if now is None else now
        for path in self.events.drain():
            if os.path.dirname(path) == self.folder and is_capture_name(os.path.basename(path)):
                self.candidates.setdefault(path, _Candidate(-1, -1, now))
        done = []
        for path in sorted(self.candidates):
            if self._ready(path, now):
                del self.candidates[path]
                result = self._import(path)
                if result.status != "skipped":  # seen again (a late event, a restart): nothing to say
                    done.append(result)
        self.results += done
        return done

    def _ready(self, path: str, now: float) -> bool:
        candidate = self.candidates[path]
        try:
            st = os.stat(path)
        except FileNotFoundError:
            del self.candidates[path]
            return False
        if (st.st_size, st.st_mtime_ns) != (candidate.size, candidate.mtime_ns):
            candidate.size, candidate.mtime_ns, candidate.since = st.st_size, st.st_mtime_ns, now
            return False
        return now - candidate.since >= self.settle and not open_for_writing(path)

    def _import(self, path: str) -> FileResult:
        result = self.importer.import_file(path)
        if result.status == "failed" and os.path.exists(path):
            failed = os.path.join(self.folder, FAILED_DIR)
            os.makedirs(failed, exist_ok=True)
            target = os.path.join(failed, os.path.basename(path))
            shutil.move(path, target)
            result.message += f" (moved to {target})"
            log.error("import folder: %s failed: %s", path, result.message)
        elif result.status == "done":
            log.info("import folder: %s: %d packets, %d sessions", path, result.packets, result.sessions)
        return result
