"""``fukurou run``: the whole appliance in one process.

Threads and the bounded queues between them (a full queue makes the thread before it wait, so
memory stays bounded and an overload ends as kernel drops, which pcap_stats counts)::

    capture (one per interface) --packets--> packets thread --sessions--> database thread
      LiveCapture, reopened                    PacketSink: PcapWriter,       SessionStore
      with backoff when the link               SessionTable, parsers,        (its own connection)
      goes away                                FreeSpaceGuard, status file
    viewer (cheroot pool)      retention (nightly expire, own connection)     main: signals

The packets thread turns each saved session into its flat document at once (the table reuses
the Session object for the next segment), so the database thread only sees plain dicts.

Stopping (SIGTERM/SIGINT): capture threads and the import folder's thread end (an import in
hand stops part-way and resumes at the next start); the packets thread drains its queue, saves
every open session and closes the pcap file; the database thread stores sessions for
STOP_STORE_SECONDS, appends the rest to the spool (``{dbPath}.spool``), which the next start
stores before capturing, and commits. SIGHUP reloads the settings that can change without a restart.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import marshal
import os
import queue
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from appliance import status as status_file

log = logging.getLogger("fukurou")

CHUNK_RECORDS = 1024  # packets handed over at once: one queue operation per chunk, not per packet
CHUNK_BYTES = 256 * 1024
PACKET_QUEUE_CHUNKS = 32  # at most ~8 MiB of packet data waiting; the kernel buffer is the real buffer
SESSION_QUEUE = 2000  # flat documents waiting for the database thread
STATUS_SECONDS = 5.0
SWEEP_ROUNDS = 100  # up to ~1000 timed-out sessions per queue and second on an idle link
CHECK_SECONDS = 5.0  # how often a capture thread checks that its interface is still the same one
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
EXPIRE_FIRST_SECONDS = 300.0  # a box that was off for a week catches up soon after it starts
EXPIRE_HOUR, EXPIRE_MINUTE = 3, 30  # then every night at 03:30 local time
_STOP = object()
# On a stop, sessions go into the database for this long; the rest are appended to the spool
# ({dbPath}.spool) and stored at the next start, so that a table of 100,000 open
# sessions still stops within systemd's TimeoutStopSec without losing one. Storing costs the
# process ~8 times the CPU of spooling, CPU that the thread saving the sessions (and expanding
# the compressed ones) then lacks: with 1.5 s, 100,000 open sessions stopped in 8-9.5 s.
STOP_STORE_SECONDS = 0.5
# Settings applied on SIGHUP; everything else is read once at start (a change is logged as such).
RELOADABLE = ("logLevel", "sessionRetentionDays", "pcapRetentionDays", "freeSpaceG", "maxFileSizeG",
              "maxFileTimeM")


@dataclass
class InterfaceState:
    """One interface as the status record shows it; counters survive reopening the interface."""

    name: str
    state: str = "opening"
    packets: int = 0
    received: int = 0
    dropped: int = 0
    reopened: int = 0
    error: str = ""


def rss_bytes() -> int:
    """Resident memory now (from /proc; ru_maxrss would be the peak)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _ifindex(name: str) -> str:
    try:
        with open(f"/sys/class/net/{name}/ifindex", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _link_up(name: str) -> bool:
    """The interface exists and is administratively up (IFF_UP)."""
    try:
        with open(f"/sys/class/net/{name}/flags", encoding="ascii") as fh:
            return bool(int(fh.read().strip(), 16) & 0x1)
    except (OSError, ValueError):
        return False


class Appliance:
    """Capture, store and serve until ``stop()``; ``run()`` returns the exit code."""

    def __init__(self, settings: Any, config_path: str | None = None, viewer: bool = True,
                 interfaces: list[str] | None = None, stop_store_seconds: float = STOP_STORE_SECONDS) -> None:
        self.settings = settings
        self.stop_store_seconds = stop_store_seconds
        self.stop_requested: float | None = None  # monotonic time of the first stop()
        self.saving_open: float | None = None  # monotonic time at which the stop began saving open sessions
        self.spooled = 0
        self.config_path = config_path
        self.viewer = viewer
        self.names = list(interfaces if interfaces is not None else settings.interface)
        self.stopping = threading.Event()
        self.packets_q: queue.Queue[Any] = queue.Queue(PACKET_QUEUE_CHUNKS)
        self.sessions_q: queue.Queue[Any] = queue.Queue(SESSION_QUEUE)
        self.ifaces = {n: InterfaceState(n) for n in self.names}
        self.started = time.time()
        self.queue_waits = 0
        self.store_errors = 0
        self.sink: Any = None
        self.writer: Any = None
        self.guard: Any = None
        self.server: Any = None
        self.conn: Any = None
        self.threads: list[threading.Thread] = []
        self._last_status = (time.monotonic(), 0, 0)

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open the store, start every thread. Raises on what makes running pointless."""
        from appliance.capture.sink import PacketSink
        from appliance.pcapstore.freespace import FreeSpaceGuard
        from appliance.pcapstore.writer import PcapWriter
        from appliance.store.db import open_database

        s = self.settings
        self.conn = open_database(s.dbPath)  # migrates once, before any other connection
        restore_spool(self.conn, status_file.spool_path(s))
        self.writer = PcapWriter(self.conn, s)
        for repair in self.writer.repaired:
            log.warning("pcap file %s was left open by a crash: %d packets kept", repair.name, repair.packets)
        self.guard = FreeSpaceGuard(self.conn, s, lambda: self.writer.current_num)
        self.writer.on_rotate, self.writer.on_full = self.guard.on_rotate, self.guard.on_full
        self.guard.check()
        self.sink = PacketSink(s, self.writer, self._session_saved)
        if self.viewer:
            self._prepare_viewer()
        self._thread("database", self._database_loop)
        self._thread("packets", self._packets_loop)
        for name in self.names:
            self._thread(f"capture-{name}", self._capture_loop, name)
        self._thread("retention", self._retention_loop, daemon=True)
        if s.pcapImportDir:
            os.makedirs(s.pcapImportDir, exist_ok=True)  # there to drop files into once we say "running"
            self._thread("import", self._import_loop)
        if self.server is not None:
            self._thread("viewer", self.server.serve, daemon=True)
        log.info("running: capturing on %s, pcapDir %s, database %s", ", ".join(self.names) or "nothing",
                 s.pcapDir, s.dbPath)

    def _thread(self, name: str, target: Callable[..., Any], *args: Any, daemon: bool = False) -> None:
        t = threading.Thread(target=self._guarded, args=(target, *args), name=name, daemon=daemon)
        t.start()
        self.threads.append(t)

    def _guarded(self, target: Callable[..., Any], *args: Any) -> None:
        # A thread that dies must take the process down: a capture without a writer only loses data.
        try:
            target(*args)
        except Exception:
            log.exception("thread %s failed; stopping", threading.current_thread().name)
            self.failed = True
            self.stopping.set()

    failed = False

    def stop(self) -> None:
        if self.stop_requested is None:
            self.stop_requested = time.monotonic()
        self.stopping.set()

    def wait(self, timeout: float = 10.0) -> bool:
        """After stop(): let every stage finish in order; True when all of it did within ``timeout``."""
        deadline = time.monotonic() + timeout
        if self.server is not None:
            self.server.stop()
        named = {t.name: t for t in self.threads}
        for t in self.threads:
            if t.name.startswith("capture-") or t.name == "import":  # their sessions go first
                t.join(max(deadline - time.monotonic(), 0.1))
        self._put(self.packets_q, _STOP)
        if "packets" not in named:  # start failed half-way: nobody else will end the database thread
            self._put(self.sessions_q, _STOP)
        for name in ("packets", "database"):
            if name in named:
                named[name].join(max(deadline - time.monotonic(), 0.1))
        done = not any(t.is_alive() for t in self.threads if not t.daemon)
        if done:
            self.close()
        return done

    def finish(self) -> None:
        """After a wait() that ran out of time: let the saving end (data before deadlines), then close."""
        for t in self.threads:
            if not t.daemon:
                t.join()
        self.close()

    def close(self) -> None:
        if self.sink is not None:
            self._write_status(final=True)
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # --- capture --------------------------------------------------------------------------------

    def _capture_loop(self, name: str) -> None:
        """Capture from one interface; when it goes away, reopen it with growing pauses."""
        import pcapy

        from appliance.capture.live import CaptureOpenError, LiveCapture

        state, backoff = self.ifaces[name], BACKOFF_FIRST
        while not self.stopping.is_set():
            try:
                if not _link_up(name):  # libpcap opens a down link but then fails oddly
                    raise CaptureOpenError(f"cannot capture on {name}: it is down or missing")
                capture = LiveCapture(self.settings, [name])
            except (CaptureOpenError, pcapy.PcapError) as err:
                if state.state != "down" or state.error != str(err):
                    log.warning("%s; retrying every %.0f s at most", err, BACKOFF_MAX)
                state.state, state.error = "down", str(err)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            if state.state == "down":
                state.reopened += 1
                log.info("%s is back: capturing again", name)
            state.state, state.error, backoff = "up", "", BACKOFF_FIRST
            try:
                self._read_until_gone(capture, state)
            finally:
                capture.close()

    def _read_until_gone(self, capture: Any, state: InterfaceState) -> None:
        import pcapy

        from appliance.capture.live import drain

        handle = capture.handles[0]
        index, base = _ifindex(state.name), (state.received, state.dropped)
        next_check = time.monotonic() + CHECK_SECONDS
        while True:
            stopping = self.stopping.is_set()
            try:
                if stopping:  # every packet the kernel already kept for us, then the counters
                    drain(capture, lambda records: self._forward(records, state))
                    self._count(capture, state, base)
                    return
                if capture.wait():
                    self._forward(capture.read(handle), state)
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + CHECK_SECONDS
                    self._count(capture, state, base)
                    if _ifindex(state.name) != index:
                        raise pcapy.PcapError("the interface was removed or replaced")
            except pcapy.PcapError as err:
                log.warning("capture on %s stopped: %s; reopening", state.name, err)
                state.state, state.error = "down", str(err)
                return

    def _count(self, capture: Any, state: InterfaceState, base: tuple[int, int]) -> None:
        stats = capture.stats().interfaces[0]
        state.received, state.dropped = base[0] + stats.received, base[1] + stats.dropped

    def _forward(self, records: Any, state: InterfaceState) -> None:
        """Hand packets over in chunks; a full queue blocks us, and the kernel buffer fills."""
        chunk: list[Any] = []
        size = 0
        for record in records:
            chunk.append(record)
            size += record[1]
            if len(chunk) >= CHUNK_RECORDS or size >= CHUNK_BYTES:
                self._put(self.packets_q, chunk)
                state.packets += len(chunk)
                chunk, size = [], 0
        if chunk:
            self._put(self.packets_q, chunk)
            state.packets += len(chunk)

    def _put(self, q: queue.Queue[Any], item: Any) -> None:
        try:
            q.put_nowait(item)
        except queue.Full:
            self.queue_waits += 1
            q.put(item)  # the consumer always drains to the end, so this returns

    # --- packets -------------------------------------------------------------------------------

    def _session_saved(self, session: Any) -> None:
        from appliance.documents import flat_document

        self._put(self.sessions_q, flat_document(session, self.settings.nodeName))

    def _packets_loop(self) -> None:
        """Store packets and build sessions; once a second, the timers; at the end, save all."""
        sink, next_tick, next_status = self.sink, 0.0, 0.0
        while True:
            try:
                chunk = self.packets_q.get(timeout=0.25)
            except queue.Empty:
                chunk = None
            if chunk is _STOP:
                break
            if chunk:
                sink.feed(chunk)
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + 1.0
                self._sweep()
                self.writer.tick()
                self.guard.tick()
            if now >= next_status:
                next_status = now + STATUS_SECONDS
                self._write_status()
        open_sessions = sink.table.count
        # Saving makes a document of every open session (and expands the compressed ones) and
        # nothing cyclic: the cycle collector would only walk the queued documents again and
        # again (a tenth of a stop with 100,000 open sessions, in perf).
        gc.disable()
        self.saving_open = time.monotonic()
        try:
            sink.flush()
        finally:
            gc.enable()
        self.writer.close()
        log.info("saved %d open sessions and closed the pcap file", open_sessions)
        self._put(self.sessions_q, _STOP)

    def _sweep(self) -> None:
        """Time sessions out by the wall clock. The table saves at most a few sessions per queue
        and call (Arkime's per-check limit, which its packet threads call far more often than
        once a second), so call it again while it finds work."""
        self.sink.sweep(int(time.time() * 1_000_000))
        table = self.sink.table
        for _ in range(SWEEP_ROUNDS):
            done = table.saved + table.segments_saved
            table.sweep(table.clock)
            if table.saved + table.segments_saved == done:
                return

    # --- the import folder ------------------------------------------------------------------------

    def _import_loop(self) -> None:
        """Import captures dropped in pcapImportDir: their own pcap files (numbered with live
        capture's) and session table (their packet times are not the link's), into the same
        database thread. A stop leaves the file in hand part-way; the next start goes on."""
        from appliance.capture.importer import Importer
        from appliance.capture.sink import PacketSink
        from appliance.capture.watch import ImportWatcher
        from appliance.pcapstore.freespace import FreeSpaceGuard
        from appliance.pcapstore.writer import PcapWriter
        from appliance.store.db import open_database

        s = self.settings
        conn = open_database(s.dbPath, migrate=False)
        writer = PcapWriter(conn, s, numbers=self.writer.numbers, repair=False)
        guard = FreeSpaceGuard(conn, s, lambda: writer.current_num)
        writer.on_rotate, writer.on_full = guard.on_rotate, guard.on_full
        sink = PacketSink(s, writer, self._session_saved)
        importer = Importer(conn, sink, guard, flush_sessions=self._commit_sessions, stop=self.stopping)
        watcher = ImportWatcher(s.pcapImportDir, importer)
        watcher.start()
        log.info("importing captures dropped in %s", s.pcapImportDir)
        try:
            while not self.stopping.wait(1.0):
                watcher.poll()
                writer.tick()
                guard.tick()
        finally:
            watcher.stop()
            writer.close()
            conn.close()

    def _commit_sessions(self) -> None:
        """Wait until the database thread has committed every session queued so far (an imported
        file is recorded as done only once its sessions are in the store)."""
        done = threading.Event()
        self._put(self.sessions_q, lambda conn, store: done.set())
        while not done.wait(0.5):
            if not any(t.name == "database" and t.is_alive() for t in self.threads):
                return

    # --- database --------------------------------------------------------------------------------

    def _database_loop(self) -> None:
        """Write sessions in batches; run the tasks other threads queue (term pruning)."""
        from appliance.store.db import open_database
        from appliance.store.sessions import SessionStore
        from appliance.store.writer_process import BatchWriter, can_overlap

        conn = open_database(self.settings.dbPath, migrate=False)
        # With dbWriterProcess and a second core, batches are written by a child process while
        # this thread builds the next (it shares the interpreter with capture and the session table).
        store = SessionStore(conn)
        if self.settings.dbWriterProcess and can_overlap():
            store.writer = BatchWriter(self.settings.dbPath)
        spool: Spool | None = None
        try:
            while True:
                try:
                    item = self.sessions_q.get(timeout=0.25)
                except queue.Empty:
                    self._store_call(store.tick)
                    continue
                if item is _STOP:
                    break
                if callable(item):
                    self._store_call(store.flush)
                    item(conn, store)
                else:
                    if spool is None and self._past_stop_budget():
                        spool = Spool(status_file.spool_path(self.settings))
                    if spool is not None:
                        spool.add(item)
                    else:
                        self._add(store, item)
            self._store_call(store.flush)
        finally:
            if store.writer is not None:
                store.writer.close()
            if spool is not None:
                spool.close()
                self.spooled = spool.count
                log.warning("stored the open sessions for %.1f s, then spooled %d to %s; the next start "
                            "stores them", self.stop_store_seconds, spool.count, spool.path)
            conn.close()

    def _past_stop_budget(self) -> bool:
        # Counted from the start of the saving, not from the signal: draining the packet queue
        # first must not leave a small table no time to be stored.
        started = self.saving_open
        return started is not None and time.monotonic() - started > self.stop_store_seconds

    def _store_call(self, call: Any) -> None:
        # A batch the writer process lost (StoreError) is counted and logged like a refusal: the
        # store goes on with the next, written in this thread if the process is gone.
        from appliance.store.db import StoreError

        try:
            call()
        except StoreError:
            self.store_errors += 1
            log.exception("the session store lost a batch")

    def _add(self, store: Any, doc: dict[str, Any]) -> None:
        # A session the store refuses must not stop the capture: its packets are on disk.
        try:
            store.add(doc)
        except Exception:
            self.store_errors += 1
            if self.store_errors == 1:
                log.exception("the session store refused a session (further refusals are only counted)")

    # --- retention -------------------------------------------------------------------------------

    def _retention_loop(self) -> None:
        delay = EXPIRE_FIRST_SECONDS
        while not self.stopping.wait(delay):
            self.expire_now()
            delay = seconds_until(EXPIRE_HOUR, EXPIRE_MINUTE)

    def expire_now(self) -> None:
        """One retention pass; the terms it leaves without sessions are pruned by the database thread."""
        from appliance.retention import expire, prune_terms
        from appliance.store.db import open_database

        conn = open_database(self.settings.dbPath, migrate=False)
        try:
            report = expire(conn, self.settings, prune=False)
        finally:
            conn.close()
        for line in report.lines()[:-2]:
            log.info("expire: %s", line)

        def prune(db: Any, store: Any) -> None:
            pruned = prune_terms(db)
            store.forget_terms()  # its (field, value) -> id cache may name a pruned term
            log.info("expire: %d terms without sessions deleted", pruned)

        self._put(self.sessions_q, prune)

    # --- viewer, reload, status ---------------------------------------------------------------

    def _prepare_viewer(self) -> None:
        from appliance.web.server import build_server

        self.server = build_server(self.settings)
        self.server.prepare()  # binds now, so a port in use is reported at start
        host, port = self.server.bind_addr[:2]
        log.info("viewer on %s:%s", host, port)

    def reload(self, new: Any) -> list[str]:
        """Apply what can change while running (SIGHUP); returns the names of what changed."""
        old, changed = self.settings, []
        for name in (s for s in new.as_dict() if getattr(new, s) != getattr(old, s)):
            changed.append(name)
            if name not in RELOADABLE:
                log.warning("%s changed: restart fukurou to apply it", name)
        self.settings = old.replace(**{n: getattr(new, n) for n in changed if n in RELOADABLE})
        s = self.settings
        logging.getLogger().setLevel(s.logLevel.upper())
        if self.guard is not None:
            self.guard.rule = s.freeSpaceG
        if self.writer is not None:
            self.writer.max_bytes = max(int(s.maxFileSizeG * (1 << 30)), 25)
            self.writer.max_age_us = s.maxFileTimeM * 60_000_000
        log.info("settings reloaded: %s", ", ".join(changed) or "nothing changed")
        return changed

    def status_record(self) -> dict[str, Any]:
        sink = self.sink
        mono = time.monotonic()
        last, packets, sessions = self._last_status
        span = max(mono - last, 1e-6)
        self._last_status = (mono, sink.packets, sink.sessions)
        return {"pid": os.getpid(), "started": self.started, "updated": time.time(),
                "packets": sink.packets, "bytes": sink.bytes, "sessions": sink.sessions,
                "packets_per_s": (sink.packets - packets) / span, "sessions_per_s": (sink.sessions - sessions) / span,
                "open_sessions": sink.table.count, "compressed_sessions": sink.table.compressed_count,
                "dropped": sum(i.dropped for i in self.ifaces.values()),
                "queue_waits": self.queue_waits, "store_errors": self.store_errors,
                "pcap_files": self.writer.files_written, "rss_bytes": rss_bytes(),
                "interfaces": [asdict(i) for i in self.ifaces.values()]}

    def _write_status(self, final: bool = False) -> None:
        record = self.status_record()
        if final:
            record["stopped"] = time.time()
        try:
            status_file.write_record(self.settings, record)
        except OSError as err:
            log.warning("cannot write the status record: %s", err)


class Spool:
    """Session documents written at a stop that ran out of time: length-prefixed marshal records.

    marshal, not JSON: four times faster to write, which is what a stop is short of. The file is
    the appliance's own, read back by the next start of the same installation (marshal's format
    is stable across Python 3 releases; a record that does not load is reported and skipped)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file = open(path, "ab")  # noqa: SIM115 - closed by close()
        self.count = 0

    def add(self, doc: dict[str, Any]) -> None:
        record = marshal.dumps(doc, 4)
        self.file.write(len(record).to_bytes(4, "little") + record)
        self.count += 1

    def close(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()


def read_spool(path: str) -> tuple[list[dict[str, Any]], int]:
    """(documents, damaged records) of a spool; a record cut short by a crash ends it."""
    docs, bad = [], 0
    with open(path, "rb") as fh:
        data = fh.read()
    pos = 0
    while pos + 4 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "little")
        record = data[pos + 4:pos + 4 + size]
        pos += 4 + size
        try:
            if len(record) < size:
                raise EOFError("cut short")
            doc = marshal.loads(record)
            if not isinstance(doc, dict):
                raise ValueError("not a document")
            docs.append(doc)
        except (EOFError, ValueError, TypeError):
            bad += 1
    return docs, bad + (pos < len(data))  # a length prefix itself cut short


