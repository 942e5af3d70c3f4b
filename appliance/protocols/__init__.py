"""Protocol detection and parsers: the application layer of a session.

Each protocol lives in its own module in this package and registers itself with
``register(Protocol(...))`` at import. A protocol says how to recognise itself from the first
bytes a side sends (``detect``), on which transports, and, if it parses, which parser to attach.
The session table calls ``AppLayer.data`` with in-order TCP data and each UDP datagram, and
``AppLayer.packet`` with every packet (for ICMP, ARP, ...); before a session is saved,
``AppLayer.finish`` lets every attached parser write its fields into ``session.fields`` as flat
Arkime document paths (``{"http.host": ["example.com"]}``), which must be in the field registry.

A parser that raises is detached and counted in ``AppLayer.failures``; the session keeps its
counters and the packet path goes on.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from appliance.protocols._index import CandidateIndex

if TYPE_CHECKING:  # typed, the compiled session table and parsers call each other directly
    from appliance.decode import Frame
    from appliance.sessions import Session

TCP: Final = 1
UDP: Final = 2
Detect = Callable[[Any, bytes, int], bool]


class Parser:
    """Per-session state of one protocol parser. Subclasses override what they need.

    Parsers that every session of a kind gets (HTTP, ...) declare ``__slots__``: without a
    ``__dict__`` each instance is about 100 bytes smaller, times every open session."""

    __slots__ = ()
    name = "parser"

    def data(self, session: Session, data: bytes, direction: int) -> None:
        """In-order TCP bytes or one UDP datagram from ``direction`` (0 source, 1 destination)."""

    def packet(self, session: Session, frame: Frame, direction: int) -> None:
        """Every packet of the session (for protocols that need headers, not a byte stream)."""

    def finish(self, session: Session) -> None:
        """Write the fields into ``session.fields`` (called before every save, also mid-save)."""

    def configure(self, settings: Any) -> None:
        """Read what this parser needs from the settings, when the application layer attaches it
        (work a setting turns off is then not done at all, rather than done and dropped)."""


_BASE_PACKET: Final = Parser.packet


@dataclass(frozen=True)
class Protocol:
    """A protocol that can be recognised, and optionally parsed."""

    name: str  # Arkime's protocol name, for the session's ``protocol`` list
    transports: int  # TCP, UDP or TCP | UDP
    detect: Detect  # (session, first bytes of a side, direction) -> is it this protocol?
    parser: Callable[[], Parser] | None = None
    ports: tuple[int, ...] = ()  # only try detect when one of these ports is in use (empty: always)
    ethertypes: tuple[int, ...] = ()  # non-IP sessions of these ethertypes get the parser at once
    first_bytes: frozenset[int] | None = None  # detect can only succeed on data starting with these
    # detect can only succeed on data with one of these at prefix_offset (a necessary condition,
    # used to skip the call; detect still checks it)
    prefixes: tuple[bytes, ...] = ()
    prefix_offset: int = 0


PROTOCOLS: Final[list[Protocol]] = []


def _turned_off(settings: Any) -> tuple[tuple[str, ...], bool]:
    """(fields the settings leave out, whether DNS answers are kept); all kept without settings.

    The parsers fill these fields regardless (they come out of work done anyway); the setting
    decides what is stored, as Arkime's do."""
    dropped: list[str] = []
    if settings is not None:
        if not settings.parseHTTPHeaderRequestAll:
            dropped += ["http.requestHeaderField", "http.requestHeaderValue"]
        if not settings.parseHTTPHeaderResponseAll:
            dropped += ["http.responseHeaderField", "http.responseHeaderValue"]
        if not settings.ja3Strings:
            dropped += ["tls.ja3string", "tls.ja3sstring"]
        if not settings.ja4Raw:
            dropped.append("tls.ja4_r")
        if not settings.supportSha256:
            dropped += ["http.sha256", "email.sha256"]
    return tuple(dropped), settings is None or bool(settings.dnsOutputAnswers)


def add_parser(session: Any, parser: Parser) -> None:
    """Attach ``parser`` to the session.

    A session's parsers are a tuple that attaching and detaching replace: two parsers take 56
    bytes instead of a growing list's 120, and the application layer can run them in order
    without copying the list first (a parser may attach or detach others as it runs)."""
    parsers = session.parsers
    session.parsers = (parser,) if parsers is None else parsers + (parser,)


def detach(session: Any, parser: Parser) -> None:
    """Stop feeding ``parser``; the fields it wrote stay."""
    parsers = session.parsers
    if parsers and parser in parsers:
        session.parsers = tuple(p for p in parsers if p is not parser) or None


def redetect(session: Any, direction: int) -> None:
    """Let the protocol detectors look at what side ``direction`` sends next (a TLS hello after
    STARTTLS, or through an HTTP CONNECT tunnel): the session table's first-data marker of that
    side goes back to zero."""
    session.consumed &= ~(1 << direction)


