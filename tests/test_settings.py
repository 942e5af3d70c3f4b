"""Tests for appliance.settings: loading, validation, sources and the generated docs/template."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from appliance import settings as settings_module
from appliance.settings import (
    DEFAULT_CONFIG_PATH,
    MARKDOWN_MARKER,
    SETTINGS,
    SETTINGS_BY_NAME,
    FreeSpace,
    Settings,
    SettingsError,
    config_template,
    format_effective,
    format_value,
    generated_part,
    load_settings,
    main,
    parse_value,
    settings_markdown,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "SETTINGS.md"


def write_ini(tmp_path: Path, body: str, name: str = "config.ini") -> str:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return str(path)


def load(tmp_path: Path, body: str, environ: dict[str, str] | None = None) -> Settings:
    return load_settings(write_ini(tmp_path, body), environ=environ or {})


# --- defaults ---------------------------------------------------------------------------------------------

def test_defaults_without_a_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_module, "DEFAULT_CONFIG_PATH", str(tmp_path / "absent.ini"))
    s = load_settings(environ={})
    assert s == Settings()
    assert s.nodeName == "fukurou"
    assert s.interface == ()
    assert s.snapLen == 16384
    assert s.freeSpaceG == FreeSpace(5.0, True)
    assert s.tcpTimeout == 480 and s.tcpSaveTimeout == 480
    assert s.maxStreams == 50000
    assert s.viewPort == 8005
    assert s.promiscuous is True
    assert all(s.source(setting.name) == "default" for setting in SETTINGS)


def test_default_path_is_used_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_ini(tmp_path, "[default]\nviewPort = 9000\n")
    monkeypatch.setattr(settings_module, "DEFAULT_CONFIG_PATH", path)
    s = load_settings(environ={})
    assert s.viewPort == 9000
    assert s.source("viewPort") == f"{path}:2"


def test_default_config_path_constant() -> None:
    assert DEFAULT_CONFIG_PATH == "/etc/fukurou/config.ini"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_default_round_trips_through_ini_text(setting) -> None:
    assert parse_value(setting, format_value(setting, setting.default)) == setting.default


def test_settings_table_is_well_formed() -> None:
    assert len(SETTINGS_BY_NAME) == len(SETTINGS), "duplicate setting names"
    for setting in SETTINGS:
        assert setting.type in settings_module.TYPES, setting.name
        assert setting.help and setting.section, setting.name


# --- file values, environment, sources ------------------------------------------------------------------

CONFIG = """\
# Fukurou test configuration
; an Arkime-style comment
[default]
interface = eth0;eth1
tcpTimeout = 600
freeSpaceG = 12.5
promiscuous = no
bpf = not port 22
logLevel = debug
"""


def test_file_values(tmp_path: Path) -> None:
    s = load(tmp_path, CONFIG)
    assert s.interface == ("eth0", "eth1")
    assert s.tcpTimeout == 600
    assert s.freeSpaceG == FreeSpace(12.5, False)
    assert s.promiscuous is False
    assert s.bpf == "not port 22"
    assert s.logLevel == "debug"
    assert s.udpTimeout == 60  # untouched settings keep their defaults


def test_sources(tmp_path: Path) -> None:
    path = write_ini(tmp_path, CONFIG)
    s = load_settings(path, environ={"FUKUROU_udpTimeout": "30"})
    assert s.source("interface") == f"{path}:4"
    assert s.source("tcpTimeout") == f"{path}:5"
    assert s.source("logLevel") == f"{path}:9"
    assert s.source("udpTimeout") == "env FUKUROU_udpTimeout"
    assert s.source("snapLen") == "default"
    assert s.replace(snapLen=1500).source("snapLen") == "command line"
    with pytest.raises(SettingsError, match="snapLn: unknown setting; did you mean snapLen"):
        s.source("snapLn")


def test_env_overrides_file(tmp_path: Path) -> None:
    s = load(tmp_path, CONFIG, environ={"FUKUROU_tcpTimeout": "900", "FUKUROU_INTERFACE": "wlan0"})
    assert s.tcpTimeout == 900
    assert s.interface == ("wlan0",)
    assert s.source("interface") == "env FUKUROU_INTERFACE"


def test_env_exact_name_wins_over_upper_case() -> None:
    s = load_settings(None, environ={"FUKUROU_TCPTIMEOUT": "100", "FUKUROU_tcpTimeout": "200"})
    assert s.tcpTimeout == 200


def test_env_may_set_an_empty_value(tmp_path: Path) -> None:
    s = load(tmp_path, CONFIG, environ={"FUKUROU_bpf": ""})
    assert s.bpf == ""


def test_list_parsing(tmp_path: Path) -> None:
    assert load(tmp_path, "[default]\ninterface = eth0;eth1\n").interface == ("eth0", "eth1")
    assert load(tmp_path, "[default]\ninterface =  eth0 ; eth1 ;\n").interface == ("eth0", "eth1")
    assert load(tmp_path, "[default]\ninterface =\n").interface == ()


@pytest.mark.parametrize(("text", "expected"), [
    ("5%", FreeSpace(5.0, True)),
    ("12.5", FreeSpace(12.5, False)),
    ("0", FreeSpace(0.0, False)),
    ("2.5 %", FreeSpace(2.5, True)),
])
def test_free_space(tmp_path: Path, text: str, expected: FreeSpace) -> None:
    assert load(tmp_path, f"[default]\nfreeSpaceG = {text}\n").freeSpaceG == expected


def test_free_space_threshold() -> None:
    assert FreeSpace(5, True).threshold_bytes(1000 * 2**30) == 50 * 2**30
    assert FreeSpace(12.5, False).threshold_bytes(1) == int(12.5 * 2**30)
    assert str(FreeSpace(5.0, True)) == "5%" and str(FreeSpace(12.5, False)) == "12.5"


@pytest.mark.parametrize("word", ["true", "YES", "On", "1"])
def test_bool_true_words(tmp_path: Path, word: str) -> None:
    assert load(tmp_path, f"[default]\nja4Raw = {word}\n").ja4Raw is True


@pytest.mark.parametrize("word", ["false", "No", "OFF", "0"])
def test_bool_false_words(tmp_path: Path, word: str) -> None:
    assert load(tmp_path, f"[default]\nja4Raw = {word}\n").ja4Raw is False


def test_arkime_percent_and_semicolons_survive(tmp_path: Path) -> None:
    # No interpolation (5%) and no inline ';' comments (lists), as in Arkime's config.ini.
    s = load(tmp_path, "[default]\nfreeSpaceG = 5%\ninterface = eth0;eth1 ; eth2\n")
    assert s.freeSpaceG == FreeSpace(5.0, True)
    assert s.interface == ("eth0", "eth1", "eth2")


def test_other_sections_are_ignored_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="appliance.settings"):
        s = load(tmp_path, "[default]\nsnapLen = 1500\n[headers-http-request]\nfoo = bar\n")
    assert s.snapLen == 1500
    assert "headers-http-request" in caplog.text


def test_empty_file_and_file_without_default_section(tmp_path: Path) -> None:
    assert load(tmp_path, "") == Settings()
    assert load(tmp_path, "# nothing here\n") == Settings()


# --- refusals ---------------------------------------------------------------------------------------------

BAD_VALUES = [
    ("tcpTimeout", "abc", "expected a whole number of seconds from 1 to 86400"),
    ("tcpTimeout", "0", "from 1 to 86400"),
    ("tcpTimeout", "1.5", "whole number"),
    ("tcpSaveTimeout", "9", "from 10 to 7200"),
    ("snapLen", "70000", "from 1 to 65535"),
    ("maxPackets", "65536", "from 1 to 65535"),
    ("maxFileSizeG", "big", "expected a number of GB from 0.0001 to 1024"),
    ("maxFileSizeG", "nan", "from 0.0001 to 1024"),
    ("maxFileSizeG", "2000", "from 0.0001 to 1024"),
    ("promiscuous", "maybe", "expected true or false"),
    ("freeSpaceG", "lots", "a percent of the filesystem"),
    ("freeSpaceG", "100%", "from 0% to 99%"),
    ("freeSpaceG", "-1", "a number of GB"),
    ("logLevel", "verbose", "expected one of debug, info, warning, error"),
    ("pcapDir", "relative/dir", "expected an absolute path"),
    ("pcapDir", "", "expected an absolute path"),
    ("certFile", "cert.pem", "expected an absolute path, or nothing"),
    ("nodeName", "", "expected a non-empty text"),
    ("viewPort", "", "from 1 to 65535"),
]


@pytest.mark.parametrize(("key", "value", "allowed"), BAD_VALUES, ids=lambda x: str(x) or "empty")
def test_bad_values_name_file_line_key_value(tmp_path: Path, key: str, value: str, allowed: str) -> None:
    path = write_ini(tmp_path, f"# comment\n\n[default]\nbpf = port 80\n{key} = {value}\n")
    with pytest.raises(SettingsError) as excinfo:
        load_settings(path, environ={})
    message = str(excinfo.value)
    assert message.startswith(f"{path}:5: {key} = {value}: expected ")
    assert allowed in message


def test_example_message_from_the_brief(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[default]\n" + "\n" * 10 + "tcpTimeout = abc\n")
    with pytest.raises(SettingsError) as excinfo:
        load_settings(path, environ={})
    assert str(excinfo.value) == f"{path}:12: tcpTimeout = abc: expected a whole number of seconds from 1 to 86400"


def test_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load(tmp_path, CONFIG, environ={"FUKUROU_TCPTIMEOUT": "soon"})
    assert str(excinfo.value).startswith("env FUKUROU_TCPTIMEOUT: tcpTimeout = soon: expected a whole number")


def test_unknown_key_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[default]\n\ntcpTimout = 600\n")
    with pytest.raises(SettingsError) as excinfo:
        load_settings(path, environ={})
    message = str(excinfo.value)
    assert message.startswith(f"{path}:3: tcpTimout: unknown setting; did you mean ")
    assert "tcpTimeout" in message


def test_wrong_case_key_is_refused_with_the_right_spelling(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r":2: snaplen: unknown setting; did you mean snapLen\?"):
        load(tmp_path, "[default]\nsnaplen = 1500\n")


def test_unknown_key_without_any_close_match(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="elasticsearch: unknown setting"):
        load(tmp_path, "[default]\nelasticsearch = http://localhost:9200\n")


def test_missing_explicit_file_is_refused(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.ini")
    with pytest.raises(SettingsError, match="nope.ini: configuration file not found"):
        load_settings(missing, environ={})


def test_directory_instead_of_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(str(tmp_path), environ={})


@pytest.mark.parametrize(("body", "line", "fragment"), [
    ("[default]\nsnapLen = 1500\nsnapLen = 1600\n", 3, "snapLen appears twice"),
    ("[default]\n[default]\n", 2, "[default] appears twice"),
    ("snapLen = 1500\n", 1, "setting outside a section"),
    ("[default]\nsnapLen 1500\n", 2, "expected 'name = value'"),
    ("[default]\nbpf = port 80\n  and port 443\n", 2, "bpf: the value continues on an indented line"),
])
def test_malformed_files_are_refused_with_line(tmp_path: Path, body: str, line: int, fragment: str) -> None:
    path = write_ini(tmp_path, body)
    with pytest.raises(SettingsError) as excinfo:
        load_settings(path, environ={})
    assert str(excinfo.value).startswith(f"{path}:{line}: ")
    assert fragment in str(excinfo.value)


def test_wrong_case_default_section_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"\[DEFAULT\]: section names are case-sensitive"):
        load(tmp_path, "[DEFAULT]\nsnapLen = 1500\n")


def test_colon_is_not_a_delimiter(tmp_path: Path) -> None:
    # Arkime uses '='; an IPv6 viewHost must not be split at its colons.
    assert load(tmp_path, "[default]\nviewHost = ::1\n").viewHost == "::1"
    with pytest.raises(SettingsError, match=":2: "):
        load(tmp_path, "[default]\nviewPort: 8080\n")


def test_cert_and_key_must_come_together(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[default]\ncertFile = /etc/fukurou/cert.pem\n")
    with pytest.raises(SettingsError, match=rf"{path}:2: certFile is set but keyFile is not"):
        load_settings(path, environ={})
    s = load(tmp_path, "[default]\ncertFile = /etc/c.pem\nkeyFile = /etc/k.pem\n")
    assert (s.certFile, s.keyFile) == ("/etc/c.pem", "/etc/k.pem")


# --- the Settings object ----------------------------------------------------------------------------------

def test_replace_validates_and_converts() -> None:
    s = Settings().replace(tcpTimeout=30, interface=["eth0", "eth1"], freeSpaceG="10", promiscuous=False,
                           maxFileSizeG=2, udpTimeout="45", pcapDir=Path("/tmp/pcap"))
    assert s.tcpTimeout == 30
    assert s.interface == ("eth0", "eth1")
    assert s.freeSpaceG == FreeSpace(10.0, False)
    assert s.promiscuous is False
    assert s.maxFileSizeG == 2.0
    assert s.udpTimeout == 45
    assert s.pcapDir == "/tmp/pcap"
    assert Settings().tcpTimeout == 480  # the original is unchanged


def test_replace_resolves_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings().replace(pcapDir="pcap").pcapDir == str(tmp_path / "pcap")


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"tcpTimeout": "abc"}, "command line: tcpTimeout = abc: expected a whole number of seconds"),
    ({"tcpTimeout": 0}, "command line: tcpTimeout = 0: expected"),
    ({"tcpTimeout": True}, "command line: tcpTimeout = True: expected"),
    ({"snapLen": 1.5}, "command line: snapLen = 1.5: expected"),
    ({"promiscuous": 1}, "command line: promiscuous = 1: expected true or false"),
    ({"freeSpaceG": FreeSpace(150, True)}, "freeSpaceG = FreeSpace(value=150, percent=True): expected"),
    ({"logLevel": "loud"}, "expected one of debug, info, warning, error"),
    ({"tcpTimout": 5}, "command line: tcpTimout: unknown setting; did you mean tcpTimeout"),
    ({"certFile": "/etc/c.pem"}, "command line: certFile is set but keyFile is not"),
])
def test_replace_refuses_bad_values(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        Settings().replace(**changes)
    assert fragment in str(excinfo.value)


def test_settings_are_immutable_and_report_unknown_attributes() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.tcpTimeout = 5  # type: ignore[misc]
    with pytest.raises(AttributeError, match="did you mean tcpTimeout"):
        _ = s.tcptimeout


def test_as_dict_and_pickle(tmp_path: Path) -> None:
    s = load(tmp_path, CONFIG)
    values = s.as_dict()
    assert list(values) == [setting.name for setting in SETTINGS]
    assert values["tcpTimeout"] == 600
    copy = pickle.loads(pickle.dumps(s))
    assert copy == s and copy.source("tcpTimeout") == s.source("tcpTimeout")


# --- generated text ---------------------------------------------------------------------------------------

def test_format_effective_lists_every_setting_with_value_and_source(tmp_path: Path) -> None:
    path = write_ini(tmp_path, CONFIG)
    s = load_settings(path, environ={"FUKUROU_udpTimeout": "30"})
    lines = format_effective(s).splitlines()
    assert len(lines) == 1 + len(SETTINGS)
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == [setting.name for setting in SETTINGS]
    assert rows["tcpTimeout"].split() == ["tcpTimeout", "600", f"{path}:5"]
    assert rows["interface"].split() == ["interface", "eth0;eth1", f"{path}:4"]
    assert rows["udpTimeout"].split() == ["udpTimeout", "30", "env", "FUKUROU_udpTimeout"]
    assert rows["freeSpaceG"].split() == ["freeSpaceG", "12.5", f"{path}:6"]
    assert rows["snapLen"].split() == ["snapLen", "16384", "default"]
    # the value column is aligned
    assert len({line.index("480") for line in lines if line.split()[1:] == ["480", "default"]}) == 1


def test_template_parses_back_to_the_defaults(tmp_path: Path) -> None:
    text = config_template()
    for setting in SETTINGS:
        assert f"#{setting.name} = " in text or f"#{setting.name} =\n" in text
    s = load(tmp_path, text)
    assert s == Settings()
    assert all(s.source(setting.name) == "default" for setting in SETTINGS)


def test_template_with_every_line_uncommented_gives_the_defaults(tmp_path: Path) -> None:
    text = config_template()
    for setting in SETTINGS:
        text = text.replace(f"\n#{setting.name} =", f"\n{setting.name} =")
    s = load(tmp_path, text)
    assert s == Settings()
    assert all(s.source(setting.name).startswith(str(tmp_path)) for setting in SETTINGS)


def test_template_with_values(tmp_path: Path) -> None:
    text = config_template(values={"interface": "eth0", "freeSpaceG": "20", "maxStreams": 50000})
    assert "\ninterface = eth0\n" in text
    s = load(tmp_path, text)
    assert s == Settings().replace(interface="eth0", freeSpaceG="20", maxStreams=50000)
    assert s.source("interface").startswith(str(tmp_path))
    assert s.source("tcpTimeout") == "default"


def test_template_refuses_bad_values() -> None:
    with pytest.raises(SettingsError, match="did you mean interface"):
        config_template(values={"interfaces": "eth0"})
    with pytest.raises(SettingsError, match="snapLen = 0: expected"):
        config_template(values={"snapLen": 0})


def test_markdown_has_every_setting_grouped_by_section() -> None:
    text = settings_markdown()
    for setting in SETTINGS:
        assert f"| `{setting.name}` | {setting.type} |" in text
    sections = list(dict.fromkeys(setting.section for setting in SETTINGS))
    assert [line[4:] for line in text.splitlines() if line.startswith("### ")] == sections


def test_docs_settings_md_is_up_to_date() -> None:
    document = DOCS.read_text(encoding="utf-8")
    assert MARKDOWN_MARKER in document
    assert generated_part(document) == settings_markdown(), (
        "docs/SETTINGS.md is stale: replace everything below the marker with "
        "`python -m appliance.settings --markdown`")


def test_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", str(DOCS)]) == 0
    stale = tmp_path / "SETTINGS.md"
    stale.write_text(DOCS.read_text(encoding="utf-8").replace("`480`", "`481`", 1), encoding="utf-8")
    assert main(["--check", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["--check", str(tmp_path / "missing.md")]) == 1


def test_markdown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--markdown"]) == 0
    assert capsys.readouterr().out == settings_markdown()


def test_every_setting_is_read_somewhere() -> None:
    """A setting in the table that no code reads would promise what the appliance does not do."""
    package = Path(settings_module.__file__).resolve().parent
    code = "\n".join(p.read_text(encoding="utf-8") for p in package.rglob("*.py") if p.name != "settings.py")
    unread = [s.name for s in SETTINGS if s.name not in code]
    assert not unread, f"settings no code reads: {unread}"


def test_a_retired_setting_in_a_file_is_ignored_with_a_warning(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        settings = load(tmp_path, "[default]\nmaxReassemblyBytes = 65536\nsnapLen = 2000\n")
    assert settings.snapLen == 2000
    assert "maxReassemblyBytes is no longer a setting" in caplog.text


def test_values_are_plain_attributes_that_agree_with_as_dict() -> None:
    """Each value is an instance attribute (read without __getattr__), in step with as_dict()
    through replace() and pickling."""
    changed = Settings().replace(tcpTimeout=123, supportSha256=False)
    for settings in (Settings(), changed, pickle.loads(pickle.dumps(changed))):
        values = settings.as_dict()
        assert vars(settings) == values
        assert all(getattr(settings, name) == value for name, value in values.items())
    assert changed.tcpTimeout == 123 and vars(changed)["supportSha256"] is False
