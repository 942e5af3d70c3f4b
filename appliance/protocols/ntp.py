"""NTP (UDP 123): version, mode, stratum class and reference id of each packet, as Arkime."""

from __future__ import annotations

from typing import Any, Final

from appliance import fields
from appliance.protocols import UDP, Parser, Protocol, register

MODES: Final = ("reserved", "symmetric-active", "symmetric-passive", "client", "server", "broadcast",
                "control", "private")
MIN_LEN: Final = 48  # the fixed NTP header; shorter datagrams are not NTP to Arkime

fields.register(
    fields.field("ntp.version", "ntp.version", "integer", "ntp", "NTP version", multi=True),
    fields.field("ntp.mode", "ntp.mode", "termfield", "ntp", "NTP mode", multi=True),
    fields.field("ntp.stratum", "ntp.stratum", "termfield", "ntp", "NTP stratum class", multi=True),
    fields.field("ntp.refId", "ntp.ref-id", "termfield", "ntp", "NTP reference identifier", multi=True),
)


def detect(session: Any, data: bytes, direction: int) -> bool:
    """A plausible NTP header: stratum <= 16, version 1-4, mode not 0."""
    if len(data) < MIN_LEN or data[1] > 16:
        return False
    version, mode = (data[0] >> 3) & 7, data[0] & 7
    return 1 <= version <= 4 and mode != 0


def stratum_name(stratum: int) -> str | None:
    if stratum == 0:
        return "unspecified"
    if stratum == 1:
        return "primary"
    if stratum <= 15:
        return "secondary"
    return "unsynchronized" if stratum == 16 else None


def ref_id(stratum: int, raw: bytes) -> str | None:
    """Reference clocks (stratum 0-1) name themselves in ASCII; servers above give an address (hex)."""
    if stratum <= 1:
        text = raw.rstrip(b"\x00 ")
        if not text:
            return None
        if all(0x20 <= c <= 0x7E for c in text):
            return text.decode("ascii")
        return raw.hex()
    return raw.hex() if stratum <= 15 else None


def _add(values: list[Any], value: Any) -> None:
    if value is not None and value not in values:
        values.append(value)


class NTPParser(Parser):
    name = "ntp"

    def __init__(self) -> None:
        self.versions: list[int] = []
        self.modes: list[str] = []
        self.strata: list[str] = []
        self.ref_ids: list[str] = []

    def data(self, session: Any, data: bytes, direction: int) -> None:
        if len(data) < MIN_LEN:
            return
        _add(self.versions, (data[0] >> 3) & 7)
        _add(self.modes, MODES[data[0] & 7])
        stratum = data[1]
        _add(self.strata, stratum_name(stratum))
        _add(self.ref_ids, ref_id(stratum, data[12:16]))

    def finish(self, session: Any) -> None:
        for path, values in (("ntp.version", self.versions), ("ntp.mode", self.modes),
                             ("ntp.stratum", self.strata), ("ntp.refId", self.ref_ids)):
            if values:
                session.fields[path] = list(values)


register(Protocol("ntp", UDP, detect, parser=NTPParser, ports=(123,)))
