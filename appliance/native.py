"""Which modules mypyc compiles to C (setup.py), and whether this process runs them compiled.

The packet path (reader, decoder, session table, protocol parsers) and the store's row builder
run per packet or per session; compiled, they run 2-3x faster and their classes keep attributes
in C structs. The source is the same either way: without a C compiler the build leaves them as
Python, and everything works, slower.

In a source checkout (an editable install) an edited module would be shadowed by the extension
built from its older text. Compiled modules call each other directly, so they cannot be mixed
with interpreted ones: if any source differs from the text its extension was built from,
``prefer_fresh_sources`` makes every one of them load from source and says so once. The build
records a checksum of each source as mypyc reads it (``record_sources``), so a module edited while
the build runs (the extension is then newer than the edit, but was built from the text before
it) is caught too; without that record the times of the files decide.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import zlib
from pathlib import Path
from types import ModuleType

COMPILED_MODULES = (
    "appliance.readers",
    "appliance.decode",
    "appliance.sessions",
    "appliance.compressed_sessions",
    "appliance.pipeline",
    "appliance.community_id",
    "appliance.memo",
    "appliance.documents",
    "appliance.digests",
    "appliance.protocols",
    "appliance.protocols._asn1",
    "appliance.protocols._index",
    "appliance.protocols._tls_hello",
    "appliance.protocols.arp",
    "appliance.protocols.certs",
    "appliance.protocols.dhcp",
    "appliance.protocols.dns",
    "appliance.protocols.email",
    "appliance.protocols.http",
    "appliance.protocols.http2",
    "appliance.protocols.ike",
    "appliance.protocols.ntp",
    "appliance.protocols.opcua",
    "appliance.protocols.openvpn",
    "appliance.protocols.quic",
    "appliance.protocols.signatures",
    "appliance.protocols.ssh",
    "appliance.protocols.tls",
    "appliance.pcapstore.writer",
    "appliance.capture.sink",
    "appliance.store.layout",
    "appliance.store.shapes",
    "appliance.store.blob",
    "appliance.store.postings",
    "appliance.store.sessions",
    "appliance.insights.aggregates",
    "appliance.insights.sketch",
)

_ROOT = Path(__file__).resolve().parent.parent  # the directory that holds the package


def _source(name: str) -> Path:
    path = _ROOT / name.replace(".", "/")
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def source_paths() -> list[str]:
    """The compiled modules' files, relative to the checkout (what setup.py gives mypyc)."""
    return [str(_source(name).relative_to(_ROOT)) for name in COMPILED_MODULES]


GROUP = "appliance_native"  # mypyc's name for the shared library that holds every compiled module
# The checksum of each compiled module's source as the last build read it (beside the extensions).
SOURCES_RECORD = _ROOT / f"{GROUP}.sources.json"


def extension_files() -> list[str]:
    """The built extensions of a checkout, relative to it: one per module, and the shared library."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    found = [_extension(name) for name in COMPILED_MODULES]
    shared = _ROOT / f"{GROUP}__mypyc{suffix}"
    if any(path is None for path in found) or not shared.exists():
        return []
    return [str(p.relative_to(_ROOT)) for p in found if p is not None] + [shared.name]


def _extension(name: str) -> Path | None:
    source = _source(name)
    stem = "__init__" if source.name == "__init__.py" else source.stem
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_name(stem + suffix)
        if candidate.exists():
            return candidate
    return None


def record_sources() -> None:
    """Note the checksum of every compiled module's source (setup.py, as mypyc reads them)."""
    hashes = {name: _hash(_source(name)) for name in COMPILED_MODULES}
    SOURCES_RECORD.write_text(json.dumps(hashes, indent=0, sort_keys=True) + "\n")


def _hash(path: Path) -> str:
    """Size and CRC-32 of a source: enough to tell an edit, and no hashlib at start-up (it loads
    OpenSSL's libcrypto, which the packet path does without: tests/test_digests.py)."""
    data = path.read_bytes()
    return f"{len(data)}:{zlib.crc32(data):08x}"


def stale_modules() -> list[str]:
    """Compiled modules whose source is not the text they were built from (checkouts only)."""
    if not (_ROOT / "pyproject.toml").exists():
        return []  # an installed tree: sources and extensions come from one build
    try:
        built: dict[str, str] | None = json.loads(SOURCES_RECORD.read_text())
    except (OSError, ValueError):
        built = None  # a build from before the record: the files' times decide
    stale = []
    for name in COMPILED_MODULES:
        ext = _extension(name)
        source = _source(name)
        if ext is None or not source.exists():
            continue
        if built is not None:
            changed = built.get(name) != _hash(source)
        else:
            changed = source.stat().st_mtime > ext.stat().st_mtime
        if changed:
            stale.append(name)
    return stale


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Loads the compiled modules from their .py files, ahead of the extensions beside them."""

    def find_spec(self, fullname: str, path: object = None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in COMPILED_MODULES:
            return None
        source = _source(fullname)
        is_package = source.name == "__init__.py"
        return importlib.util.spec_from_file_location(
            fullname, source, submodule_search_locations=[str(source.parent)] if is_package else None)


def prefer_fresh_sources() -> None:
    """Run every compiled module from source when any of them is stale (see the module doc), or
    when FUKUROU_PURE is set (to compare the two, or to rule the compiled code out)."""
    if any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        return
    if os.environ.get("FUKUROU_PURE"):
        sys.meta_path.insert(0, _SourceFinder())
        return
    stale = stale_modules()
    if stale:
        sys.meta_path.insert(0, _SourceFinder())
        print(f"fukurou: {', '.join(stale)} changed since the last build; running every compiled "
              "module from source (pip install -e . rebuilds them)", file=sys.stderr)


def compiled() -> bool:
    """Whether the packet path runs compiled in this process."""
    import appliance.sessions

    return not (appliance.sessions.__file__ or "").endswith(".py")
