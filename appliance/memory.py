"""How the packet and store processes use memory: glibc's malloc and Python's cycle collector.

**malloc.** The readers take a capture 256 KiB at a time, and the parsers and the PCAP writer hold
buffers of a few hundred KiB that come and go. glibc starts with ``mmap`` for anything over
128 KiB and hands the heap's top back to the kernel once 128 KiB of it is free (both limits then
move with what it sees). With a megabyte or two of such buffers freed and taken again for every
megabyte read, the heap top went back and forth: reading the 200 MB home benchmark capture took
~23,000 minor page faults (a fresh, zeroed page each time), and `fukurou parse` of it spent 5-9 %
of its CPU time on them. Fixed limits above that churn keep those pages in the process: reading
takes ~1,300 faults, and the peak memory is unchanged (the same pages were taken again anyway).
Other C libraries (musl) have no such knobs, and then this does nothing.

**Cycle collector.** Python looks for reference cycles every 700 new container objects, and from
time to time through everything alive. The store builds thousands of rows, terms and aggregates
per batch, all alive until the batch commits, so it triggered ~3,000 young and ~25 full
collections per 100,000 sessions, the full ones walking every module object loaded at start-up
too: 8 % of the store's CPU time. Freezing what start-up made (``gc.freeze``: never walked again)
and collecting the young generation every 20,000 new objects instead of 700 cuts that to ~2.5 %.
The store process (``store/writer_process.py``) makes no cycles at all as it stores, and goes
further: every 500,000.
Garbage without cycles is freed as before, at once; only cyclic garbage waits a little longer.
"""

from __future__ import annotations

import ctypes
import gc
import sys

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
BIG_BUFFER_BYTES = 4 << 20  # larger than a read chunk and its neighbours
YOUNG_COLLECTION_EVERY = 20_000  # new container objects between collections of the young generation


def keep_big_buffers(limit: int = BIG_BUFFER_BYTES) -> bool:
    """Let malloc keep up to ``limit`` bytes of freed buffers; True when glibc took the settings."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, limit)) and bool(mallopt(M_TRIM_THRESHOLD, limit))


def collect_cycles_less_often(every: int = YOUNG_COLLECTION_EVERY) -> None:
    """Call once the process has imported what it needs: start-up's objects are frozen, and the
    young generation is collected every ``every`` new container objects."""
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(every, older, oldest)
