"""Where the files that are not Python live: the viewer's ``web/`` and the ``sql/`` migrations.

In a checkout they are at the top of the tree; an installed package has them under
``<prefix>/share/fukurou`` (see ``[tool.setuptools.data-files]`` in pyproject.toml).
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def _candidates(name: str) -> list[Path]:
    # A checkout (or a tree that put them beside the package, as the RPM does), then the
    # data-files prefixes of a normal, a --user and a --target install.
    return [CHECKOUT / name, Path(sys.prefix) / "share" / "fukurou" / name,
            Path(site.USER_BASE or "") / "share" / "fukurou" / name,
            CHECKOUT / "share" / "fukurou" / name]


def web_root() -> Path:
    """The folder holding ``templates/`` and ``static/``."""
    return _first_existing(*_candidates("web"))


def sql_root() -> Path:
    """The folder holding the numbered migrations."""
    return _first_existing(*_candidates("sql"))
