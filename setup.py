"""Build script: setuptools, with the per-packet and per-session modules compiled by mypyc.

mypyc turns these type-annotated modules into C extensions (2-3x faster than the interpreter on
the packet path, same source). Where there is no C compiler or no mypyc the build goes on without
them and the same modules run as plain Python; ``fukurou --version`` says which. FUKUROU_PURE=1
builds the plain-Python package on purpose.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).parent))
from appliance.native import GROUP, record_sources, source_paths  # noqa: E402  (the list lives with its runtime check)


def ext_modules() -> list:
    if os.environ.get("FUKUROU_PURE"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError as err:
        print(f"fukurou: no mypyc ({err}); the modules stay plain Python", file=sys.stderr)
        return []
    # -O1: the time goes to CPython's API, not to our C, so -O3 gained nothing measurable on the
    # packet path (400k packets: 1.02-1.18 s at -O3, 1.00-1.31 s at -O1) and took twice as long.
    extensions = mypycify(source_paths(), opt_level="1", debug_level="0", group_name=GROUP)
    record_sources()  # the text mypyc just read: an edit made while the C compiles shows as stale
    runtime, patched = _patched_runtime()
    for ext in extensions:
        ext.include_dirs = [patched if d == runtime else d for d in ext.include_dirs]
        ext.optional = True  # no C compiler: build without them rather than fail
    return extensions


def _patched_runtime() -> tuple[str, str]:
    """mypyc's C runtime (which the generated code #includes), with one fix: its fast bytes
    slice passes a negative length to CPython when start > stop (``b[4:2]`` raises SystemError
    instead of giving ``b""``), which malformed packets hit. Returns (original, patched) dirs."""
    import mypyc

    original = Path(mypyc.__file__).parent / "lib-rt"
    patched = Path("build") / "mypyc-lib-rt"
    shutil.copytree(original, patched, dirs_exist_ok=True)
    bytes_ops = patched / "bytes_ops.c"
    text = bytes_ops.read_text()
    bug = "Py_ssize_t slice_len = endn - startn;"
    if bug in text:
        bytes_ops.write_text(text.replace(bug, "Py_ssize_t slice_len = endn > startn ? endn - startn : 0;"))
    return str(original), str(patched.resolve())


setup(ext_modules=ext_modules())
