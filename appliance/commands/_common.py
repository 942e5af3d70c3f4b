"""Exit codes shared by every command.

0 done; 1 damaged input under ``--strict`` (a truncated or corrupt capture: every session up to
the damage is still printed, and without ``--strict`` the damage is only reported on stderr,
because a capture cut short by a crash or a full disk is normal and still useful); 2 the command
could not run (bad arguments, bad settings, a file that is not a capture).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import apsw

EXIT_OK, EXIT_DAMAGED, EXIT_USAGE = 0, 1, 2


def open_store_or_complain(path: str) -> apsw.Connection | None:
    """The database at ``path``, or None after saying on stderr why it cannot be opened."""
    import sys

    from appliance.store.db import StoreError, open_database

    try:
        return open_database(path)
    except StoreError as err:
        print(f"fukurou: {err}", file=sys.stderr)
        return None


def print_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Left-aligned columns as wide as their widest cell."""
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    for row in (head, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