def restore_spool(conn: Any, path: str) -> int:
    """Store the sessions a previous stop spooled, then remove the spool; returns how many."""
    from appliance.store.sessions import SessionStore

    if not os.path.exists(path):
        return 0
    docs, bad = read_spool(path)
    store, stored = SessionStore(conn, batch_size=20_000, max_delay=3600), 0
    for doc in docs:
        try:
            store.add(doc)
            stored += 1
        except (KeyError, TypeError, ValueError):
            bad += 1
    store.flush()
    os.remove(path)
    log.info("stored %d sessions spooled at the last stop%s", stored,
             f" ({bad} damaged records skipped)" if bad else "")
    return stored


class _JournalFormatter(logging.Formatter):
    """journald reads a ``<N>`` syslog priority at the start of each stderr line."""

    PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

    def format(self, record: logging.LogRecord) -> str:
        return f"<{self.PRIORITY.get(record.levelno, 6)}>{super().format(record)}"


def setup_logging(level: str) -> None:
    """Log to stderr with levels; under systemd (JOURNAL_STREAM set) as journald priorities."""
    handler = logging.StreamHandler()
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def seconds_until(hour: int, minute: int, now: float | None = None) -> float:
    """Seconds from ``now`` to the next hour:minute, local time."""
    now = time.time() if now is None else now
    t = time.localtime(now)
    target = time.mktime((t.tm_year, t.tm_mon, t.tm_mday, hour, minute, 0, 0, 0, -1))
    if target <= now:
        target = time.mktime((t.tm_year, t.tm_mon, t.tm_mday + 1, hour, minute, 0, 0, 0, -1))
    return max(target - now, 1.0)


