"""``fukurou init``: set the appliance up without asking what can be found out.

It picks the capture interface (the one that carries the default route, or the only one that is
up), writes the settings file with that value and every other setting present but commented
with its default and help, creates the data folders and the database. Running it again changes
nothing and says so; an edited settings file is never overwritten without ``force``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.settings import Settings, config_template, load_settings

SYS_NET = Path("/sys/class/net")
PROC_ROUTE = Path("/proc/net/route")
PROC_ROUTE6 = Path("/proc/net/ipv6_route")


@dataclass
class Interface:
    name: str
    up: bool
    mac: str
    loopback: bool


@dataclass
class InitReport:
    """What ``init`` did, one line each, for the user and the tests."""

    lines: list[str] = field(default_factory=list)
    changed: bool = False

    def did(self, text: str) -> None:
        self.lines.append(text)
        self.changed = True

    def kept(self, text: str) -> None:
        self.lines.append(text)


def list_interfaces(sys_net: Path = SYS_NET) -> list[Interface]:
    """Network interfaces as the kernel lists them."""
    found = []
    for entry in sorted(sys_net.iterdir()) if sys_net.is_dir() else []:
        state = _read(entry / "operstate")
        flags = int(_read(entry / "flags") or "0", 16)
        found.append(Interface(entry.name, state == "up" or bool(flags & 0x1) and state == "unknown",
                               _read(entry / "address"), bool(flags & 0x8)))
    return found


def default_route_interface(route: Path = PROC_ROUTE, route6: Path = PROC_ROUTE6) -> str | None:
    """The interface of the IPv4 (else IPv6) default route, from /proc."""
    for line in _read(route).splitlines()[1:]:
        parts = line.split()
        if len(parts) > 2 and parts[1] == "00000000":
            return parts[0]
    for line in _read(route6).splitlines():
        parts = line.split()
        if len(parts) == 10 and parts[0] == "0" * 32 and parts[1] == "00" and parts[9] != "lo":
            return parts[9]
    return None


def choose_interface(interfaces: list[Interface], default: str | None) -> tuple[str | None, str]:
    """The interface to capture on, and why (said to the user)."""
    names = {i.name for i in interfaces}
    if default and default in names:
        return default, f"{default} carries the default route"
    up = [i.name for i in interfaces if i.up and not i.loopback]
    if len(up) == 1:
        return up[0], f"{up[0]} is the only interface that is up"
    if not up:
        return None, "no interface is up; set one with --interface"
    return None, f"several interfaces are up ({', '.join(up)}) and none has the default route; choose with --interface"


def init_appliance(config_path: str, interface: str | None = None, pcap_dir: str | None = None,
                   force: bool = False, admin: str | None = None,
                   password: Callable[[], str | None] | None = None) -> InitReport:
    """Write the settings file, make the folders and the database. Safe to run again."""
    report = InitReport()
    detected: dict[str, object] = {}
    if interface is None:
        interface, why = choose_interface(list_interfaces(), default_route_interface())
        report.kept(f"interface: {interface or 'none'} ({why})")
    else:
        report.kept(f"interface: {interface} (given)")
    if interface:
        detected["interface"] = interface
    if pcap_dir:
        detected["pcapDir"] = os.path.abspath(pcap_dir)
    _write_config(config_path, config_template(detected), force, report)
    settings = load_settings(config_path)
    _make_folders(settings, report)
    _make_database(settings, report)
    if admin:
        _make_admin(settings, admin, password or (lambda: None), report)
    if not report.changed:
        report.lines.append("nothing to do: the appliance was already set up")
    return report


def _write_config(path: str, text: str, force: bool, report: InitReport) -> None:
    target = Path(path)
    if target.exists():
        current = target.read_text(encoding="utf-8")
        if current == text:
            report.kept(f"{path}: already up to date")
            return
        if not force:
            report.kept(f"{path}: kept (it was edited; --force rewrites it, keeping a .bak copy)")
            return
        shutil.copy2(target, str(target) + ".bak")
        report.did(f"{path}: saved the old file as {path}.bak")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)  # never a half-written settings file
    report.did(f"{path}: written")


def _make_folders(settings: Settings, report: InitReport) -> None:
    folders = [settings.pcapDir, os.path.dirname(settings.dbPath)]
    if settings.pcapImportDir:
        folders.append(settings.pcapImportDir)
    for folder in folders:
        if os.path.isdir(folder):
            report.kept(f"{folder}: exists")
        else:
            os.makedirs(folder, mode=0o750, exist_ok=True)
            report.did(f"{folder}: created")


def _make_database(settings: Settings, report: InitReport) -> None:
    from appliance.store.db import open_database, schema_version

    existed = os.path.exists(settings.dbPath)
    before = 0
    if existed:
        conn = open_database(settings.dbPath, migrate=False)
        before = schema_version(conn)
        conn.close()
    conn = open_database(settings.dbPath)
    after = schema_version(conn)
    conn.close()
    if not existed:
        report.did(f"{settings.dbPath}: database created (schema version {after})")
    elif after != before:
        report.did(f"{settings.dbPath}: database upgraded from version {before} to {after}")
    else:
        report.kept(f"{settings.dbPath}: database up to date (schema version {after})")


def _make_admin(settings: Settings, name: str, password: Callable[[], str | None], report: InitReport) -> None:
    """The first admin of the viewer; an existing user is left as it is."""
    from appliance.store.db import open_database
    from appliance.web.users import Users

    conn = open_database(settings.dbPath)
    try:
        users = Users(conn)
        if users.get(name) is not None:
            report.kept(f"user {name}: exists, unchanged")
            return
        given = password()
        secret = given or secrets.token_urlsafe(12)
        users.add(name, secret, "admin")
        if given:
            report.did(f"user {name}: created (admin)")
        else:
            report.did(f"user {name}: created (admin) with password {secret}  <- shown once, write it down")
    finally:
        conn.close()


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
