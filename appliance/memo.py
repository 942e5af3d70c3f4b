"""Bounded memos for pure functions of keys that repeat: header names, DNS labels, addresses.

A hit is one dict lookup. The memo is emptied when it reaches its limit instead of evicting one
entry at a time: the keys that matter come back at once, and a flood of new keys (a scan, random
names) costs memory only up to the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def itself(key: Any) -> Any:
    """``make`` for a memo that only shares equal immutable values: the key is the value."""
    return key


def remembered(memo: dict[Any, Any], key: Any, make: Callable[[Any], Any], limit: int) -> Any:
    """``make(key)``, from ``memo`` when it was made before (``make`` must never return None)."""
    value = memo.get(key)
    if value is None:
        value = make(key)
        if len(memo) >= limit:
            memo.clear()
        memo[key] = value
    return value
