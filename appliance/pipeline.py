"""The packet path for one capture file: read -> decode -> sessions -> (parsers) -> saved sessions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.decode import Decoder
from appliance.readers import Damage, open_capture
from appliance.sessions import Session, SessionTable


@dataclass
class ParseStats:
    """What one run through a capture did, for the summary and the benchmarks."""

    packets: int = 0
    bytes: int = 0
    sessions: int = 0
    decode_errors: Counter[str] = field(default_factory=Counter)  # packets in no session, by reason
    corrupt: Counter[str] = field(default_factory=Counter)  # packets kept in corrupt-ip sessions, by reason
    damage: Damage | None = None


def make_app_layer(settings: Any) -> Any | None:
    """The protocol parsers, if this build has them (they are optional on the fast path)."""
    try:
        from appliance.protocols import AppLayer
    except ImportError:
        return None
    return AppLayer(settings)


def parse_capture(path: str, settings: Any, on_session: Callable[[Session], None],
                  parsers: bool = True, fast_path: bool = True) -> ParseStats:
    """Build the sessions of one capture file; ``on_session`` gets each as it is saved."""
    stats = ParseStats()

    def saved(session: Session) -> None:
        stats.sessions += 1
        on_session(session)

    app = make_app_layer(settings) if parsers else None
    table = SessionTable(settings, saved, app)
    decoder = Decoder()
    packets = nbytes = 0
    with open_capture(path) as reader:
        while True:
            ts, caplen, wirelen, data, offset, linktype = reader.next_record()
            if caplen < 0:
                break
            packets += 1
            nbytes += caplen
            # Method calls on the typed objects, not bound methods kept in locals: compiled, these
            # are direct C calls (a bound method goes through Python's calling convention).
            if fast_path and linktype == 1 and caplen >= 54 and table.add_ipv4(ts, caplen, data, offset):
                continue
            frame = decoder.decode(ts, caplen, wirelen, data, offset, linktype)
            if frame is not None:
                table.add(frame)
        stats.damage = reader.damage
    table.flush()
    stats.packets, stats.bytes = packets, nbytes
    stats.decode_errors, stats.corrupt = decoder.errors, decoder.corrupt
    return stats
