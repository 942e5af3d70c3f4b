"""ARP: the address asked about, the MAC that answered for it and the opcodes seen, as Arkime.

The session table keeps one session per address asked about (the target of a request, the sender
of a reply). ARP frames carry no TCP/UDP data, so this parser works on whole frames through
``Parser.packet``; the session table attaches it to new ARP sessions with ``attach_for``.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final

from appliance import fields
from appliance.protocols import Parser, Protocol, add_parser, register

ETHERTYPE_ARP: Final = 0x0806
MIN_LEN: Final = 28  # Ethernet/IPv4 ARP body
REQUEST: Final = 1
REPLY: Final = 2
MAX_VALUES: Final = 100  # an ARP session is long-lived: bound what one can collect

fields.register(
    fields.field("arp.ip", "arp.ip", "ip", "arp", "Address asked about", multi=True),
    fields.field("arp.mac", "arp.mac", "lotermfield", "arp", "MAC that answered for the address", multi=True),
    fields.field("arp.opcode", "arp.opcode", "termfield", "arp", "ARP opcodes (1 request, 2 reply)", multi=True),
)


def _never(session: Any, data: bytes, direction: int) -> bool:
    """ARP has no application bytes to detect; the session table names the session."""
    return False


def _add(values: list[str], value: str) -> None:
    if value not in values and len(values) < MAX_VALUES:
        values.append(value)


class ARPParser(Parser):
    name = "arp"

    def __init__(self) -> None:
        self.ips: list[str] = []
        self.macs: list[str] = []
        self.opcodes: list[str] = []

    def packet(self, session: Any, frame: Any, direction: int) -> None:
        body = frame.payload
        if frame.ethertype != ETHERTYPE_ARP or len(body) < MIN_LEN:
            return
        # Fixed Ethernet/IPv4 offsets, as the session key uses; Arkime drops opcodes above 2.
        opcode = body[7]
        if opcode > REPLY:
            return
        _add(self.opcodes, str(opcode))
        sender_mac, sender_ip, target_ip = body[8:14], body[14:18], body[24:28]
        asked = target_ip if opcode == REQUEST else sender_ip
        _add(self.ips, str(ipaddress.IPv4Address(asked)))
        # The sender of a reply (or of a gratuitous request) owns the address asked about.
        if sender_ip == asked and any(sender_mac):
            _add(self.macs, ":".join(f"{b:02x}" for b in sender_mac))

    def finish(self, session: Any) -> None:
        for path, values in (("arp.ip", self.ips), ("arp.mac", self.macs), ("arp.opcode", self.opcodes)):
            if values:
                session.fields[path] = list(values)


def attach_for(session: Any) -> ARPParser | None:
    """Attach the ARP parser to a new session of ARP frames (called by the session table).

    Returns the parser, or None when one is attached already.
    """
    if any(isinstance(p, ARPParser) for p in session.parsers or ()):
        return None
    parser = ARPParser()
    add_parser(session, parser)
    return parser


# Listed with the other protocols, on no transport: ARP is found by ethertype, not by bytes.
register(Protocol("arp", 0, _never, parser=ARPParser, ethertypes=(0x0806,)))
