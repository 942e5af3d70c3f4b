"""Subcommands of ``fukurou``: each module here has ``register(subparsers)``.

A module adds its subparsers and sets ``func=handler`` on each; a handler is
``handler(args, settings) -> int`` (the exit code). Modules are found by name, so adding a
command is adding a file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register_all(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            module.register(subparsers)
