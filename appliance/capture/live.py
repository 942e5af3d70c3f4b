"""Live capture with pcapy-ng on one or more interfaces (``interface=eth0;eth1``).

Each interface gets a pcapy handle set up before activation (snapLen, promiscuous, pcapBufferSize,
a short read timeout), the capture filter ``bpf``, and non-blocking mode. One thread waits on all
the handles' file descriptors with ``select`` and a timeout, so rotation, session timeouts, the
free-space check and signals run on an idle link too (libpcap's own read timeout is not enough on
Linux: with TPACKET_V3 a blocking read on a silent link does not return).

Packets are read in batches with ``next_batch`` when pcapy-ng has it (one call per up to 1024
packets instead of one Python callback each). ``next_batch`` does not return the wire length, so
in that mode a packet's wirelen is recorded as its caplen: exact for every packet shorter than
snapLen, an undercount for a packet snapLen cut (those are counted in ``maybe_truncated``).
Pass ``batch=False`` to use ``dispatch``, which has the real wire length, at some CPU cost.

Kernel and interface drop counters (``pcap_stats``) are read every minute and at the end.
"""

from __future__ import annotations

import argparse
import logging
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pcapy

from appliance.readers import Record

log = logging.getLogger(__name__)

BATCH = 1024
SELECT_SECONDS = 0.25
READ_TIMEOUT_MS = 100
STATS_SECONDS = 60.0
DRAIN_SECONDS = 2.0  # at most this long after a stop for packets still in the kernel ring
_META = struct.Struct("=IIII")  # next_batch: sec, usec, offset into the data, caplen (native endian)


class CaptureOpenError(RuntimeError):
    """An interface could not be opened (missing, no permission, bad filter)."""


@dataclass
class InterfaceStats:
    name: str
    received: int = 0  # pcap_stats ps_recv
    dropped: int = 0  # ps_drop: no room in the kernel buffer
    # ps_ifdrop: on Linux the interface's rx_dropped, which also counts packets the *stack* dropped
    # after the capture saw them (unknown protocol...), so it is reported but is not capture loss.
    if_dropped: int = 0
    packets: int = 0  # handed to us
    maybe_truncated: int = 0  # caplen == snapLen in batch mode: wire length unknown


@dataclass
class LiveStats:
    interfaces: list[InterfaceStats] = field(default_factory=list)

    def dropped(self) -> int:
        """Packets lost to the capture: no room in the kernel buffer (ps_drop)."""
        return sum(i.dropped for i in self.interfaces)

    def summary(self) -> str:
        return "; ".join(f"{i.name}: {i.packets:,} packets, kernel received {i.received:,}, dropped {i.dropped:,}, "
                         f"interface dropped {i.if_dropped:,}" for i in self.interfaces)


class _Handle:
    def __init__(self, name: str, pcap: Any, linktype: int) -> None:
        self.name, self.pcap, self.linktype = name, pcap, linktype
        self.fd = pcap.getfd()
        self.stats = InterfaceStats(name)


def open_interface(name: str, settings: Any) -> Any:
    """A pcapy handle, activated, filtered and non-blocking."""
    try:
        pcap = pcapy.create(name)
        pcap.set_snaplen(settings.snapLen)
        pcap.set_promisc(1 if settings.promiscuous else 0)
        pcap.set_timeout(READ_TIMEOUT_MS)
        pcap.set_buffer_size(settings.pcapBufferSize)
        pcap.activate()
    except pcapy.PcapError as err:
        raise CaptureOpenError(f"cannot capture on {name}: {err}") from err
    if settings.bpf:
        try:
            pcap.setfilter(settings.bpf)
        except pcapy.PcapError as err:
            raise CaptureOpenError(f"bpf {settings.bpf!r} on {name}: {err}") from err
    pcap.setnonblock(1)
    return pcap


