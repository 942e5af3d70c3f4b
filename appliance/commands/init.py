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
    p.set_defaults(func=run, config_optional=True)


def run(args: argparse.Namespace, settings: Any) -> int:
    from appliance.initialize import init_appliance
    from appliance.settings import DEFAULT_CONFIG_PATH, SettingsError

    path = args.config or DEFAULT_CONFIG_PATH
    try:
        report = init_appliance(path, args.interface, args.pcap_dir, args.force)
    except (OSError, SettingsError) as err:
        print(f"fukurou init: {err}")
        return EXIT_USAGE
    for line in report.lines:
        print(line)
    return EXIT_OK
