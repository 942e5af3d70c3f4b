"""The packet path compiled by mypyc: built where a C compiler is, and equal to the interpreted one.

The compiled modules are the same source run as C, so the two must agree byte for byte on what
they produce. mypyc has had bugs that Python does not (a slice bound evaluated twice; a bytes
slice with start > stop raising SystemError, patched in setup.py), so the corpus is parsed both
ways and the outputs compared.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import corpus_captures

from appliance import native

ROOT = Path(__file__).resolve().parent.parent


def test_the_packet_path_runs_compiled_where_it_can_be_built() -> None:
    if os.environ.get("FUKUROU_PURE"):
        pytest.skip("FUKUROU_PURE asks for the interpreted modules")
    if native.stale_modules():
        pytest.skip(f"sources changed since the last build: {native.stale_modules()} (pip install -e .)")
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler here: the modules stay plain Python")
    assert native.compiled(), "a C compiler is installed but the extensions were not built (pip install -e .)"


def test_a_source_that_differs_from_what_its_build_read_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    """The build records each source's hash as mypyc reads it: a module whose text differs from
    that record is stale even when its extension is the newer file (an edit made while the C
    compiled), and without a record the files' times decide."""
    if not native.extension_files():
        pytest.skip("the modules are not compiled here")
    record = {name: native._hash(native._source(name)) for name in native.COMPILED_MODULES}
    path = tmp_path / "sources.json"
    monkeypatch.setattr(native, "SOURCES_RECORD", path)
    path.write_text(json.dumps(record))
    assert native.stale_modules() == []
    record["appliance.documents"] = "0:00000000"
    path.write_text(json.dumps(record))
    assert native.stale_modules() == ["appliance.documents"]
    path.unlink()
    assert isinstance(native.stale_modules(), list)  # the times decide; no error


def test_every_listed_module_exists() -> None:
    for path in native.source_paths():
        assert (ROOT / path).is_file(), path


def _parse(env_extra: dict[str, str], captures: list[str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "FUKUROU_PURE"}
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT)
    res = subprocess.run([sys.executable, "-m", "appliance", "parse", "--format", "jsonl", *captures],
                         cwd=ROOT, env=env, capture_output=True, timeout=600)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    return res.stdout.decode()


def test_compiled_and_interpreted_give_the_same_sessions() -> None:
    if not native.compiled():
        pytest.skip("the modules are not compiled here")
    captures = corpus_captures()
    if not captures:
        pytest.skip("the shared corpus is absent")
    compiled, interpreted = _parse({}, captures), _parse({"FUKUROU_PURE": "1"}, captures)
    assert compiled.count("\n") > 500
    if compiled != interpreted:
        for i, (a, b) in enumerate(zip(compiled.splitlines(), interpreted.splitlines(), strict=False)):
            assert a == b, f"session {i} differs:\ncompiled    {a[:600]}\ninterpreted {b[:600]}"
    assert compiled == interpreted


def test_pure_switch_loads_the_sources() -> None:
    env = dict(os.environ, FUKUROU_PURE="1", PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", "import appliance.native as n; print(n.compiled())"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "False", res.stderr


def test_no_call_inside_a_slice_bound_of_a_compiled_module() -> None:
    """mypyc evaluates a call in a slice bound twice (``view[os.write(fd, view):]`` wrote every
    buffer twice): compiled modules call first and slice after. len/min/max have no effects."""
    import ast

    harmless = {"len", "min", "max", "abs", "int"}
    found = []
    for path in native.source_paths():
        tree = ast.parse((ROOT / path).read_text())
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice)):
                continue
            for bound in (node.slice.lower, node.slice.upper, node.slice.step):
                for call in ast.walk(bound) if bound is not None else ():
                    if isinstance(call, ast.Call) and not (isinstance(call.func, ast.Name) and call.func.id in harmless):
                        found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    assert not found, found
