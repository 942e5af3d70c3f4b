"""keep_big_buffers: a process that reads captures keeps its freed megabyte buffers.

Counted in page faults of a real child process (the kernel's figure), not in time."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from appliance.memory import YOUNG_COLLECTION_EVERY
from appliance.store import writer_process
from tests.conftest import corpus_captures

# Read a capture the way `fukurou parse` does and print the minor page faults taken while reading
# (after the imports).
_CHILD = textwrap.dedent("""
    import resource, sys
    from appliance.memory import keep_big_buffers
    from appliance.readers import open_capture
    took = keep_big_buffers() if sys.argv[1] == "keep" else False
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with open_capture(sys.argv[2]) as reader:
        for record in reader:
            pass
    print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _faults(mode: str, capture: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, capture], capture_output=True, text=True, check=True)
    took, faults = out.stdout.split()
    return took, int(faults)


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A corpus capture's records repeated to ~48 MB: many of the readers' 1 MiB chunks."""
    with open(max(corpus_captures(), key=os.path.getsize), "rb") as fh:
        header, records = fh.read(24), fh.read()
    path = tmp_path_factory.mktemp("malloc") / "big.pcap"
    path.write_bytes(header + records * (48_000_000 // len(records) + 1))
    return str(path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_buffers_are_kept_instead_of_faulted_in_again(big_capture: str) -> None:
    took, kept = _faults("keep", big_capture)
    _, default = _faults("default", big_capture)
    assert took == "True"
    # By default the chunks keep taking fresh pages (~100 faults a megabyte here, ~4,700 in all);
    # kept, they are taken once (~1,000: the first chunks).
    assert default > 3000
    assert kept < default / 3


def test_the_command_line_sets_it_before_any_command_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import appliance.cli as c, sys; c.keep_big_buffers = lambda: print('set') or True; "
         "sys.exit(c.main(['config']))"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("set\n")


_CYCLES_CHILD = textwrap.dedent("""
    import gc, sys, weakref
    from appliance.memory import collect_cycles_less_often

    class Node:
        pass

    every = int(sys.argv[1])
    collect_cycles_less_often(every)
    first = Node(); first.me = first  # a reference cycle, dropped at once
    probe = weakref.ref(first)
    del first
    for _ in range(every * 3):  # more garbage cycles, as a long run makes
        node = Node(); node.me = node
    print(gc.get_threshold()[0], gc.get_freeze_count() > 1000, probe() is None)
""")


@pytest.mark.parametrize("every", [YOUNG_COLLECTION_EVERY, writer_process.YOUNG_COLLECTION_EVERY])
def test_cycles_are_still_collected_less_often_and_without_startup_objects(every: int) -> None:
    """The import and parse processes' threshold, and the store process's."""
    out = subprocess.run([sys.executable, "-c", _CYCLES_CHILD, str(every)], capture_output=True, text=True,
                         check=True)
    threshold, frozen, collected = out.stdout.split()
    assert int(threshold) == every
    assert frozen == "True"  # start-up's objects are left out of every collection
    assert collected == "True"  # without any gc.collect() call
