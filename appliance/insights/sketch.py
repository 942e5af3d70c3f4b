"""Distinct-value sketches small enough to keep one per (source, day).

A sketch is exact while it holds few values (the 64-bit hashes themselves, sorted) and turns
into a HyperLogLog of 1,024 one-byte registers (about 3 % error) past ``EXACT_MAX``. Most home
sources touch a handful of ports, so their sketches stay exact and tiny; only broad sources
(scanners, busy browsers) pay the 1 KiB, and merging days is a register-wise maximum.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from typing import Final

from appliance.digests import blake2b_64  # without hashlib's import of OpenSSL (see digests.py)
from appliance.memo import remembered

P = 10
M = 1 << P
EXACT_MAX = 128  # 128 hashes of 8 bytes = the size of the HLL: switch when it stops saving space
_EXACT, _HLL = b"E", b"H"
_ALPHA = 0.7213 / (1 + 1.079 / M)


# Ports and host names repeat all day: each is hashed once. Bounded small: destination
# addresses are hashed too, and a source that meets 100,000 of them (a scan, a busy server)
# would otherwise keep 13 MiB of hashes that never come back (functools.lru_cache of 65,536).
_HASHES_KEPT: Final = 4096
_hashes: dict[str | int, int] = {}


def value_hash(value: str | int) -> int:
    """A 64-bit hash that is stable across processes (``hash()`` is salted per process)."""
    found: int = remembered(_hashes, value, _hash, _HASHES_KEPT)
    return found


def _hash(value: str | int) -> int:
    return blake2b_64(str(value).encode())


class Sketch:
    """A mutable set of 64-bit hashes or HLL registers."""

    __slots__ = ("hashes", "registers")

    def __init__(self) -> None:
        self.hashes: set[int] | None = set()
        self.registers: bytearray | None = None

    @classmethod
    def decode(cls, blob: bytes | None) -> Sketch:
        sketch = cls()
        if not blob:
            return sketch
        if blob[:1] == _HLL:
            sketch.hashes, sketch.registers = None, bytearray(blob[1:])
        else:
            sketch.hashes = set(struct.unpack(f">{(len(blob) - 1) // 8}Q", blob[1:]))
        return sketch

    def encode(self) -> bytes:
        if self.registers is not None:
            return _HLL + bytes(self.registers)
        # Each hash as 8 big-endian bytes (struct's ">nQ"): most sketches hold one or two, where a
        # format string built and looked up for each, and a call with *args, cost ~4,000
        # instructions a sketch.
        return _EXACT + b"".join([h.to_bytes(8, "big") for h in sorted(self.hashes or ())])

    def add_hashes(self, hashes: Iterable[int]) -> None:
        if self.hashes is not None:
            self.hashes.update(hashes)
            if len(self.hashes) > EXACT_MAX:
                self._to_hll()
            return
        regs = self.registers
        assert regs is not None
        for h in hashes:
            index, rank = _slot(h)
            if rank > regs[index]:
                regs[index] = rank

    def merge(self, other: Sketch) -> None:
        if other.hashes is not None:
            self.add_hashes(other.hashes)
            return
        if self.hashes is not None:
            self._to_hll()
        assert self.registers is not None and other.registers is not None
        self.registers = bytearray(map(max, self.registers, other.registers))

    def count(self) -> int:
        if self.hashes is not None:
            return len(self.hashes)
        regs = self.registers
        assert regs is not None
        inverse = 0.0
        for i in range(len(regs)):  # an index loop: mypyc cannot compile a generator over a bytearray
            inverse += 2.0 ** -regs[i]
        raw = _ALPHA * M * M / inverse
        zeros = regs.count(0)
        if raw <= 2.5 * M and zeros:  # small-range correction (linear counting)
            return round(M * math.log(M / zeros))
        return round(raw)

    def _to_hll(self) -> None:
        hashes, self.hashes = self.hashes or set(), None
        self.registers = bytearray(M)
        self.add_hashes(hashes)


def _slot(h: int) -> tuple[int, int]:
    """Register index (low P bits) and rank (position of the first 1 in the other 54 bits)."""
    rest = h >> P
    return h & (M - 1), (64 - P) - rest.bit_length() + 1
