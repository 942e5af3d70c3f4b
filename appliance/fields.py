"""The registry of session fields: one table that every output, the store and search use.

Each field has Arkime's document path (``source.ip``), Arkime's expression name (``ip.src``),
a type, a group (the protocol or ``general``) and a line of help. ``count`` names the sibling
that Arkime writes with the number of values of a multi-valued field (``source.mac-cnt``,
``srcTTLCnt``). The documents in ``documents.py`` are built from flat ``{path: value}`` maps and
nested here, so a field that is not registered cannot reach any output.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

# Types follow Arkime's: ip, integer, date (ms since the epoch), termfield (case kept),
# lotermfield (lower-cased), uptermfield (upper-cased), textfield (searched as text).
TYPES = ("ip", "integer", "date", "termfield", "lotermfield", "uptermfield", "textfield", "object")


@dataclass(frozen=True)
class Field:
    path: str
    expr: str
    type: str
    group: str
    help: str
    multi: bool = False
    count: str | None = None

    def __post_init__(self) -> None:
        # Paths are the keys of every flat document. Interned, a document key spelt by a literal
        # in compiled code (mypyc interns those) is the very object the store's plan is keyed by:
        # a lookup then ends at a pointer comparison instead of comparing the characters.
        object.__setattr__(self, "path", sys.intern(self.path))


def _f(path: str, expr: str, type_: str, group: str, help_: str, multi: bool = False,
       count: str | None = None) -> Field:
    if multi and count is None:
        count = path + ("-cnt" if path.startswith(("source.", "destination.", "network.")) else "Cnt")
    return Field(path, expr, type_, group, help_, multi, count)


FIELDS: tuple[Field, ...] = (
    # --- general: identity and time -------------------------------------------------------------
    _f("node", "node", "termfield", "general", "Name of the capture node that saw the session"),
    _f("rootId", "rootId", "termfield", "general", "Id of the first segment of a long session saved in parts"),
    _f("segmentCnt", "session.segments", "integer", "general", "Number of segments the session was saved in so far"),
    _f("firstPacket", "starttime", "date", "general", "Time of the first packet (ms since the epoch)"),
    _f("lastPacket", "stoptime", "date", "general", "Time of the last packet (ms since the epoch)"),
    _f("length", "session.length", "integer", "general", "Duration of the session in milliseconds"),
    _f("packetRange", "packetRange", "object", "general", "First and last packet time, for spanning histograms"),
    _f("fileId", "fileId", "integer", "general", "Numbers of the PCAP files that hold the packets", multi=True, count=""),
    _f("packetPos", "packetPos", "integer", "general", "Byte offsets of the packets in their files", multi=True, count=""),
    _f("packetLen", "packetLen", "integer", "general", "Length of each packet record (16 + captured bytes)", multi=True, count=""),
    _f("tags", "tags", "termfield", "general", "Tags set by capture and parsers", multi=True),
    _f("user", "user", "lotermfield", "general",
       "User names the session logged in with (FTP, POP3, SMTP AUTH, NTLM)", multi=True, count="userCnt"),
    # --- network --------------------------------------------------------------------------------
    _f("ipProtocol", "ip.protocol", "integer", "general", "IP protocol number (6 tcp, 17 udp, 1 icmp, ...)"),
    _f("ethertype", "ethertype", "integer", "general", "Ethertype of the innermost layer"),
    _f("protocol", "protocols", "termfield", "general", "Protocols seen in the session", multi=True, count="protocolCnt"),
    _f("source.ip", "ip.src", "ip", "general", "Source address"),
    _f("source.port", "port.src", "integer", "general", "Source port"),
    _f("source.bytes", "bytes.src", "integer", "general", "Bytes sent by the source, link headers included"),
    _f("source.packets", "packets.src", "integer", "general", "Packets sent by the source"),
    _f("source.mac", "mac.src", "lotermfield", "general", "MAC addresses of the source", multi=True),
    _f("destination.ip", "ip.dst", "ip", "general", "Destination address"),
    _f("destination.port", "port.dst", "integer", "general", "Destination port"),
    _f("destination.bytes", "bytes.dst", "integer", "general", "Bytes sent by the destination, link headers included"),
    _f("destination.packets", "packets.dst", "integer", "general", "Packets sent by the destination"),
    _f("destination.mac", "mac.dst", "lotermfield", "general", "MAC addresses of the destination", multi=True),
    _f("client.bytes", "databytes.src", "integer", "general", "Payload bytes sent by the source"),
    _f("server.bytes", "databytes.dst", "integer", "general", "Payload bytes sent by the destination"),
    _f("totDataBytes", "databytes", "integer", "general", "Payload bytes in both directions"),
    _f("network.packets", "packets", "integer", "general", "Packets in both directions"),
    _f("network.bytes", "bytes", "integer", "general", "Bytes in both directions"),
    _f("network.community_id", "communityId", "termfield", "general", "Community ID flow hash"),
    _f("network.vlan.id", "vlan", "integer", "general", "VLAN ids", multi=True),
    _f("dot1q.id", "dot1q.id", "integer", "general", "802.1Q VLAN ids", multi=True),
    _f("dot1ad.id", "dot1ad.id", "integer", "general", "802.1ad (QinQ) outer VLAN ids", multi=True),
    _f("srcTTL", "ttl.src", "integer", "general", "IP TTLs (hop limits) seen from the source", multi=True),
    _f("dstTTL", "ttl.dst", "integer", "general", "IP TTLs (hop limits) seen from the destination", multi=True),
    _f("srcDscp", "dscp.src", "integer", "general", "DSCP values seen from the source", multi=True),
    _f("dstDscp", "dscp.dst", "integer", "general", "DSCP values seen from the destination", multi=True),
    _f("srcPayload8", "payload8.src.hex", "lotermfield", "general", "First 8 payload bytes from the source, hex"),
    _f("dstPayload8", "payload8.dst.hex", "lotermfield", "general", "First 8 payload bytes from the destination, hex"),
    _f("srcOuterIp", "ip.src.outer", "ip", "general", "Outer (tunnel) source addresses", multi=True),
    _f("dstOuterIp", "ip.dst.outer", "ip", "general", "Outer (tunnel) destination addresses", multi=True),
    _f("srcOuterMac", "mac.src.outer", "lotermfield", "general", "Outer (tunnel) source MACs", multi=True),
    _f("dstOuterMac", "mac.dst.outer", "lotermfield", "general", "Outer (tunnel) destination MACs", multi=True),
    _f("vni", "vni", "integer", "general", "VXLAN/Geneve network identifiers", multi=True),
    _f("srcOui", "oui.src", "termfield", "general", "Vendors of the source MACs", multi=True),
    _f("dstOui", "oui.dst", "termfield", "general", "Vendors of the destination MACs", multi=True),
    _f("initRTT", "initRTT", "integer", "general", "Half the time from SYN to the first ACK, ms"),
    _f("tcpflags.syn", "tcpflags.syn", "integer", "general", "SYN packets"),
    _f("tcpflags.syn-ack", "tcpflags.syn-ack", "integer", "general", "SYN-ACK packets"),
    _f("tcpflags.ack", "tcpflags.ack", "integer", "general", "Packets with only ACK set"),
    _f("tcpflags.psh", "tcpflags.psh", "integer", "general", "PSH packets"),
    _f("tcpflags.fin", "tcpflags.fin", "integer", "general", "FIN packets"),
    _f("tcpflags.rst", "tcpflags.rst", "integer", "general", "RST packets"),
    _f("tcpflags.urg", "tcpflags.urg", "integer", "general", "URG packets"),
    _f("tcpflags.srcZero", "tcpflags.srcZero", "integer", "general", "Zero windows sent by the source"),
    _f("tcpflags.dstZero", "tcpflags.dstZero", "integer", "general", "Zero windows sent by the destination"),
    _f("icmp.type", "icmp.type", "integer", "icmp", "ICMP types", multi=True, count=""),
    _f("icmp.code", "icmp.code", "integer", "icmp", "ICMP codes", multi=True, count=""),
)

BY_PATH: dict[str, Field] = {f.path: f for f in FIELDS}
BY_EXPR: dict[str, Field] = {f.expr: f for f in FIELDS}


def register(*fields: Field) -> None:
    """Add fields (protocol parsers register theirs at import)."""
    global FIELDS
    for field in fields:
        if field.path in BY_PATH:
            raise ValueError(f"field {field.path} registered twice")
        BY_PATH[field.path] = field
        BY_EXPR[field.expr] = field
    FIELDS = FIELDS + tuple(fields)


def field(path: str, expr: str, type_: str, group: str, help_: str, multi: bool = False,
          count: str | None = None) -> Field:
    """Make a field with Arkime's count-sibling naming (for parsers' registrations)."""
    return _f(path, expr, type_, group, help_, multi, count)


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Turn ``{"source.ip": x, "http.host": [..]}`` into Arkime's nested document.

    Multi-valued fields get their count sibling. Paths that are not registered are refused so
    that every output stays within the registry.
    """
    doc: dict[str, Any] = {}
    for path, value in flat.items():
        spec = BY_PATH.get(path)
        if spec is None:
            raise KeyError(f"session field {path!r} is not in the field registry")
        _put(doc, path, value)
        if spec.multi and spec.count and isinstance(value, list):
            _put(doc, spec.count, len(value))
    return doc


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    if parts[0] in ("tcpflags",) or len(parts) == 1:
        node = doc
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        return
    node = doc
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def fields_markdown() -> str:
    """The fields table of the docs, grouped."""
    lines = []
    groups: dict[str, list[Field]] = {}
    for f in FIELDS:
        groups.setdefault(f.group, []).append(f)
    # Sorted, so the page does not depend on which protocol module happened to load first.
    for group in sorted(groups, key=lambda g: (g != "general", g)):
        items = sorted(groups[group], key=lambda f: f.path)
        lines += [f"### {group}", "", "| document path | expression | type | help |", "|---|---|---|---|"]
        lines += [f"| `{f.path}` | `{f.expr}` | {f.type}{' (list)' if f.multi else ''} | {f.help} |" for f in items]
        lines.append("")
    return "\n".join(lines)


