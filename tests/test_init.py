"""``fukurou init``: detection of the capture interface, idempotence, never clobbering edits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from appliance.initialize import Interface, choose_interface, default_route_interface, list_interfaces


def _fake_sys_net(root: Path, ifaces: dict[str, tuple[str, str]]) -> Path:
    for name, (state, flags) in ifaces.items():
        d = root / name
        d.mkdir(parents=True)
        (d / "operstate").write_text(state + "\n")
        (d / "flags").write_text(flags + "\n")
        (d / "address").write_text("02:00:00:00:00:01\n")
    return root


def test_default_route_wins(tmp_path: Path) -> None:
    route = tmp_path / "route"
    route.write_text("Iface\tDestination\tGateway\n"
                     "eth1\t0001A8C0\t00000000\n"
                     "eth0\t00000000\t0101A8C0\n")
    assert default_route_interface(route, tmp_path / "none") == "eth0"
    ifaces = list_interfaces(_fake_sys_net(tmp_path / "net", {"lo": ("unknown", "0x9"), "eth0": ("up", "0x1003"),
                                                              "eth1": ("up", "0x1003")}))
    assert choose_interface(ifaces, "eth0") == ("eth0", "eth0 carries the default route")


def test_only_interface_up_without_default_route() -> None:
    ifaces = [Interface("lo", True, "", True), Interface("eth0", True, "x", False), Interface("eth1", False, "y", False)]
    assert choose_interface(ifaces, None)[0] == "eth0"


def test_ambiguous_interfaces_are_not_guessed() -> None:
    ifaces = [Interface("eth0", True, "x", False), Interface("eth1", True, "y", False)]
    name, why = choose_interface(ifaces, None)
    assert name is None and "--interface" in why


def _init(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FUKUROU_dbPath=str(tmp_path / "db" / "fukurou.db"))
    return subprocess.run([sys.executable, "-m", "appliance", "--config", str(tmp_path / "config.ini"), "init",
                           "--interface", "eth9", "--pcap-dir", str(tmp_path / "pcap"), *extra],
                          capture_output=True, text=True, env=env, check=True)


def test_init_twice_changes_nothing_and_says_so(tmp_path: Path) -> None:
    first = _init(tmp_path)
    assert "written" in first.stdout and "database created" in first.stdout
    config = (tmp_path / "config.ini").read_text()
    assert "\ninterface = eth9\n" in config and f"\npcapDir = {tmp_path / 'pcap'}\n" in config
    assert "#tcpTimeout = 480" in config  # every other setting present, commented, at its default
    second = _init(tmp_path)
    assert "nothing to do" in second.stdout
    assert (tmp_path / "config.ini").read_text() == config


def test_edited_config_is_kept_unless_forced(tmp_path: Path) -> None:
    _init(tmp_path)
    path = tmp_path / "config.ini"
    path.write_text(path.read_text() + "tcpTimeout = 600\n")
    edited = path.read_text()
    kept = _init(tmp_path)
    assert "kept" in kept.stdout and path.read_text() == edited
    forced = _init(tmp_path, "--force")
    assert ".bak" in forced.stdout
    assert (tmp_path / "config.ini.bak").read_text() == edited
    assert "tcpTimeout = 600" not in path.read_text()


def test_admin_created_once_with_a_generated_password(tmp_path: Path) -> None:
    first = _init(tmp_path, "--admin", "owl")
    assert "user owl: created (admin) with password" in first.stdout
    second = _init(tmp_path, "--admin", "owl")
    assert "user owl: exists, unchanged" in second.stdout and "nothing to do" in second.stdout


def test_admin_password_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("correct horse battery staple\n")
    out = _init(tmp_path, "--admin", "owl", "--password-file", str(secret)).stdout
    assert "user owl: created (admin)" in out and "correct horse" not in out