def attach_once(session: Any, parser: Parser) -> None:
    """Attach ``parser`` unless the session has one of its type already."""
    parsers = session.parsers
    if parsers is not None:
        kind = type(parser)
        for other in parsers:  # a loop, not any(<generator>): this runs for most new sessions
            if type(other) is kind:
                return
    add_parser(session, parser)


MAX_VALUES: Final = 16  # values kept per field and session by add_value (a brute-force run would list thousands)


def add_value(session: Any, path: str, value: Any) -> None:
    """One more value of a list field in ``session.fields``, once each, at most MAX_VALUES."""
    values = session.fields.get(path)
    if values is None:
        session.fields[path] = [value]
    elif value not in values and len(values) < MAX_VALUES:
        values.append(value)


def add_user(session: Any, name: str, lower: bool = True) -> None:
    """A login name for Arkime's general ``user`` field: lowercased from FTP, POP3 and SMTP AUTH,
    as given from NTLM (``lower=False``), as Arkime keeps them."""
    add_value(session, "user", name.lower() if lower else name)


def register(protocol: Protocol) -> None:
    """Called by each protocol module at import."""
    PROTOCOLS.append(protocol)


def prefix(*prefixes: bytes) -> Detect:
    """A detector for protocols that open with a fixed string."""
    return lambda session, data, direction: data.startswith(prefixes)


_loaded = False


def load_all() -> None:
    """Import every protocol module once, so its protocols and fields are registered."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_load_all = load_all  # the name the first callers used


class AppLayer:
    """Runs detection on the first data of each side and feeds attached parsers."""

    def __init__(self, settings: Any = None) -> None:
        load_all()
        self.settings = settings
        self.failures: Counter[str] = Counter()
        self.tcp = [p for p in PROTOCOLS if p.transports & TCP]
        self.udp = [p for p in PROTOCOLS if p.transports & UDP]
        # Detection runs for every new session: index the candidates by port and leading bytes,
        # so a session only tries the protocols that could match (registration order kept).
        self.tcp_index = CandidateIndex(self.tcp)
        self.udp_index = CandidateIndex(self.udp)
        self.by_ethertype = {t: p for p in PROTOCOLS for t in p.ethertypes if p.parser is not None}
        self.dropped, self.dns_answers = _turned_off(settings)

    def start(self, session: Session, frame: Frame) -> None:
        """A new session: protocols known by their ethertype (ARP, ...) attach here."""
        if frame.ipver == 0:
            protocol = self.by_ethertype.get(frame.ethertype)
            if protocol is not None and protocol.parser is not None:
                self.attach(session, protocol.parser())

    def data(self, session: Session, data: bytes, direction: int) -> None:
        """Called by the session table with application bytes."""
        bit = 1 << direction
        if not session.consumed & bit:
            session.consumed |= bit
            self._classify(session, data, direction)
        parsers = session.parsers
        if not parsers:
            return
        # The tuple as it is now: parsers attached while these run see the next data.
        for parser in parsers:
            try:
                parser.data(session, data, direction)
            except Exception as err:  # noqa: BLE001 - hostile input must not stop capture
                self._failed(session, parser, err)

    def packet(self, session: Session, frame: Frame, direction: int) -> None:
        parsers = session.parsers
        if parsers:
            for parser in parsers:
                if type(parser).packet is _BASE_PACKET:
                    continue  # the base no-op: nearly every parser reads data, not packets
                try:
                    parser.packet(session, frame, direction)
                except Exception as err:  # noqa: BLE001
                    self._failed(session, parser, err)

    def finish(self, session: Session) -> None:
        """Let every parser write its fields before the session is saved, then drop the ones the
        settings turn off (parseHTTPHeader*All, ja3Strings, ja4Raw, supportSha256, dnsOutputAnswers).

        supportSha256 also reaches the HTTP and mail parsers through ``Parser.configure``, so they
        do not compute the digests; the drop here covers parsers attached without it."""
        for parser in session.parsers or ():
            try:
                parser.finish(session)
            except Exception as err:  # noqa: BLE001
                self._failed(session, parser, err)
        fields = session.fields
        if fields:
            for path in self.dropped:
                fields.pop(path, None)
            if not self.dns_answers:
                for query in fields.get("dns") or ():
                    if isinstance(query, dict):
                        query.pop("answers", None)

    def attach(self, session: Session, parser: Parser) -> None:
        if self.settings is not None:
            parser.configure(self.settings)
        attach_once(session, parser)

    def _classify(self, session: Session, data: bytes, direction: int) -> None:
        if not data:
            return
        index = self.tcp_index if session.proto == 6 else self.udp_index
        for protocol in index.candidates(data, session.port1, session.port2):
            try:
                matched = protocol.detect(session, data, direction)
            except Exception:  # noqa: BLE001 - a detector must never take the packet path down
                self.failures[protocol.name + " detect"] += 1
                continue
            if matched:
                session.add_protocol(protocol.name)
                if protocol.parser is not None:
                    self.attach(session, protocol.parser())

    def _failed(self, session: Session, parser: Parser, err: Exception) -> None:
        self.failures[f"{parser.name}: {type(err).__name__}"] += 1
        detach(session, parser)
