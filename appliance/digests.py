"""Message digests for the packet path, without the system's OpenSSL.

``hashlib`` loads the system's ``libcrypto.so.3`` when it is imported: 3.4 MiB of the import
process's RSS, for a handful of hashes per session. The packet path does not need it:

- Short inputs (JA3 and JA4 strings, HASSH, a certificate) go to CPython's own digest modules
  (``_md5``, ``_sha1``, ``_sha256``), which are also faster for them than OpenSSL through
  hashlib (no EVP context per call: 0.21 µs against 0.36 µs for a JA3 string's MD5).
- Bodies and attachments: MD5 stays with ``_md5``, as fast as OpenSSL's (~700 MB/s here).
  CPython's own SHA-256 is five times slower than OpenSSL's (326 against 1,738 MB/s), so a
  body's SHA-256 goes to the OpenSSL inside ``cryptography``, which QUIC needs anyway; it is
  imported at the first such body, as QUIC imports it at the first Initial.
- HMAC-SHA-256 (QUIC's key derivation) comes from ``cryptography`` too: the ``hmac`` module
  imports hashlib's OpenSSL binding.
- BLAKE2b (the scan sketches' value hash) is CPython's own, as in hashlib.

Where the builtin modules are missing (distributions that build CPython for FIPS may leave them
out), hashlib stands in, and the import process loads libcrypto as it did before.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Final


def _constructors() -> tuple[Any, Any, Any, Any]:
    """The MD5, SHA-1, SHA-256 and BLAKE2b constructors: CPython's builtin modules, else hashlib's."""
    made: list[Any] = []
    try:
        # (Names of their own: compiled, an import in a function can bind the module's name.)
        from _md5 import md5 as builtin_md5
        from _sha1 import sha1 as builtin_sha1

        made += [builtin_md5, builtin_sha1]
    except ImportError:  # a CPython built without them (for FIPS)
        import hashlib

        # Fingerprints, not security: FIPS mode refuses MD5 and SHA-1 unless told so.
        made += [partial(hashlib.md5, usedforsecurity=False), partial(hashlib.sha1, usedforsecurity=False)]
    try:
        from _sha256 import sha256 as builtin_sha256  # CPython 3.11

        made.append(builtin_sha256)
    except ImportError:  # pragma: no cover - 3.12 moved it
        try:
            from _sha2 import sha256 as sha2_256

            made.append(sha2_256)
        except ImportError:
            import hashlib

            made.append(hashlib.sha256)
    try:
        from _blake2 import blake2b as builtin_blake2b

        made.append(builtin_blake2b)
    except ImportError:  # pragma: no cover - a CPython built without it
        import hashlib

        made.append(hashlib.blake2b)
    return made[0], made[1], made[2], made[3]


_md5, _sha1, _sha256, _blake2b = _constructors()


def md5(data: bytes | bytearray | memoryview = b"") -> Any:
    """A running MD5 (``update``, ``hexdigest``), of short inputs or long ones."""
    return _md5(data)


def sha1(data: bytes) -> bytes:
    return bytes(_sha1(data).digest())


def sha1_hex(data: bytes) -> str:
    return str(_sha1(data).hexdigest())


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of a short input (a fingerprint string, a file's first bytes)."""
    return str(_sha256(data).hexdigest())


def md5_hex(data: bytes) -> str:
    return str(_md5(data).hexdigest())


# A copy of an empty 8-byte BLAKE2b state per hash: the constructor parses its dozen keyword
# arguments at every call, and a copy then an update took two thirds of its time.
_BLAKE2B_64: Final = _blake2b(digest_size=8)


def blake2b_64(data: bytes) -> int:
    """The 64-bit BLAKE2b of ``data`` as an int: a hash that is the same in every process."""
    h = _BLAKE2B_64.copy()
    h.update(data)
    return int.from_bytes(h.digest(), "big")


class Crypto:
    """The parts of ``cryptography`` the packet path uses, imported once, at first use.

    An import statement inside a compiled function runs the import machinery at every call
    (~15,000 instructions, more than hashing a short body), so each module is imported here once
    and its classes kept."""

    __slots__ = ("Hash", "sha256", "HMAC", "Cipher", "AES", "ECB", "AESGCM", "InvalidTag")

    def __init__(self) -> None:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives import hashes, hmac
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.Hash: Any = hashes.Hash
        self.sha256: Any = hashes.SHA256()
        self.HMAC: Any = hmac.HMAC
        self.Cipher: Any = Cipher
        self.AES: Any = algorithms.AES
        self.ECB: Any = modes.ECB
        self.AESGCM: Any = AESGCM
        self.InvalidTag: Any = InvalidTag


_crypto: list[Crypto] = []  # the one Crypto, once made (a list: a module global assigned once)


def crypto() -> Crypto:
    """``cryptography``'s classes (imported at the first call: ~6 MiB that a process which never
    sees a QUIC Initial or an HTTP body need not map)."""
    if not _crypto:
        _crypto.append(Crypto())
    return _crypto[0]


class Sha256Stream:
    """A running SHA-256 of a body (``update``, ``hexdigest``, which does not end it), hashed by
    OpenSSL's code in ``cryptography``."""

    __slots__ = ("_hash",)

    def __init__(self, data: bytes | bytearray | memoryview = b"") -> None:
        c = crypto()
        self._hash: Any = c.Hash(c.sha256)
        if data:
            self._hash.update(data)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)

    def hexdigest(self) -> str:
        return str(self._hash.copy().finalize().hex())


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    c = crypto()
    mac = c.HMAC(key, c.sha256)
    mac.update(data)
    return bytes(mac.finalize())
