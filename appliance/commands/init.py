"""``fukurou init``: write the settings, make the folders and the database (idempotent)."""

from __future__ import annotations

import argparse
from typing import Any

from appliance.commands._common import EXIT_OK, EXIT_USAGE


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("init", help="set the appliance up: settings file, folders, database")
    p.add_argument("--interface", help="capture interface (default: the one with the default route)")
    p.add_argument("--pcap-dir", help="where packets are kept (default: pcapDir's default)")
    p.add_argument("--force", action="store_true", help="rewrite an edited settings file (a .bak copy is kept)")
    p.add_argument("--admin", metavar="USER", help="create the viewer's first admin (skipped if the user exists)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--password-file", metavar="FILE", help="the admin's password, first line of FILE")
    group.add_argument("--password-stdin", action="store_true", help="read the admin's password from stdin")
    p.set_defaults(func=run, config_optional=True)


def run(args: argparse.Namespace, settings: Any) -> int:
    from appliance.initialize import init_appliance
    from appliance.settings import DEFAULT_CONFIG_PATH, SettingsError

    path = args.config or DEFAULT_CONFIG_PATH
    try:
        report = init_appliance(path, args.interface, args.pcap_dir, args.force, args.admin,
                                lambda: _password(args))
    except (OSError, ValueError, SettingsError) as err:
        print(f"fukurou init: {err}")
        return EXIT_USAGE
    for line in report.lines:
        print(line)
    return EXIT_OK


def _password(args: argparse.Namespace) -> str | None:
    """From a file or stdin, typed at a terminal, or None: then one is generated and shown once."""
    import getpass
    import sys

    if args.password_file:
        with open(args.password_file, encoding="utf-8") as fh:
            return fh.readline().rstrip("\n") or None
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n") or None
    if sys.stdin.isatty():
        first = getpass.getpass("Password for the admin (empty: generate one): ")
        if first and getpass.getpass("Again: ") != first:
            raise ValueError("the passwords differ")
        return first or None
    return None
