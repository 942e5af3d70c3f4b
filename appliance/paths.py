"""Where the files that are not Python live: the viewer's ``web/`` and the ``sql/`` migrations.

In a checkout they are at the top of the tree; an installed package has them under
``<prefix>/share/fukurou`` (see ``[tool.setuptools.data-files]`` in pyproject.toml).
"""

from __future__ import annotations

import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def web_root() -> Path:
    """The folder holding ``templates/`` and ``static/``."""
    return _first_existing(CHECKOUT / "web", Path(sys.prefix) / "share" / "fukurou" / "web")


def sql_root() -> Path:
    """The folder holding the numbered migrations."""
    return _first_existing(CHECKOUT / "sql", Path(sys.prefix) / "share" / "fukurou" / "sql")