class LiveCapture:
    """Reads packets from every configured interface, as reader-style records."""

    def __init__(self, settings: Any, interfaces: list[str] | None = None, batch: bool = True) -> None:
        names = list(interfaces if interfaces is not None else settings.interface)
        if not names:
            raise CaptureOpenError("no interface to capture on (set interface=, e.g. eth0;eth1)")
        self.snaplen = settings.snapLen
        self.handles: list[_Handle] = []
        try:
            for name in names:
                pcap = open_interface(name, settings)
                self.handles.append(_Handle(name, pcap, pcap.datalink()))
        except CaptureOpenError:
            self.close()
            raise
        self.batch = batch and all(hasattr(h.pcap, "next_batch") for h in self.handles)

    def wait(self, timeout: float = SELECT_SECONDS) -> list[_Handle]:
        """Handles with packets waiting, after at most ``timeout`` seconds."""
        by_fd = {h.fd: h for h in self.handles}
        try:
            ready, _, _ = select.select(list(by_fd), [], [], timeout)
        except InterruptedError:  # a signal: let the caller look at its stop flag
            return []
        return [by_fd[fd] for fd in ready]

    def read(self, handle: _Handle) -> Iterator[Record]:
        """Every packet waiting on one handle (bounded, so one busy interface cannot starve another)."""
        for _ in range(64):
            got = self._batch(handle) if self.batch else self._dispatch(handle)
            if not got:
                return
            handle.stats.packets += len(got)
            yield from got

    def _batch(self, handle: _Handle) -> list[Record]:
        data, meta = handle.pcap.next_batch(BATCH)
        linktype, snaplen = handle.linktype, self.snaplen
        records = []
        for sec, usec, off, caplen in _META.iter_unpack(meta):
            if caplen >= snaplen:
                handle.stats.maybe_truncated += 1
            records.append((sec * 1_000_000 + usec, caplen, caplen, data[off : off + caplen], 0, linktype))
        return records

    def _dispatch(self, handle: _Handle) -> list[Record]:
        records: list[Record] = []
        linktype = handle.linktype

        def one(header: Any, data: bytes) -> None:
            sec, usec = header.getts()
            records.append((sec * 1_000_000 + usec, header.getcaplen(), header.getlen(), data, 0, linktype))

        handle.pcap.dispatch(BATCH, one)
        return records

    def stats(self) -> LiveStats:
        """Current pcap_stats of every interface (counters since the handle was opened)."""
        for h in self.handles:
            try:
                h.stats.received, h.stats.dropped, h.stats.if_dropped = h.pcap.stats()
            except pcapy.PcapError as err:
                log.debug("no stats for %s: %s", h.name, err)
        return LiveStats([h.stats for h in self.handles])

    def close(self) -> None:
        for h in self.handles:
            h.pcap.close()
        self.handles = []


def run_live(capture: LiveCapture, sink: Any, stop: threading.Event,
             ticks: list[Callable[[], Any]] | None = None) -> LiveStats:
    """Capture into ``sink`` until ``stop`` is set; ``ticks`` run about once a second."""
    ticks = ticks or []
    next_tick = next_stats = 0.0
    while not stop.is_set():
        for handle in capture.wait():
            sink.feed(capture.read(handle))
        now = time.monotonic()
        if now >= next_tick:
            next_tick = now + 1.0
            sink.sweep(int(time.time() * 1_000_000))
            for tick in ticks:
                tick()
        if now >= next_stats:
            next_stats = now + STATS_SECONDS
            log.info("capture: %s", capture.stats().summary())
    stats = drain(capture, sink.feed)
    log.info("capture stopped: %s", stats.summary())
    return stats


def drain(capture: LiveCapture, feed: Callable[[Iterator[Record]], Any],
          deadline_seconds: float = DRAIN_SECONDS) -> LiveStats:
    """After a stop, hand over every packet the kernel already accepted, then the final counters.

    With TPACKET_V3 the kernel hands over a partly filled block only when its timer (the read
    timeout) retires it, so one last read can miss the final packets: read until each handle has
    given what its counters say the kernel kept for us, or until the deadline on a busy link."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        for handle in capture.handles:
            feed(capture.read(handle))
        stats = capture.stats()
        behind = [i for i in stats.interfaces if i.packets < i.received - i.dropped]
        if not behind or time.monotonic() >= deadline:
            return stats
        capture.wait(READ_TIMEOUT_MS / 1000)


# --- a stand-alone capture process (for tests and benchmarks) ----------------------------------

def main(argv: list[str] | None = None) -> int:
    """``python -m appliance.capture.live``: capture until SIGTERM/SIGINT or --seconds, then report."""
    from appliance.capture.sink import PacketSink, SessionOutput
    from appliance.pcapstore.freespace import FreeSpaceGuard
    from appliance.pcapstore.writer import PcapWriter
    from appliance.settings import load_settings
    from appliance.store.db import open_database

    parser = argparse.ArgumentParser(prog="python -m appliance.capture.live", description=main.__doc__)
    parser.add_argument("--config", help="settings file")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until a signal)")
    parser.add_argument("--jsonl", help="also write each session as a JSON line to this file")
    parser.add_argument("--no-parsers", action="store_true")
    parser.add_argument("--no-batch", action="store_true", help="use dispatch (real wire lengths)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    settings = load_settings(args.config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.seconds:
        timer = threading.Timer(args.seconds, stop.set)
        timer.daemon = True
        timer.start()
    conn = open_database(settings.dbPath)
    jsonl = open(args.jsonl, "w") if args.jsonl else None  # noqa: SIM115 - closed below
    output = SessionOutput(conn, settings.nodeName, jsonl)
    writer = PcapWriter(conn, settings)
    guard = FreeSpaceGuard(conn, settings, lambda: writer.current_num)
    writer.on_rotate, writer.on_full = guard.on_rotate, guard.on_full
    sink = PacketSink(settings, writer, output, parsers=not args.no_parsers)
    capture = LiveCapture(settings, batch=not args.no_batch)
    print("capturing", flush=True)  # the tests wait for this line before sending traffic
    stats = run_live(capture, sink, stop, [writer.tick, guard.tick, output.tick])
    capture.close()
    sink.flush()
    writer.close()
    output.flush()
    if jsonl:
        jsonl.close()
    if output.store_errors:
        print(f"session store refused {output.store_errors} sessions", file=sys.stderr)
    print(f"packets={sink.packets} sessions={sink.sessions} dropped={stats.dropped()} {stats.summary()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
