"""Which protocols' detectors are worth calling for a session's first bytes.

Detection runs once per side of every session, and most detectors reject almost everything by
the first bytes they look at (a fixed prefix, a port). Calling each of them costs a Python call
apiece, so the candidates are narrowed first with bit masks, one bit per protocol in
registration order:

- ports: a protocol restricted to ports is a candidate only when the session uses one of them;
- anchors: a protocol that can only match data carrying one of its ``prefixes`` at
  ``prefix_offset`` (or starting with one of its ``first_bytes``) is a candidate only when the
  data has an allowed byte at the (at most ``KEEP``) most telling of those positions, within the
  first ``ANCHOR_SPAN`` bytes.

Both are necessary conditions of the detectors themselves, so the detectors that are skipped are
exactly ones that would have returned False, and the ones that run still run in registration
order (their side effects, such as attaching a confirmer, happen in the same order as before).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # typed, the classifier reads a candidate's detector from its C struct
    from appliance.protocols import Protocol

ANCHOR_SPAN: Final = 16  # positions of data looked at by the index; later bytes are left to detect
CACHE_MAX: Final = 4096  # distinct candidate sets remembered (in practice a few hundred)
KEEP: Final = 2  # anchored positions kept per protocol
WORD: Final = 60  # bits per mask word: a small int in compiled code (mypyc keeps up to 62 unboxed)


def anchors(protocol: Protocol) -> dict[int, frozenset[int]]:
    """Byte positions of the data and the values a protocol's detector can accept there."""
    found: dict[int, frozenset[int]] = {}
    if protocol.first_bytes is not None:
        found[0] = frozenset(protocol.first_bytes)
    prefixes = protocol.prefixes
    if prefixes and all(prefixes):
        common = min(len(p) for p in prefixes)
        for j in range(common):
            pos = protocol.prefix_offset + j
            if pos >= ANCHOR_SPAN:
                break
            allowed = frozenset(p[j] for p in prefixes)
            found[pos] = found[pos] & allowed if pos in found else allowed
    # Each position costs a step per classification: keep the two that tell the most (the fewest
    # allowed values, zero bytes counting as common).
    best = sorted(found, key=lambda pos: (0 in found[pos], len(found[pos]), pos))[:KEEP]
    return {pos: found[pos] for pos in sorted(best)}


class CandidateIndex:
    """The detectors to try, in registration order, for one transport's protocols.

    A mask has a bit per protocol, and there are more protocols than a machine word holds. Kept
    as one Python int, every ``&`` of a classification would build a new long integer; kept as
    two words of WORD bits each, compiled code does the arithmetic in registers."""

    def __init__(self, protocols: list[Protocol]) -> None:
        self.protocols = protocols
        everyone = (1 << len(protocols)) - 1
        free = 0  # protocols that run on any port
        by_port: dict[int, int] = {}
        for i, protocol in enumerate(protocols):
            if not protocol.ports:
                free |= 1 << i
            for port in protocol.ports:
                by_port[port] = by_port.get(port, 0) | 1 << i
        self.free_lo, self.free_hi = _split(free)
        # Ports by class: a 64 KiB table of class numbers, indexed without boxing or hashing
        # the port (most sessions use an ephemeral port, a new int object each time).
        classes: dict[int, int] = {0: 0}
        self.class_lo: list[int] = [0]
        self.class_hi: list[int] = [0]
        table = bytearray(65536)
        for port, mask in by_port.items():
            if mask not in classes:
                classes[mask] = len(self.class_lo)
                lo, hi = _split(mask)
                self.class_lo.append(lo)
                self.class_hi.append(hi)
            table[port] = classes[mask]
        if len(self.class_lo) > 256:
            raise ValueError("more distinct port masks than a byte can number")
        self.port_class = bytes(table)
        found = [anchors(p) for p in protocols]
        # One step per anchored position: the position, and the low and high masks allowed by
        # each byte there (index 256: the data is too short to reach the position).
        self.positions: list[int] = []
        self.tables_lo: list[list[int]] = []
        self.tables_hi: list[list[int]] = []
        for pos in sorted({pos for a in found for pos in a}):
            unanchored = sum(1 << i for i, a in enumerate(found) if pos not in a)
            by_byte = [unanchored] * 256
            for i, a in enumerate(found):
                for byte in a.get(pos, ()):
                    by_byte[byte] |= 1 << i
            words = [_split(m) for m in by_byte] + [_split(unanchored & everyone)]
            self.positions.append(pos)
            self.tables_lo.append([w[0] for w in words])
            self.tables_hi.append([w[1] for w in words])
        self.cache: dict[int, dict[int, tuple[Protocol, ...]]] = {}  # low word -> high word -> candidates
        self.cached = 0

    def candidates(self, data: bytes, port1: int, port2: int) -> tuple[Protocol, ...]:
        """The protocols whose detector could accept ``data`` (not empty) on these ports."""
        ports = self.port_class
        c1, c2 = ports[port1], ports[port2]
        lo = self.free_lo | self.class_lo[c1] | self.class_lo[c2]
        hi = self.free_hi | self.class_hi[c1] | self.class_hi[c2]
        size = len(data)
        tables_lo, tables_hi = self.tables_lo, self.tables_hi
        for k, pos in enumerate(self.positions):
            byte = data[pos] if pos < size else 256
            lo &= tables_lo[k][byte]
            hi &= tables_hi[k][byte]
        by_hi = self.cache.get(lo)
        found = None if by_hi is None else by_hi.get(hi)
        if found is None:
            mask = hi << WORD | lo
            found = tuple(p for i, p in enumerate(self.protocols) if mask >> i & 1)
            if self.cached >= CACHE_MAX:
                self.cache.clear()
                self.cached = 0
            self.cache.setdefault(lo, {})[hi] = found
            self.cached += 1
        return found


def _split(mask: int) -> tuple[int, int]:
    """(low WORD bits, the rest shifted down) of a protocol mask."""
    return mask & (1 << WORD) - 1, mask >> WORD
