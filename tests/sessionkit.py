"""Real sessions for the protocol tests, made by the real decoder and session table.

* ``new_session`` opens a session the way capture does: a first packet without payload (a TCP
  SYN, an empty UDP datagram, a bare SCTP header) goes through ``Decoder`` and ``SessionTable``,
  and the table's session comes back. Tests hand bytes to one parser or detector with it.
* ``session_of`` does the same for any one packet (an ARP frame opens an ARP session);
  ``table_sessions`` runs a list of packets through the table with the application layer.
* ``Conversation`` / ``converse`` send payloads as real packets through ``Decoder`` ->
  ``SessionTable`` -> ``AppLayer`` (detection, parsers, finish) and return the saved sessions,
  for tests of the whole packet path; ``flat_document`` turns one into its Arkime document.
* ``attach`` and ``finish`` are the application layer's own ``AppLayer.attach``/``finish``;
  ``finish`` fails the test when a parser raised, where capture would only count it.
"""

from __future__ import annotations

import struct
from typing import Any

from pcapgen import L4, SYN, TcpFlow, ethernet, ipv4, ipv6, tcp, udp

from appliance.decode import Decoder, Frame
from appliance.documents import flat_document
from appliance.protocols import AppLayer, Parser
from appliance.sessions import Session, SessionTable
from appliance.settings import Settings

__all__ = ["CLIENT", "SERVER", "Conversation", "attach", "converse", "decode", "finish", "flat_document",
           "new_session", "sctp_data", "session_of", "table_sessions", "tags_of"]

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
START_US = 1_700_000_000 * 1_000_000
LINK_ETHERNET = 1
MAX_SEGMENT = 60_000  # payload bytes per packet: an IPv4 packet holds at most 64 KiB
SETTINGS = Settings()
_APP: AppLayer | None = None


def _app() -> AppLayer:
    """One application layer for ``attach`` and ``finish`` (they keep no per-session state in it)."""
    global _APP
    if _APP is None:
        _APP = AppLayer(SETTINGS)
    return _APP


def decode(packet: bytes, ts: int = START_US, offset: int = 0) -> Frame:
    """The decoder's frame for one Ethernet packet."""
    frame = Decoder().decode(ts, len(packet), len(packet), packet, offset, LINK_ETHERNET)
    assert frame is not None, "the decoder refused a test packet"
    return frame


def transport(proto: int, sport: int, dport: int, payload: bytes = b"", flags: int = SYN, seq: int = 1000) -> L4:
    """A TCP segment, UDP datagram or SCTP packet (common header, then ``payload`` as chunks)."""
    if proto == 6:
        return tcp(sport, dport, flags, seq, 0, payload)
    if proto == 17:
        return udp(sport, dport, payload)
    if proto == 132:  # ports, verification tag, checksum (the decoder does not check it)
        return L4(struct.pack("!HHII", sport, dport, 0, 0) + payload, 132, None)
    raise ValueError(f"no transport builder for IP protocol {proto}")


def ip_packet(payload: bytes, src: str, dst: str) -> bytes:
    """An Ethernet frame with an IPv4 or IPv6 packet, by the addresses' family."""
    return ethernet((ipv6 if ":" in src else ipv4)(payload, src, dst))


def table_sessions(packets: list[bytes], parsers: bool = True) -> list[Session]:
    """Ethernet packets (1 ms apart) through the real session table, with the application layer
    unless ``parsers`` is false; the saved sessions. Fails if a parser or detector failed."""
    saved: list[Session] = []
    app = AppLayer(SETTINGS) if parsers else None
    table = SessionTable(SETTINGS, saved.append, app)
    for n, packet in enumerate(packets):
        table.add(decode(packet, START_US + n * 1000, n))
    table.flush()
    assert app is None or not app.failures, dict(app.failures)
    return saved


def session_of(packet: bytes) -> Session:
    """The session the real session table opens for one Ethernet packet (no parsers attached)."""
    (session,) = table_sessions([packet], parsers=False)
    return session


