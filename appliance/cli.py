"""The ``fukurou`` command: one subcommand per job (see ``appliance/commands/``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from appliance import __version__
from appliance.commands import register_all
from appliance.commands._common import EXIT_OK, EXIT_USAGE
from appliance.memory import keep_big_buffers
from appliance.settings import SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fukurou`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        # ``init`` writes the settings file, so it must run before there is one.
        missing_ok = getattr(args, "config_optional", False) and args.config and not os.path.exists(args.config)
        settings = load_settings(None if missing_ok else args.config)
    except SettingsError as err:
        print(f"fukurou: {err}", file=sys.stderr)
        return EXIT_USAGE
    keep_big_buffers()  # the packet path's buffers come and go: see appliance/memory.py
    try:
        return int(args.func(args, settings))
    except BrokenPipeError:
        # The reader of our output went away (``| head``): not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not complain again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


class _Version(argparse.Action):
    """--version, checked only when asked (it imports the packet path)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from appliance.native import compiled

        print(f"fukurou {__version__} ({'compiled' if compiled() else 'interpreted'} packet path)")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fukurou", description="Fukurou, a packet-capture appliance.")
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and whether the packet path is compiled")
    parser.add_argument("--config", metavar="FILE", help="settings file (default /etc/fukurou/config.ini)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    register_all(sub)
    return parser
