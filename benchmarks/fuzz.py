#!/usr/bin/env python3
"""The fuzz campaign of tests/test_fuzz.py at scale.

    python3 benchmarks/fuzz.py                      # 10000 inputs, seed 1
    python3 benchmarks/fuzz.py --count 100000 --seed 7 --keep /tmp/fuzz-failures
    python3 benchmarks/fuzz.py --skip-gzip          # leave out the damaged-gzip inputs

Each input is a corpus capture (../shared/pcaps/arkime, plus a generated one) mutated by one of the
mutators of tests/test_fuzz.py (flipped bytes, truncation, garbage spliced into packet bodies,
bodies resized, garbage inserted into the file, absurd record/block lengths, a wrong link type,
damaged gzip), parsed with ``parse_capture`` with parsers off and on. An exception other than
CaptureError is a finding: they are grouped by exception and place, and with ``--keep`` the inputs
that raised are written there to reproduce (``fukurou parse FILE``).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import test_fuzz as tf  # noqa: E402

from appliance.pipeline import parse_capture  # noqa: E402
from appliance.readers import CaptureError  # noqa: E402


def where(exc: BaseException) -> str:
    """Exception type and the innermost frame inside the project."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/appliance/" in f.filename]
    place = f"{Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else "?"
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return f"{name} at {place}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10000, help="inputs to run (default 10000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--keep", metavar="DIR", help="write every input that raised into DIR")
    ap.add_argument("--skip-gzip", action="store_true", help="leave out the damaged-gzip mutators")
    ap.add_argument("--parsers", choices=("both", "on", "off"), default="both",
                    help="parse each input with parsers on, off or both (default both)")
    args = ap.parse_args(argv)

    mutators = dict(tf.MUTATORS)
    if not args.skip_gzip:
        mutators.update(tf.GZIP_MUTATORS)
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.parsers]
    keep = Path(args.keep) if args.keep else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)

    load_start = time.perf_counter()
    sources = tf.load_sources()
    print(f"{len(sources)} seed captures loaded in {time.perf_counter() - load_start:.1f} s; "
          f"mutators: {', '.join(sorted(mutators))}; parsers: {args.parsers}")

    rnd = random.Random(args.seed)
    findings: Counter[str] = Counter()
    by_mutator: Counter[str] = Counter()
    examples: dict[str, str] = {}
    runs = failed_inputs = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fukurou-fuzz-") as tmp:
        path = Path(tmp) / "input.cap"
        for case in range(args.count):
            name, src_name, blob = tf.make_case(rnd, sources, mutators)
            path.write_bytes(blob)
            raised = False
            for parsers in modes:
                runs += 1
                try:
                    parse_capture(str(path), tf.SETTINGS, lambda s: None, parsers=parsers)
                except CaptureError:
                    pass
                except Exception as exc:  # noqa: BLE001 - that is what we are looking for
                    key = where(exc)
                    findings[key] += 1
                    by_mutator[name] += 1
                    raised = True
                    if key not in examples:
                        examples[key] = (f"case {case} ({name} of {src_name}, parsers={parsers}): "
                                         f"{exc!r}")
            if raised:
                failed_inputs += 1
                if keep:
                    (keep / f"seed{args.seed}-case{case}-{name}.cap").write_bytes(blob)
            if (case + 1) % 1000 == 0:
                rate = (case + 1) / (time.perf_counter() - start)
                print(f"  {case + 1} inputs, {failed_inputs} raised, {rate:.0f} inputs/s", flush=True)
    elapsed = time.perf_counter() - start

    print(f"inputs run: {args.count} ({runs} parses) in {elapsed:.1f} s: {args.count / elapsed:.1f} inputs/s")
    print(f"exceptions found: {sum(findings.values())} in {failed_inputs} inputs (should be 0)")
    for key, n in findings.most_common():
        print(f"  {n:6d}  {key}\n          e.g. {examples[key]}")
    if by_mutator:
        print("by mutator: " + ", ".join(f"{k} {v}" for k, v in by_mutator.most_common()))
    if keep and failed_inputs:
        print(f"inputs that raised are in {keep}")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