def run(settings: Any, config_path: str | None, viewer: bool = True, interfaces: list[str] | None = None,
        ready: Callable[[Appliance], None] | None = None) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads. Returns the exit code (0, 1 on a failure, 2 cannot start)."""
    import signal

    from appliance.settings import SettingsError, load_settings

    lock = status_file.RunLock(status_file.lock_path(settings))
    try:
        lock.acquire()
    except (status_file.AlreadyRunning, OSError) as err:
        log.error("%s", err)
        return 2
    app = Appliance(settings, config_path, viewer, interfaces)
    hup = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: app.stop())
    signal.signal(signal.SIGINT, lambda *_: app.stop())
    signal.signal(signal.SIGHUP, lambda *_: hup.set())
    try:
        app.start()
    except Exception as err:  # the store, the viewer's port...: say why and give up
        log.error("cannot start: %s", err)
        app.stop()
        with contextlib.suppress(Exception):
            app.wait(5.0)
        lock.release()
        return 2
    if ready is not None:
        ready(app)
    while not app.stopping.wait(0.5):
        if hup.is_set():
            hup.clear()
            try:
                app.reload(load_settings(config_path))
            except SettingsError as err:
                log.error("settings not reloaded: %s", err)
    log.info("stopping")
    started = time.monotonic()
    if not app.wait(9.0):
        # Saving costs ~0.5 ms per open session: past ~20,000 of them it takes more than 10 s.
        # Finishing beats exiting on time; a supervisor's SIGKILL loses only the unsaved sessions.
        log.warning("still saving %d open sessions after %.0f s; finishing", app.sink.table.count if app.sink else 0,
                    time.monotonic() - started)
        app.finish()
    log.info("stopped in %.1f s", time.monotonic() - started)
    lock.release()
    return 1 if app.failed else 0
