"""Storing sessions in a second process, so that a bulk import uses two cores.

``fukurou import`` spends about half its time building sessions (decoding, the session table,
the parsers) and half storing them (splitting documents into columns, terms and blobs, then
SQLite). In one process the two halves take turns on one core; here the import process builds
the sessions and a child process (this module's ``main``, given the database) stores them,
so on a machine with two cores they overlap.

The child is the store's only session writer while it runs: it has its own connection and its
own :class:`SessionStore`, which reads the next term and session ids from the database at each
batch, as it does in one process. The import process still writes its own tables (pcap files,
``imported_files``) through its connection; WAL and the busy timeout let the two take turns.

Messages on the child's stdin: a kind byte and a 4-byte length, then the body.
    ``R`` + marshal(field definitions), first: the registry, which the child would otherwise
    build by importing every parser;
    ``D`` + marshal(list of flat documents): store them;
    ``S`` + marshal(a chunk of ``shapes.ShapeEncoder``): the same as shapes and values, each
    shape's field paths sent once, with packetPos packed (``blob.packed_positions``): what the
    import process sends while the child is the slower half (``StoreProcess._child_is_behind``);
    ``T``: commit the batch if it is old enough (the store's ``tick``);
    ``F``: commit everything now, then answer on stdout with marshal((refused, error));
    ``Q``: end (after an ``F``).
The child dies with the import process (``PR_SET_PDEATHSIG``), and input that ends without a
``Q`` is not committed: a killed import leaves the child's open transaction uncommitted (up to
BATCHES_PER_COMMIT batches), and the next import of the file stores what is missing.
A thread in the child reads chunks into a bounded queue, so the pipe keeps draining while a
commit runs (SQLite runs without the GIL); when the queue and the pipe are full the import
waits, so memory stays bounded when storing is the slower half.

Small work stays in process: documents are kept until a chunk is full, and a flush that comes
first (a small capture) stores them with an in-process store, so a small import does not pay
for starting the child (~0.25 s). Once the child has started, everything goes to it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import marshal
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Final

import apsw

from appliance import fields as registry
from appliance.store.db import StoreError, open_database
from appliance.store.shapes import Document, ShapeDecoder, ShapeEncoder

log = logging.getLogger(__name__)

CHUNK_DOCS = 256  # documents per message: one marshal call and one pipe write for many sessions
PIPE_BYTES = 1 << 20
# Chunks the child holds while it commits (a commit runs without the GIL, so a thread keeps
# reading): ~2 MB at most (a session-heavy chunk is ~230 KB). When the child is the slower half the
# queue is always full, so each chunk it holds is memory and no speed: at 32, 3 MiB more of the
# child's peak on the 400 MB session-heavy capture than at 8, at the same speed on it and on the
# 1 GB home capture (alternating runs, stop 30; an earlier build, committing every batch, had
# waited on a full pipe at 16).
QUEUED_MESSAGES = 8
# When the import process has spent this share of its recent time waiting to hand chunks to the
# child, it sends shapes and values with the packet positions packed (StoreProcess._child_is_behind);
# "recent" halves every WAIT_HALF_LIFE seconds.
WAITED_SHARE = 0.1
WAIT_HALF_LIFE = 5.0
_HEADER = 5
CHECKPOINT_PAGES = 4000  # WAL pages (4 KiB) that start a checkpoint in the child (Checkpointer)
WAL_MAX_PAGES = 16_000
# SQLite's page cache in the child, KiB: its default. Stop 26 gave it 8 MB, when session-heavy
# traffic put each new session at a random place in the time-led indexes (buckets of 4.7 hours)
# and most inserts read a page back. Since those buckets are 17.5 minutes (sql/013) the bigger
# cache buys little: replaying the 400 MB session-heavy capture's input, five runs each,
# alternating, 13.59 s against 13.29 s at best (medians 14.06 and 14.71), also into a store of
# 650,000 sessions; for 7 MiB of the child, which the 100 MiB target of the import needs more.
WRITER_CACHE_KIB = 2000
# Full batches of 5,000 sessions per transaction in the child (SessionStore.batches_per_commit):
# session-heavy traffic changes the same index, postings and aggregate pages in every batch, and
# each commit wrote them all to the WAL again. With 4, the 400 MB session-heavy capture's store
# process took 8-18 % less time, in the same memory (the page cache bounds the dirty pages). A killed
# import then loses up to 20,000 sessions instead of 5,000; importing the file again stores them.
BATCHES_PER_COMMIT = 4
# New container objects between collections of the young generation in this process (see
# appliance/memory.py). Storing makes no reference cycles, only batches of objects that all live
# until their commit, so each collection walked a batch's worth of live objects for nothing: at
# 20,000, 3.6 % of the process's time on session-heavy traffic; at 500,000, none measurable, and
# the same peak memory.
YOUNG_COLLECTION_EVERY = 500_000


def child_pids(parent: int | str = "self") -> list[int]:
    """Pids of the store processes that ``parent`` (a pid, or this process) started, found by
    their command line (for reports of their memory and CPU, and for tests)."""
    found = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"writer_process" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
            except OSError:  # it ended meanwhile
                continue
    return found


def can_overlap() -> bool:
    """Whether a second process would have a core of its own."""
    try:
        return len(os.sched_getaffinity(0)) >= 2
    except (AttributeError, OSError):
        return (os.cpu_count() or 1) >= 2


class StoreProcess:
    """A SessionStore in a child process, with the SessionStore methods the import uses:
    ``add``, ``tick``, ``flush``, ``close``. Refusals counted by the child are collected at each
    flush in ``refused``."""

    def __init__(self, conn: apsw.Connection, db_path: str) -> None:
        self.conn = conn
        self.db_path = db_path
        self.refused = 0
        self._pending: list[dict[str, Any]] = []
        self._child: subprocess.Popen[bytes] | None = None
        self._local: Any = None  # the in-process store, for work that ends before a chunk fills
        self._uncommitted = False
        self._started = False  # a child was started (and took over the checkpoints)
        self._logged = False
        # Set when the child is found gone: what it had not committed is lost, so no new child
        # takes over (the import would look complete); every flush raises this instead.
        self._broken: StoreError | None = None
        # Recent time spent waiting for the child to take chunks, and time in all (seconds,
        # decaying): whether to send shapes and packed positions (_child_is_behind).
        self._waited = 0.0
        self._elapsed = 0.0
        self._last_send = 0.0
        self._shapes = ShapeEncoder()  # the shapes of the documents sent as ``S``

    def add(self, doc: dict[str, Any]) -> None:
        if self._broken is not None:
            return  # lost with the child; the file's flush says so
        self._pending.append(doc)
        if len(self._pending) >= CHUNK_DOCS:
            # A child found gone is not this session's refusal: flush reports it, once, for all.
            with contextlib.suppress(StoreError):
                self._send_pending()

    def tick(self) -> None:
        """Hand over what is waiting, and let the child commit a batch that has waited a second."""
        if self._child is None or self._broken is not None:
            return
        with contextlib.suppress(StoreError):  # flush reports it
            if self._pending:
                self._send_pending()
            if self._uncommitted:
                self._send(b"T", b"")

    def flush(self) -> None:
        """Every document given so far is committed when this returns (or StoreError is raised)."""
        if self._broken is not None:
            raise self._broken
        if self._child is None:
            self._flush_locally()
            return
        if self._pending:
            self._send_pending()
        self._send(b"F", b"")
        refused, error = self._answer()
        self._uncommitted = False
        self.refused += refused
        if error:
            raise StoreError(f"the store process could not commit: {error}")

    def close(self) -> None:
        """Flush, then end the child (closing its stdin ends it)."""
        try:
            if self._broken is None:
                self.flush()
        finally:
            if self._started:  # it did the checkpoints while it ran (also if it died)
                with contextlib.suppress(apsw.Error):
                    self.conn.execute("PRAGMA wal_autocheckpoint=1000")  # SQLite's default, ours again
            child, self._child = self._child, None
            if child is not None:
                code = _end_child(child)
                if code:
                    log.warning("the store process ended with exit code %s", code)

    def _flush_locally(self) -> None:
        if not self._pending:
            return
        if self._local is None:
            from appliance.store.sessions import SessionStore

            self._local = SessionStore(self.conn)
        docs, self._pending = self._pending, []
        for doc in docs:
            try:
                self._local.add(doc)
            except Exception:
                self._count_refusal()
        self._local.flush()

    def _count_refusal(self) -> None:
        self.refused += 1
        if not self._logged:
            self._logged = True
            log.exception("the session store refused a session (further refusals are only counted)")

    def _send_pending(self) -> None:
        if self._child is None:
            if self._local is not None:
                self._local.flush()  # the in-process store's last batch goes in before the child's first
            try:
                self._child = _start_child(self.db_path)
            except OSError as err:
                self._broken = StoreError(f"cannot start the store process: {err}")
                raise self._broken from err
            # The child checkpoints the WAL (Checkpointer); a commit of the import's own tables
            # (pcap files) would otherwise copy the child's pages here, on the other busy core.
            self.conn.execute("PRAGMA wal_autocheckpoint=0")
            self._started = True
        docs, self._pending = self._pending, []
        kind = b"S" if self._child_is_behind() else b"D"
        try:
            body = marshal.dumps(self._shapes.encode(docs) if kind == b"S" else docs, 4)
        except ValueError:  # a value marshal cannot write (no flat document holds one): refuse that one
            self._shapes.forget()  # the shapes it numbered did not reach the child
            kind, body = b"D", marshal.dumps([doc for doc in docs if self._marshals(doc)], 4)
        self._send(kind, body)
        self._uncommitted = True

    def _child_is_behind(self) -> bool:
        """Whether the import process has lately spent a tenth of its time or more waiting to
        hand chunks over: the child is the slower half, so the import process sends shapes and
        values (``shapes.ShapeEncoder``: the child builds no dict per session) and packs the
        packet positions itself (``blob.packed_positions``), work that either process can do at
        about the same cost, and which spares both sides of ``marshal`` an int object a packet.
        Each costs the import process about half what it saves the child. That is the case
        all through a session-heavy import (~20 % waiting: the pipe and the child's queue fill
        while it writes each batch). In a home import the import process is the slower half
        (~4 % waiting), and this work would only slow it down."""
        return self._waited >= WAITED_SHARE * self._elapsed > 0

    def _count_wait(self, started: float, waited: float) -> None:
        """Add one hand-over to the recent waiting (halved every WAIT_HALF_LIFE seconds). The
        first only starts the clock."""
        now, last = started + waited, self._last_send
        self._last_send = now
        if not last:
            return
        decay = 0.5 ** ((now - last) / WAIT_HALF_LIFE)
        self._waited = self._waited * decay + waited
        self._elapsed = self._elapsed * decay + now - last

    def _marshals(self, doc: dict[str, Any]) -> bool:
        try:
            marshal.dumps(doc, 4)
        except ValueError:
            self._count_refusal()
            return False
        return True

    def _send(self, kind: bytes, body: bytes) -> None:
        assert self._child is not None and self._child.stdin is not None
        try:
            message = framed(kind, body)
            started = time.monotonic()
            self._child.stdin.write(message)
            if kind in (b"D", b"S"):
                self._count_wait(started, time.monotonic() - started)
            else:
                self._child.stdin.flush()
        except (BrokenPipeError, ValueError) as err:
            raise self._ended() from err

    def _answer(self) -> tuple[int, str]:
        assert self._child is not None
        try:
            refused, error = _read_answer(self._child)
        except (BrokenPipeError, EOFError, ValueError, TypeError) as err:
            raise self._ended() from err
        return int(refused), str(error or "")

    def _ended(self) -> StoreError:
        """The child is gone: what it had not committed is lost, and the import must say so."""
        child = self._child
        code = child.wait(timeout=10) if child is not None else None
        self._child, self._pending = None, []
        self._broken = StoreError(f"the store process ended (exit code {code}); sessions since its last commit "
                                  "were not stored, and the file is left to import again")
        return self._broken


class BatchWriter:
    """The write half of a ``SessionStore`` (``writer=``) in a child process: the store builds a
    batch (rows, postings, terms, totals, aggregates) and hands it over, and the child writes and
    commits it with its own connection while the store builds the next. Building and writing a
    batch cost about the same, so with a core for each the store takes sessions nearly twice as
    fast; ``fukurou run`` and ``benchmarks/store.py`` use it on a machine with two cores.

    The store waits for each batch's answer before it hands over the next, so at most one batch
    is in the child, and the store knows which of its ids the database does not hold yet."""

    def __init__(self, db_path: str) -> None:
        try:
            self._child: subprocess.Popen[bytes] | None = _start_child(db_path)
        except OSError as err:
            raise StoreError(f"cannot start the store's writer process: {err}") from err
        self._waiting = 0
        self.broken = False

    def send(self, batch: tuple[Any, ...]) -> None:
        """Hand over one batch (see ``sessions.write_batch``); StoreError if the child is gone."""
        try:
            body = marshal.dumps(batch, 4)
        except ValueError as err:  # a value marshal cannot write (no flat document holds one)
            raise StoreError(f"a batch could not be handed to the writer process: {err}") from err
        child = self._alive()
        assert child.stdin is not None
        try:
            child.stdin.write(framed(b"B", body))
            child.stdin.flush()
        except (BrokenPipeError, ValueError) as err:
            raise self._gone() from err
        self._waiting += 1

    def wait(self) -> None:
        """Until every batch handed over is committed; StoreError for one that was not."""
        while self._waiting:
            try:
                error = _read_answer(self._alive())
            except (EOFError, ValueError, TypeError) as err:
                raise self._gone() from err
            self._waiting -= 1
            if error:
                raise StoreError(f"the store's writer process could not commit a batch: {error}")

    def close(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            _end_child(child)

    def _alive(self) -> subprocess.Popen[bytes]:
        if self._child is None:
            raise StoreError("the store's writer process has ended")
        return self._child

    def _gone(self) -> StoreError:
        child, self._child = self._child, None
        code = child.wait(timeout=10) if child is not None else None
        self.broken, self._waiting = True, 0
        return StoreError(f"the store's writer process ended (exit code {code}); the sessions of its "
                          "last batch and of the one being built were not stored")


def _read_answer(child: subprocess.Popen[bytes]) -> Any:
    """The child's next answer: a 4-byte length, then marshal (EOFError, ValueError or TypeError
    when the child is gone)."""
    assert child.stdout is not None
    header = child.stdout.read(4)
    return marshal.loads(child.stdout.read(int.from_bytes(header, "little")) if len(header) == 4 else b"")


def _end_child(child: subprocess.Popen[bytes]) -> int:
    """Send Q and close the child's input, then wait for it to exit; its exit code. Everything it
    was given is committed by then (a flush came first): only exiting is left."""
    assert child.stdin is not None and child.stdout is not None
    with contextlib.suppress(BrokenPipeError, ValueError):
        child.stdin.write(framed(b"Q"))
        child.stdin.close()
    child.stdout.close()
    try:
        return child.wait(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


# The child's entry: the package's folder first on sys.path, as the parent found it (the RPM's
# launcher puts a private site directory there and runs python -sE, which ignores PYTHONPATH).
_CHILD_MAIN: Final = ("import sys; sys.path.insert(0, sys.argv[1]); "
                      "from appliance.store.writer_process import main; sys.exit(main(sys.argv[2:]))")


def _start_child(db_path: str) -> subprocess.Popen[bytes]:
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # The interpreter flags that decide where code comes from, as the import process has them.
    flags = [flag for flag, on in (("-s", sys.flags.no_user_site), ("-E", sys.flags.ignore_environment)) if on]
    # stderr is inherited: the child's log lines go where the import's go.
    child = subprocess.Popen([sys.executable, *flags, "-c", _CHILD_MAIN, package_root, db_path, str(os.getpid())],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=1 << 16)
    # A bigger pipe than the default 64 KiB (up to the unprivileged limit, 1 MiB): the import
    # keeps going while the child reads a whole chunk.
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(child.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[union-attr]
    # Its first message: the session fields, so that it need not import the parsers to know them.
    registry.load_protocol_fields()
    body = marshal.dumps(registry.definitions())
    try:
        child.stdin.write(framed(b"R", body))  # type: ignore[union-attr]
    except BrokenPipeError:
        pass  # gone at once: the first real message finds that out and says so
    return child


# --- the child --------------------------------------------------------------------------------


def framed(kind: bytes, body: bytes = b"") -> bytes:
    """One message for the child's stdin: its kind byte, the body's length, the body."""
    return kind + len(body).to_bytes(_HEADER - 1, "little") + body


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError
    return data


def _write_answer(out: IO[bytes], value: Any) -> None:
    """An answer to the parent (``_read_answer`` reads it)."""
    answer = marshal.dumps(value)
    out.write(len(answer).to_bytes(4, "little") + answer)
    out.flush()


def _read_message(inp: IO[bytes]) -> tuple[bytes, bytes] | None:
    """(kind, body) of the next message; None at the end of the input."""
    try:
        header = _read_exact(inp, _HEADER)
        size = int.from_bytes(header[1:], "little")
        return header[:1], _read_exact(inp, size) if size else b""
    except (EOFError, OSError, ValueError):
        return None


def _read_messages(inp: IO[bytes], messages: queue.Queue[tuple[bytes, bytes] | None]) -> None:
    """Keep the pipe drained while the store commits (SQLite runs without the GIL then), so the
    import process does not wait on a full pipe; None at the end of the input."""
    while True:
        message = _read_message(inp)
        messages.put(message)
        if message is None:
            return


def serve(db_path: str, inp: IO[bytes], out: IO[bytes]) -> int:
    """Store what arrives on ``inp`` until it closes; returns the exit code."""
    from appliance.store.sessions import SessionStore, write_batch

    first = _read_message(inp)
    if first is not None and first[0] == b"R":  # the field registry, before the store needs it
        registry.adopt(marshal.loads(first[1]))
        first = None
    conn = open_database(db_path, migrate=False, one_thread=True)  # used by this thread alone
    conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
    store = SessionStore(conn, batches_per_commit=BATCHES_PER_COMMIT)
    shapes = ShapeDecoder()  # of the documents sent as S
    checkpoints = Checkpointer(store.conn, db_path)
    refused, error = 0, ""
    messages: queue.Queue[tuple[bytes, bytes] | None] | None = None
    reader: threading.Thread | None = None
    while True:
        if first is not None:
            message, first = first, None
        elif messages is None:
            message = _read_message(inp)
        else:
            if messages.empty():  # waiting for input: hold no write lock the import process may need
                try:
                    store.commit_written()
                except apsw.Error as err:  # lost with their batches (a full disk, say), as in add
                    refused += 1
                    error = str(err)
            message = messages.get()
        if message is not None and message[0] in (b"D", b"S") and messages is None:
            # Documents come in many small chunks, sent while the store commits: a thread keeps
            # the pipe drained then. A BatchWriter's batches come one at a time, each answered
            # before the next is sent, so this thread reads them itself: a reader thread would
            # wait for the GIL at each of a big batch's pipe reads (5 ms each while we write).
            messages = queue.Queue(QUEUED_MESSAGES)
            reader = threading.Thread(target=_read_messages, args=(inp, messages), name="store-input", daemon=True)
            reader.start()
        if message is None:
            log.error("the process that fed the store went away; what it sent since the last commit was not stored")
            return 1
        kind, body = message
        if kind in (b"D", b"S"):
            checkpoints.before_write()
            loaded = marshal.loads(body)
            for doc in loaded if kind == b"D" else shapes.decode(loaded):
                try:
                    if isinstance(doc, Document):
                        store.add_document(doc)
                    else:
                        store.add(doc)  # a dict (or refused: anything else)
                except Exception as err:  # one refused session, or a batch whose commit failed
                    refused += 1
                    if refused == 1:
                        log.exception("the session store refused a session (further refusals are only counted)")
                    if isinstance(err, apsw.Error):
                        error = str(err)
        elif kind == b"B":  # a batch built by a SessionStore in the parent (BatchWriter)
            try:
                checkpoints.before_write()
                with store.conn:
                    write_batch(store.conn, *marshal.loads(body))
                _write_answer(out, "")
            except apsw.Error as err:
                _write_answer(out, str(err) or type(err).__name__)
        elif kind == b"T":
            store.tick()
        elif kind == b"F":
            try:
                store.flush()
            except apsw.Error as err:
                error = str(err)
            _write_answer(out, (refused, error))
            refused, error = 0, ""
        elif kind == b"Q":
            store.flush()
            checkpoints.close()
            if reader is not None:
                # The parent closes our input after Q. Until the reader thread has seen that, it
                # holds stdin's lock, and an interpreter that shuts down then aborts (SIGABRT).
                reader.join(timeout=10)
            return 0


class Checkpointer:
    """Checkpoints (copying the WAL into the database file, then an fsync) from a thread with a
    connection of its own, while the writer goes on with the next batch: SQLite runs them
    without the GIL, and the writer no longer waits for the disk at every 4 MB of WAL.

    A checkpoint starts when the WAL holds ``CHECKPOINT_PAGES`` pages after a commit (SQLite's
    own rule would run it in the committing thread at 1,000). The WAL starts over from its
    beginning only at a write that begins once a checkpoint has copied everything, so when it
    reaches ``WAL_MAX_PAGES`` the writer waits for the running checkpoint first: the WAL file
    stays within ~64 MB."""

    def __init__(self, writer: apsw.Connection, db_path: str) -> None:
        self.conn = open_database(db_path, migrate=False)
        self.pages = 0  # in the WAL after the writer's last commit
        self._wanted = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._closed = False
        writer.set_wal_hook(self._committed)  # replaces SQLite's automatic checkpoints
        self._thread = threading.Thread(target=self._run, name="store-checkpoints", daemon=True)
        self._thread.start()

    def _committed(self, _conn: apsw.Connection, _name: str, pages: int) -> int:
        self.pages = pages
        if pages >= CHECKPOINT_PAGES and self._idle.is_set():
            self._idle.clear()
            self._wanted.set()
        return apsw.SQLITE_OK

    def before_write(self) -> None:
        if self.pages >= WAL_MAX_PAGES:
            self._idle.wait()

    def close(self) -> None:
        """After the last checkpoint; the thread closes its connection and ends before this returns
        (not while the interpreter shuts down)."""
        self._idle.wait()
        self._closed = True
        self._wanted.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._closed:
                self.conn.close()
                return
            try:
                self.conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
            except apsw.BusyError:
                pass  # another connection is checkpointing (the import's own): the next commit tries again
            except apsw.Error as err:  # a full disk, say
                log.warning("a checkpoint of the store failed: %s", err)
            finally:
                self._idle.set()


def _die_with(parent: int) -> None:
    """Be killed when the import process ends, even by SIGKILL (Linux; elsewhere EOF ends us)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it ended before the line above took effect
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="fukurou: %(message)s")
    # Ctrl-C reaches the whole process group, and a service manager's SIGTERM the whole cgroup:
    # the import process decides what a stop means (it flushes, then closes our input).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    if len(args) > 1:
        _die_with(int(args[1]))
    # This process builds and commits batches of thousands of objects: see appliance/memory.py.
    from appliance.memory import collect_cycles_less_often
    from appliance.store import sessions  # noqa: F401 - loaded before start-up's objects are frozen

    collect_cycles_less_often(YOUNG_COLLECTION_EVERY)
    return serve(args[0], sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    raise SystemExit(main())
