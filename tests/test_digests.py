"""appliance.digests: the same digests as hashlib, without loading the system's OpenSSL."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from appliance import digests
from tests.conftest import CORPUS

ROOT = Path(__file__).resolve().parent.parent

_INPUTS = [b"", b"abc", b"771,4865-4866-4867,0-23-65281,29-23-24,0", os.urandom(1448), os.urandom(100_000)]


def test_one_shot_digests_equal_hashlib() -> None:
    for data in _INPUTS:
        assert digests.md5_hex(data) == hashlib.md5(data).hexdigest()
        assert digests.sha1_hex(data) == hashlib.sha1(data).hexdigest()
        assert digests.sha1(data) == hashlib.sha1(data).digest()
        assert digests.sha256_hex(data) == hashlib.sha256(data).hexdigest()
        key = data[:32] or b"k"
        assert digests.hmac_sha256(key, data) == hmac.new(key, data, hashlib.sha256).digest()


def test_running_digests_read_mid_way_and_go_on() -> None:
    """A body's digests are read at a mid-session save and then fed on (HTTP's EOF bodies)."""
    md5, sha256 = digests.md5(b"first "), digests.Sha256Stream(bytearray(b"first "))
    ref_md5, ref_sha256 = hashlib.md5(b"first "), hashlib.sha256(b"first ")
    for piece in _INPUTS:
        for running, ref in ((md5, ref_md5), (sha256, ref_sha256)):
            running.update(memoryview(piece))  # parsers feed slices of their buffers
            ref.update(piece)
            assert running.hexdigest() == ref.hexdigest()
    assert digests.Sha256Stream().hexdigest() == hashlib.sha256().hexdigest()


# Parse captures that take every digest the parsers compute (HTTP bodies with their SHA-256,
# JA3/JA4, HASSH, certificates, mail attachments, QUIC's key derivation) and say whether hashlib's
# OpenSSL binding was loaded.
_PARSE = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from appliance.cli import main
    for capture in sys.argv[2:]:
        sys.argv = ["fukurou", "parse", "--format", "summary", capture]
        try:
            main()
        except SystemExit as stop:
            assert not stop.code, stop.code
    print("_hashlib" in sys.modules, "hmac" in sys.modules, "cryptography.hazmat.primitives.hashes" in sys.modules,
          file=sys.stderr)
""")


def test_parsing_loads_no_hashlib_openssl() -> None:
    """hashlib's libcrypto.so.3 was 3.4 MiB of the import process; its digests now come from
    CPython's builtin modules and from cryptography (which QUIC loads anyway)."""
    names = ["http-content-gzip.pcap", "quicietf.pcap", "smtp-data-250.pcap", "ssh2.pcap", "tls-alpn-h2.pcap"]
    captures = [str(CORPUS / n) for n in names if (CORPUS / n).exists()]
    assert len(captures) == len(names)
    done = subprocess.run([sys.executable, "-c", _PARSE, str(ROOT), *captures], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "False False True"


_WITHOUT_BUILTINS = textwrap.dedent("""
    import hashlib, sys
    sys.path.insert(0, sys.argv[1])
    for name in ("_md5", "_sha1", "_sha256", "_sha2"):
        sys.modules[name] = None  # as on RHEL's CPython, built without them (FIPS)
    from appliance import digests
    data = b"771,4865-4866-4867,0-23-65281,29-23-24,0"
    assert digests.md5_hex(data) == hashlib.md5(data).hexdigest()
    assert digests.sha1_hex(data) == hashlib.sha1(data).hexdigest()
    assert digests.sha256_hex(data) == hashlib.sha256(data).hexdigest()
    print("ok")
""")


def test_without_the_builtin_modules_hashlib_stands_in() -> None:
    done = subprocess.run([sys.executable, "-c", _WITHOUT_BUILTINS, str(ROOT)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