def new_session(proto: int = 6, port1: int = 40000, port2: int = 80, client: str = CLIENT,
                server: str = SERVER) -> Session:
    """A real session from ``client:port1`` to ``server:port2``, opened without application data.

    Like every session the table makes, its ``protocols`` start with the transport ("tcp",
    "udp", "sctp") and ``tags``/``parsers`` are None until something is added.
    """
    session = session_of(ip_packet(transport(proto, port1, port2), client, server))
    assert (session.proto, session.port1, session.port2) == (proto, port1, port2)
    return session


def attach(session: Session, parser: Parser) -> Parser:
    """Attach a parser as detection does."""
    _app().attach(session, parser)
    return parser


def finish(session: Session) -> dict[str, Any]:
    """The application layer's finish (as before every save); the session's fields after it."""
    app = _app()
    app.failures.clear()
    app.finish(session)
    assert not app.failures, f"a parser raised in finish: {dict(app.failures)}"
    return session.fields


def tags_of(session: Session) -> list[str]:
    """The session's tags (None on a real session until the first one)."""
    return list(session.tags or ())


class Conversation:
    """Application payloads as real packets through the decoder, session table and parsers.

    TCP opens with a handshake and closes with FINs (``TcpFlow``); each ``send`` is one segment
    (larger payloads are split). UDP and SCTP send one datagram per ``send``; the first one's
    sender is the session's source, as in capture. ``close`` saves the session(s) and checks that
    no parser or detector failed.
    """

    def __init__(self, proto: int = 6, port1: int = 40000, port2: int = 80, client: str = CLIENT,
                 server: str = SERVER) -> None:
        self.proto = proto
        self.ends = ((client, port1), (server, port2))
        self.app = AppLayer(SETTINGS)
        self.saved: list[Session] = []
        self.table = SessionTable(SETTINGS, self.saved.append, self.app)
        self.decoder = Decoder()
        self.ts = START_US
        self.offset = 0
        self.flow: TcpFlow | None = None
        if proto == 6:
            self.flow = TcpFlow(client, server, port1, port2, ipver=6 if ":" in client else 4)
            for packet in self.flow.handshake():
                self.packet(packet)

    def packet(self, data: bytes) -> None:
        """One Ethernet packet into the table (1 ms after the previous one)."""
        self.ts += 1000
        self.offset += 1
        frame = self.decoder.decode(self.ts, len(data), len(data), data, self.offset, LINK_ETHERNET)
        assert frame is not None, dict(self.decoder.errors)
        self.table.add(frame)

    def send(self, direction: int, payload: bytes) -> Conversation:
        """``payload`` from the client (0) or the server (1); empty payloads send nothing."""
        for at in range(0, len(payload), MAX_SEGMENT):
            piece = payload[at : at + MAX_SEGMENT]
            if self.flow is not None:
                self.packet(self.flow.data(direction, piece))
            else:
                (src, sport), (dst, dport) = self.ends[direction], self.ends[1 - direction]
                self.packet(ip_packet(transport(self.proto, sport, dport, piece), src, dst))
        return self

    def close(self) -> list[Session]:
        if self.flow is not None:
            for packet in self.flow.close():
                self.packet(packet)
        self.table.flush()
        assert not self.app.failures, dict(self.app.failures)
        return self.saved


def converse(chunks: list[tuple[int, bytes]], proto: int = 6, port1: int = 40000, port2: int = 80,
             client: str = CLIENT, server: str = SERVER) -> Session:
    """``(direction, payload)`` chunks through the whole packet path; the one saved session."""
    conversation = Conversation(proto, port1, port2, client, server)
    for direction, data in chunks:
        conversation.send(direction, data)
    (session,) = conversation.close()
    return session


def sctp_data(payload: bytes, tsn: int = 1) -> bytes:
    """An SCTP DATA chunk carrying ``payload`` (stream 0, PPID 0)."""
    length = 16 + len(payload)
    chunk = struct.pack("!BBHIHHI", 0, 3, length, tsn, 0, 0, 0) + payload
    return chunk + b"\0" * (-length % 4)
