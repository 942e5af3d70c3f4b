"""Where captured and imported packets go: the PCAP store, then the session table.

This is ``pipeline.parse_capture``'s loop with one change: the position given to the session
table is the packet's place in the *store* (``file_number << 40 | offset``) instead of its offset
in the input file, so sessions point at packets that outlive the input. The Decoder and
SessionTable are the same objects, so an imported capture gives the sessions ``fukurou parse``
gives (``tests/test_live_capture.py`` checks that).

Also here: :class:`SessionOutput`, the sessions' destination (the SessionStore when this build has
it, a JSON-lines file for checking, or any callback).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import apsw

from appliance.decode import Decoder
from appliance.documents import flat_document
from appliance.fields import nest
from appliance.pcapstore.writer import PcapWriter
from appliance.pipeline import make_app_layer
from appliance.readers import CaptureReader, Record
from appliance.sessions import Session, SessionTable

log = logging.getLogger(__name__)


class PacketSink:
    """Stores packets and builds sessions; ``add`` is the hot path, fed by ``feed_from`` (a capture
    file) or ``feed`` (a live capture's batch)."""

    def __init__(self, settings: Any, writer: PcapWriter, on_session: Callable[[Session], None],
                 parsers: bool = True) -> None:
        self.writer = writer
        self.snaplen: int = settings.snapLen  # typed: compared with every packet's length
        self.sessions = 0
        # Set while re-importing a file that a crash interrupted: True for a session that the
        # first try already stored, which is then counted but not handed on.
        self.skip: Callable[[Session], bool] | None = None
        self.skipped = 0

        def saved(session: Session) -> None:
            self.sessions += 1
            if self.skip is not None and self.skip(session):
                self.skipped += 1
                return
            on_session(session)

        self.table = SessionTable(settings, saved, make_app_layer(settings) if parsers else None)
        self.decoder = Decoder()
        self.packets = 0
        self.bytes = 0

    def feed(self, records: Iterable[Record]) -> int:
        """Store and account every record (a live capture's batch); returns how many there were."""
        packets = 0
        for ts, caplen, wirelen, data, _offset, linktype in records:
            self.add(ts, caplen, wirelen, data, linktype)
            packets += 1
        return packets

    def feed_from(self, reader: CaptureReader, limit: int) -> int:
        """Store and account the next ``limit`` records of a capture file (fewer at its end);
        returns how many there were. ``next_record``, not iteration: see appliance/readers.py."""
        packets = 0
        while packets < limit:
            ts, caplen, wirelen, data, _offset, linktype = reader.next_record()
            if caplen < 0:
                break
            self.add(ts, caplen, wirelen, data, linktype, reader.record_header())
            packets += 1
        return packets

    def add(self, ts: int, caplen: int, wirelen: int, data: bytes, linktype: int,
            header: bytes | None = None) -> None:
        """Store one packet and hand it to the session table (``header``: its record header as
        the store writes it, when the input file has one: ``CaptureReader.record_header``)."""
        # Direct method calls on typed attributes: compiled (appliance/native.py), they are C calls.
        if caplen > self.snaplen:  # cut here, not only in the writer, so sessions see what is stored
            data, caplen, header = data[: self.snaplen], self.snaplen, None
        pos = self.writer.write(ts, caplen, wirelen, data, linktype, header)
        self.packets += 1
        self.bytes += caplen
        if linktype == 1 and caplen >= 54 and self.table.add_ipv4(ts, caplen, data, pos):
            return
        frame = self.decoder.decode(ts, caplen, wirelen, data, pos, linktype)
        if frame is not None:
            self.table.add(frame)

    def sweep(self, now_us: int) -> None:
        """Time out idle sessions by the wall clock (a live link may be silent for minutes)."""
        if now_us > self.table.clock:
            self.table.clock = now_us
            self.table.sweep(now_us)

    def flush(self) -> None:
        """Save every open session (end of an imported file, or shutdown)."""
        self.table.flush()


class SessionOutput:
    """Sends saved sessions to the SessionStore (when present), a JSON-lines file, or a callback."""

    def __init__(self, conn: apsw.Connection | None, node: str, jsonl: TextIO | None = None,
                 callback: Callable[[Session], None] | None = None, use_store: bool = True,
                 store: Any | None = None) -> None:
        self.node = node
        self.jsonl = jsonl
        self.callback = callback
        # ``store``: another writer with the SessionStore's add/tick/flush (a StoreProcess).
        self.store = store if store is not None else (
            _session_store(conn) if use_store and conn is not None else None)
        self.count = 0
        self.store_errors = 0

    def __call__(self, session: Session) -> None:
        self.count += 1
        if self.store is None and self.jsonl is None:
            if self.callback is not None:
                self.callback(session)
            return
        flat = flat_document(session, self.node)
        if self.store is not None:
            self._store(flat)
        if self.jsonl is not None:
            self.jsonl.write(json.dumps(nest(flat), separators=(",", ":")) + "\n")
        if self.callback is not None:
            self.callback(session)

    def _store(self, flat: dict[str, Any]) -> None:
        # A session the store refuses must not stop capture: the packets are already on disk.
        # Count it and log the first one in full (per-packet errors: count and go on).
        try:
            self.store.add(flat)  # type: ignore[union-attr]
        except Exception:
            self.store_errors += 1
            if self.store_errors == 1:
                log.exception("the session store refused a session (further refusals are only counted)")

    def tick(self) -> None:
        """Once a second: let the store commit its batch even when few sessions arrive."""
        if self.store is not None and hasattr(self.store, "tick"):
            self.store.tick()

    def flush(self) -> None:
        if self.store is not None:
            try:
                self.store.flush()
            finally:
                # A store in another process counts its refusals there and reports them here.
                refused = getattr(self.store, "refused", 0)
                if refused:
                    self.store_errors += refused
                    self.store.refused = 0
        if self.jsonl is not None:
            self.jsonl.flush()


def _session_store(conn: apsw.Connection) -> Any | None:
    """The SessionStore if this build has one (it is built separately); None otherwise."""
    try:
        from appliance.store.sessions import SessionStore  # type: ignore[import-not-found]
    except ImportError:
        log.debug("no session store in this build; sessions are not saved to the database")
        return None
    return SessionStore(conn)