def load_protocol_fields() -> None:
    """Import every protocol module, so that the fields they register are in the registry
    (unless another process gave them: ``adopt``). A build without parsers has the core fields."""
    if _adopted:
        return
    try:
        from appliance.protocols import load_all
    except ImportError:
        return
    load_all()


_adopted = False


def definitions() -> list[tuple[Any, ...]]:
    """Every registered field as a plain tuple, for ``adopt`` in another process."""
    return [(f.path, f.expr, f.type, f.group, f.help, f.multi, f.count) for f in FIELDS]


def adopt(defs: list[tuple[Any, ...]]) -> None:
    """Register the fields another process defined (``definitions``) instead of importing the
    parsers that define them: the store's child process stores sessions but parses nothing, and
    the parsers' modules (and OpenSSL, which they load) took 6.6 MiB of it."""
    global _adopted
    register(*[Field(*d) for d in defs if d[0] not in BY_PATH])
    _adopted = True


FIELDS_MARKER = "<!-- generated by: python -m appliance.fields --markdown -->"


def main(argv: list[str] | None = None) -> int:
    """``python -m appliance.fields --markdown`` prints the fields table of docs/FIELDS.md;
    ``--check FILE`` exits 1 when the file's generated part differs."""
    import appliance.fields as registry  # not __main__: protocol modules register into this one

    args = sys.argv[1:] if argv is None else argv
    registry.load_protocol_fields()
    table = registry.fields_markdown()
    if args[:1] == ["--check"] and len(args) == 2:
        with open(args[1], encoding="utf-8") as fh:
            text = fh.read()
        generated = text.split(FIELDS_MARKER, 1)[1].strip() if FIELDS_MARKER in text else None
        return 0 if generated == table.strip() else 1
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
