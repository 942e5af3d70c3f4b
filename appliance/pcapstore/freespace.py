"""Free-space cleanup: delete the oldest closed PCAP files while the pcapDir filesystem is too full.

freeSpaceG is a number of GB or a percent of the filesystem (``settings.FreeSpace``). Arkime's viewer
checks it once a minute; we check it at every rotation and once a minute (``tick``), and when a
write fails with ENOSPC.

Differences from Arkime, on purpose, because the target is a small disk:

* No "keep at least 10 files" rule: on a 64 MB card that rule is the whole disk (Arkime #3396/#3397).
* Headroom: at a rotation we free space for the *next* file too (``min(maxFileSizeG, 1/8 of the
  filesystem)``), so free space does not sink below the threshold while that file fills.
* Oldest means lowest file number (write order), as Arkime's ``first`` (the file's creation time).

The file being written is never deleted. A deleted file's registry row stays with state
``deleted``: sessions keep their metadata and ``reader`` says the packets are gone.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import apsw

log = logging.getLogger(__name__)

CHECK_SECONDS = 60.0


@dataclass
class FreeSpaceStats:
    """Counters for the status page and the log."""

    checks: int = 0
    files_deleted: int = 0
    bytes_deleted: int = 0
    short_of_space: int = 0  # checks that ended below the threshold with nothing left to delete
    free_bytes: int = 0
    threshold_bytes: int = 0


class FreeSpaceGuard:
    """Keeps the pcapDir filesystem above freeSpaceG by deleting the oldest closed files.

    ``current`` returns the number of the file being written (or None); ``statvfs`` is replaceable
    for tests.
    """

    def __init__(self, conn: apsw.Connection, settings: Any, current: Callable[[], int | None] = lambda: None,
                 statvfs: Callable[[str], os.statvfs_result] = os.statvfs) -> None:
        self.conn = conn
        self.dir = settings.pcapDir
        self.node = settings.nodeName
        self.rule = settings.freeSpaceG
        self.max_file_bytes = int(settings.maxFileSizeG * (1 << 30))
        self.current = current
        self.statvfs = statvfs
        self.stats = FreeSpaceStats()
        self.next_check = 0.0

    def tick(self, now: float | None = None) -> int:
        """Check once a minute; returns the number of files deleted."""
        now = time.monotonic() if now is None else now
        if now < self.next_check:
            return 0
        return self.check()

    def on_rotate(self, closed_num: int) -> None:
        self.check(headroom=True)

    def on_full(self) -> None:
        self.check(headroom=True)

    def check(self, headroom: bool = False) -> int:
        """Delete oldest closed files until free space is above the threshold (plus headroom)."""
        self.next_check = time.monotonic() + CHECK_SECONDS
        self.stats.checks += 1
        free, total = self._free()
        target = self.rule.threshold_bytes(total)
        if headroom:
            target += min(self.max_file_bytes, total // 8)
        self.stats.threshold_bytes = target
        deleted = 0
        while free < target:
            victim = self._oldest()
            if victim is None:
                self.stats.short_of_space += 1
                log.warning("pcapDir %s: %d bytes free, below %d, and no closed file left to delete",
                            self.dir, free, target)
                break
            self._delete(*victim)
            deleted += 1
            free, total = self._free()
        self.stats.free_bytes = free
        return deleted

    def _free(self) -> tuple[int, int]:
        st = self.statvfs(self.dir)
        return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize

    def _oldest(self) -> tuple[int, str, int] | None:
        current = self.current()
        row = self.conn.execute(
            "SELECT num, name, size FROM pcap_files WHERE state='closed' AND node=? AND num != ? ORDER BY num LIMIT 1",
            (self.node, -1 if current is None else current)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def _delete(self, num: int, name: str, size: int) -> None:
        try:
            os.unlink(os.path.join(self.dir, name))
        except FileNotFoundError:
            log.warning("pcap file %s was already gone", name)
        with self.conn:
            self.conn.execute("UPDATE pcap_files SET state='deleted', deleted_at=?, note='free space' WHERE num=?",
                              (time.time(), num))
        self.stats.files_deleted += 1
        self.stats.bytes_deleted += size
        log.info("deleted %s (%d bytes) to keep free space above freeSpaceG=%s", name, size, self.rule)
