"""Login throttling: failures per user name and per client address, with exponential backoff.

Kept in memory: the viewer is one process, and a restart forgetting the counters costs an attacker
a restart's worth of guesses at most. Keys are never evicted by their own failures, so a
flood of names cannot grow the table without bound: it is capped and the oldest entries go.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

FREE_FAILURES = 5  # this many mistakes cost nothing (typos)
MAX_DELAY = 15 * 60.0  # seconds; the backoff doubles up to this
FORGET_AFTER = 3600.0  # a key with no failure for this long starts again
MAX_KEYS = 10_000


class Throttle:
    """``wait(key)`` says how many seconds a key must still wait; ``failed``/``succeeded`` update it."""

    def __init__(self, clock: type[time.monotonic] | None = None) -> None:
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._keys: OrderedDict[str, tuple[int, float, float]] = OrderedDict()  # failures, last, until

    def wait(self, *keys: str) -> float:
        now = self._clock()
        with self._lock:
            return max([self._wait_one(k, now) for k in keys] + [0.0])

    def _wait_one(self, key: str, now: float) -> float:
        entry = self._keys.get(key)
        if entry is None:
            return 0.0
        if now - entry[1] > FORGET_AFTER:
            del self._keys[key]
            return 0.0
        return max(0.0, entry[2] - now)

    def failed(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                failures = self._keys.pop(key, (0, now, now))[0] + 1
                over = failures - FREE_FAILURES
                delay = min(MAX_DELAY, 2.0 ** over) if over > 0 else 0.0
                self._keys[key] = (failures, now, now + delay)
            while len(self._keys) > MAX_KEYS:
                self._keys.popitem(last=False)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._keys.pop(key, None)
