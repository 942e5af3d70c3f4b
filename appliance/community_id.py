"""Community ID v1 (corelight's flow hash), as Arkime writes it in ``network.community_id``."""

from __future__ import annotations

import binascii
import struct
from typing import Final

from appliance.digests import sha1  # without hashlib's import of OpenSSL (see digests.py)

# ICMP types that have an answer: the pair is hashed like ports so both directions agree.
_ICMP4_PAIRS: Final = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
_ICMP6_PAIRS: Final = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130,
                       139: 140, 140: 139, 144: 145, 145: 144}

_SEED: Final = struct.Struct("!H")
_NO_SEED: Final = b"\0\0"  # the seed 0, as _SEED packs it
_TAIL: Final = struct.Struct("!BBHH")  # protocol, a zero pad byte, the two ports


def community_id(src: bytes, dst: bytes, proto: int, sport: int, dport: int, seed: int = 0) -> str:
    """The ``1:<base64 sha1>`` flow id; for ICMP pass the type as sport and the code as dport."""
    one_way = False
    if proto in (1, 58):
        pairs = _ICMP4_PAIRS if proto == 1 else _ICMP6_PAIRS
        if sport in pairs:
            dport = pairs[sport]
        else:
            one_way = True
    # Not (src, sport) > (dst, dport): that builds two tuples per session, twice per session
    # (once when the import writes the id, once when the store checks it).
    if not one_way and (src > dst or (src == dst and sport > dport)):
        src, dst, sport, dport = dst, src, dport, sport
    # Arkime hashes the (zero) ports for every protocol, so its ids for ESP, GRE, ... carry them too.
    data = b"".join((_SEED.pack(seed) if seed else _NO_SEED, src, dst, _TAIL.pack(proto, 0, sport, dport)))
    # binascii directly: base64.b64encode is interpreted Python around the same call. Its
    # newline is cut rather than turned off by keyword (a keyword argument is parsed per call).
    return "1:" + binascii.b2a_base64(sha1(data))[:-1].decode("ascii")
