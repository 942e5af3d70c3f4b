"""``fukurou run``, ``status`` and ``demo``: the threads in-process, and end to end over veth as root.

End to end: ``init`` -> ``user add`` -> ``run`` capturing from a veth pair in a network namespace
the test creates, fed by tcpreplay with a capture from Arkime's corpus -> the sessions are in the
store -> SIGTERM -> everything saved. Then the same with ``kill -9``: after a restart the
database passes integrity_check, every session saved before the kill is there and every pcap
file reads back whole.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance import status as status_file
from appliance.appliance import Appliance, seconds_until
from appliance.commands.demo import sample_capture
from appliance.readers import open_capture
from appliance.settings import Settings
from appliance.store.db import open_database
from appliance.store.sessions import SessionStore
from appliance.store.writer_process import child_pids

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "pcaps" / "arkime"
REPLAY = CORPUS / "arkime_synthetic.pcap"  # 918 packets, 266 sessions, Ethernet
KEY_FIELDS = ("ipProtocol", "source.ip", "source.port", "destination.ip", "destination.port",
              "network.packets", "network.bytes")
LONG_TIMEOUTS = {"tcpTimeout": 86400, "udpTimeout": 86400, "icmpTimeout": 86400, "sctpTimeout": 86400,
                 "espTimeout": 86400, "tcpSaveTimeout": 7200, "tcpClosingTimeout": 3600}
SHORT_TIMEOUTS = {"tcpTimeout": 1, "udpTimeout": 1, "icmpTimeout": 1, "sctpTimeout": 1, "espTimeout": 1,
                  "tcpClosingTimeout": 1}


def fukurou(*args: str, ns: str | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run([*prefix, sys.executable, "-m", "appliance", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=120, **kwargs)


def settings_for(tmp: Path, **extra: Any) -> Settings:
    return Settings().replace(pcapDir=str(tmp / "pcap"), dbPath=str(tmp / "db.sqlite"), **extra)


# --- without root -----------------------------------------------------------------------------------

def test_the_threads_store_every_packet_and_session_and_stop_cleanly(tmp_path: Path) -> None:
    """Packets put where the capture threads put them end in the pcap store and the session table."""
    s = settings_for(tmp_path)
    app = Appliance(s, viewer=False, interfaces=[])
    app.start()
    with open_capture(sample_capture()) as reader:
        records = list(reader)
    # One chunk: the wall-clock sweep between chunks would (rightly) cut these old sessions apart.
    app._put(app.packets_q, records)
    app.stop()
    assert app.wait(10.0)
    conn = open_database(s.dbPath)
    assert SessionStore(conn).count() == 13
    files = conn.execute("SELECT name, packets, state FROM pcap_files").fetchall()
    assert sum(f[1] for f in files) == len(records) and {f[2] for f in files} == {"closed"}
    record = status_file.read_record(s)
    assert record is not None and record["packets"] == len(records) and record["sessions"] == 13
    assert "stopped" in record


def _stored(s: Settings) -> int:
    conn = open_database(s.dbPath)
    try:
        return SessionStore(conn).count()
    finally:
        conn.close()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the writer process needs a second core")
def test_the_database_thread_hands_batches_to_a_writer_process_and_outlives_it(tmp_path: Path) -> None:
    """With dbWriterProcess and two cores, batches are written by a child; a child killed
    part-way loses what it held (counted as a store error), and the batches after it are written
    by the thread. Without the setting there is no child."""
    s = settings_for(tmp_path, dbWriterProcess=True, **SHORT_TIMEOUTS)  # saved a second after their packets
    app = Appliance(s, viewer=False, interfaces=[])
    app.start()
    with open_capture(sample_capture()) as reader:
        records = list(reader)
    with open_capture(str(REPLAY)) as reader:
        replay = list(reader)
    try:
        app._put(app.packets_q, records)
        _wait_for(lambda: _stored(s) == 12)  # the 13th stays open (a TCP session still going)
        writers = child_pids()
        assert len(writers) == 1
        os.kill(writers[0], signal.SIGKILL)
        app._put(app.packets_q, replay)
        _wait_for(lambda: app.store_errors >= 1)
        after_error = _stored(s)
        app._put(app.packets_q, records)  # the same packets again: sessions of their own
        _wait_for(lambda: _stored(s) >= after_error + 12)
    finally:
        app.stop()
        assert app.wait(10.0)
    assert app.store_errors >= 1 and not child_pids()
    assert 12 + 12 <= _stored(s) < 13 + 266 + 13  # what the killed child held is lost, no more
    plain = Appliance(settings_for(tmp_path / "plain"), viewer=False, interfaces=[])
    plain.start()
    try:
        time.sleep(0.5)
        assert not child_pids()
    finally:
        plain.stop()
        assert plain.wait(10.0)


def _wait_for(check: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.1)


def _imported(s: Settings) -> list[tuple[Any, ...]]:
    conn = open_database(s.dbPath)
    try:
        return conn.execute("SELECT state, packets, sessions, message FROM imported_files").fetchall()
    finally:
        conn.close()


def test_run_imports_what_is_dropped_in_the_import_folder(tmp_path: Path) -> None:
    """pcapImportDir under `fukurou run`: the file's packets in their own pcap files, its sessions
    in the store (as `fukurou parse` makes them), recorded once; live capture goes on beside it."""
    import shutil

    folder = tmp_path / "incoming"
    s = settings_for(tmp_path, pcapImportDir=str(folder))
    app = Appliance(s, viewer=False, interfaces=[])
    app.start()
    try:
        with open_capture(sample_capture()) as reader:
            live = list(reader)
        app._put(app.packets_q, live)  # "live" packets meanwhile, through the capture path
        shutil.copy(REPLAY, folder / "dropped.pcap")
        _wait_for(lambda: [r[0] for r in _imported(s)] == ["done"])
    finally:
        app.stop()
        assert app.wait(10.0)
    from appliance.pipeline import parse_capture

    expected = parse_capture(str(REPLAY), s, lambda _: None)
    (state, packets, sessions, _), = _imported(s)
    assert (packets, sessions) == (expected.packets, expected.sessions) == (918, 266)
    conn = open_database(s.dbPath)
    assert SessionStore(conn).count() == expected.sessions + 13
    files = conn.execute("SELECT num, packets, state FROM pcap_files ORDER BY num").fetchall()
    assert sum(f[1] for f in files) == 918 + len(live) and {f[2] for f in files} == {"closed"}
    assert len({f[0] for f in files}) == len(files) >= 2  # one numbering, two writers


def test_a_stop_part_way_through_an_import_resumes_without_duplicates(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import appliance.capture.importer as importer_module
    from appliance.capture.importer import Importer
    from appliance.capture.sink import PacketSink, SessionOutput
    from appliance.pcapstore.writer import PcapWriter

    s = settings_for(tmp_path)
    conn = open_database(s.dbPath)
    output = SessionOutput(conn, s.nodeName)
    writer = PcapWriter(conn, s)
    stop = threading.Event()
    monkeypatch.setattr(importer_module, "CHUNK_PACKETS", 300)  # smaller chunks, so a stop comes part-way
    # The stop arrives while the first chunk is being stored (the importer ticks after each chunk).
    first = Importer(conn, PacketSink(s, writer, output), flush_sessions=output.flush,
                     tick_sessions=stop.set, stop=stop).import_file(str(REPLAY))
    assert first.status == "stopped" and first.packets == 300
    assert _imported(s)[0][:2] == ("started", 300)
    stop.clear()
    second = Importer(conn, PacketSink(s, writer, output), flush_sessions=output.flush).import_file(str(REPLAY))
    assert (second.status, second.packets, second.resumed_at) == ("done", 918 - 300, 300)
    writer.close()
    assert _imported(s)[0][:2] == ("done", 918)
    stored = sum(r[0] for r in conn.execute("SELECT src_packets + dst_packets FROM sessions"))
    assert stored == 918  # every packet counted once; a session cut by the stop is two segments
    again = Importer(conn, PacketSink(s, writer, output)).import_file(str(REPLAY))
    assert again.status == "skipped"


def test_import_refuses_while_another_process_writes_the_store(tmp_path: Path) -> None:
    cfg = tmp_path / "config.ini"
    cfg.write_text(f"[default]\npcapDir = {tmp_path / 'pcap'}\ndbPath = {tmp_path / 'db.sqlite'}\n"
                   f"pcapImportDir = {tmp_path / 'incoming'}\n")
    s = settings_for(tmp_path)
    lock = status_file.RunLock(status_file.lock_path(s))
    lock.acquire()  # as `fukurou run` does
    try:
        done = fukurou("--config", str(cfg), "import", str(REPLAY))
    finally:
        lock.release()
    assert done.returncode == 2
    assert f"pid {os.getpid()}" in done.stderr and str(tmp_path / "incoming") in done.stderr
    assert not Path(s.dbPath).exists() or not _imported(s)
    assert fukurou("--config", str(cfg), "import", str(REPLAY)).returncode == 0  # unlocked: imports


def test_a_stop_out_of_time_spools_the_rest_and_the_next_start_stores_it(tmp_path: Path) -> None:
    """Past its budget at a stop, the database thread appends sessions to {dbPath}.spool instead
    (a stop with 100,000 open sessions must end before systemd's SIGKILL); the next start stores
    them, and a line cut by a crash is skipped without losing the others."""
    spool_path = status_file.spool_path
    s = settings_for(tmp_path, **LONG_TIMEOUTS)
    app = Appliance(s, viewer=False, interfaces=[], stop_store_seconds=0.0)  # no time at all: spool all
    app.start()
    from pcapgen import SYN, ethernet, ipv4, tcp

    now = int(time.time() * 1_000_000)
    frames = [ethernet(ipv4(tcp(40000 + n, 443, SYN), f"10.0.{n // 250}.{n % 250 + 1}", "192.0.2.1"))
              for n in range(300)]  # 300 connection attempts, just now: all still open at the stop
    app._put(app.packets_q, [(now + n, len(f), len(f), f, 0, 1) for n, f in enumerate(frames)])
    _wait_for(lambda: app.sink.packets == 300)
    app.stop()
    assert app.wait(10.0)
    assert app.spooled == 300 and SessionStore(open_database(s.dbPath)).count() == 0
    assert "spooled:" in status_file.format_status(status_file.collect(s))  # `fukurou status` says so
    with open(spool_path(s), "ab") as spool:
        spool.write((500).to_bytes(4, "little") + b"\xfb")  # a crash while spooling cut the last record short
    again = Appliance(s, viewer=False, interfaces=[])
    again.start()
    again.stop()
    assert again.wait(10.0)
    assert SessionStore(open_database(s.dbPath)).count() == 300
    assert not Path(spool_path(s)).exists()
    assert "spooled:" not in status_file.format_status(status_file.collect(s))


def test_nightly_expire_prunes_terms_in_the_database_thread(tmp_path: Path) -> None:
    s = settings_for(tmp_path, sessionRetentionDays=1)
    app = Appliance(s, viewer=False, interfaces=[])
    app.start()
    with open_capture(sample_capture()) as reader:
        app._put(app.packets_q, list(reader))
    deadline = time.monotonic() + 10
    while app.sink.packets < 111 and time.monotonic() < deadline:
        time.sleep(0.05)
    app.sink.flush()  # (the packets thread is idle now) every session saved...
    time.sleep(1.5)  # ...and committed by the database thread
    app.expire_now()
    app.stop()
    assert app.wait(10.0)
    conn = open_database(s.dbPath)
    old_ms = (time.time() - 86400) * 1000
    ids = [r[0] for r in conn.execute("SELECT id FROM sessions")]
    from appliance.store import layout

    assert all(layout.last_packet(i) >= old_ms for i in ids)  # the sample is older than a day, but for one
    assert conn.execute("SELECT count(*) FROM terms WHERE sessions <= 0 AND id NOT IN "
                        "(SELECT node FROM sessions)").fetchall()[0][0] == 0


def test_run_lock_and_status(tmp_path: Path) -> None:
    s = settings_for(tmp_path)
    assert not status_file.is_running(s)
    lock = status_file.RunLock(status_file.lock_path(s))
    lock.acquire()
    try:
        assert status_file.is_running(s)
        with pytest.raises(status_file.AlreadyRunning):
            status_file.RunLock(status_file.lock_path(s)).acquire()
        status_file.write_record(s, {"pid": os.getpid(), "started": time.time(), "updated": time.time(),
                                     "packets_per_s": 1234.0, "dropped": 5, "sessions_per_s": 2.5,
                                     "open_sessions": 7, "interfaces": []})
        text = status_file.format_status(status_file.collect(s))
        assert "running (pid" in text and "1,234" in text and "5 (kernel)" in text
    finally:
        lock.release()
    assert not status_file.is_running(s)
    assert "not running" in status_file.format_status(status_file.collect(s))


def test_status_command_exit_codes(tmp_path: Path) -> None:
    cfg = tmp_path / "config.ini"
    cfg.write_text(f"[default]\npcapDir = {tmp_path / 'pcap'}\ndbPath = {tmp_path / 'db.sqlite'}\n")
    done = fukurou("--config", str(cfg), "status")
    assert done.returncode == 3, done.stderr
    assert "not running" in done.stdout
    assert json.loads(fukurou("--config", str(cfg), "status", "--json").stdout)["running"] is False


def test_reload_applies_what_can_change(tmp_path: Path) -> None:
    app = Appliance(settings_for(tmp_path), viewer=False, interfaces=[])
    changed = app.reload(app.settings.replace(sessionRetentionDays=7, snapLen=100))
    assert sorted(changed) == ["sessionRetentionDays", "snapLen"]
    assert app.settings.sessionRetentionDays == 7 and app.settings.snapLen == 16384  # snapLen needs a restart


def test_seconds_until_next_night() -> None:
    noon = time.mktime((2026, 6, 1, 12, 0, 0, 0, 0, -1))
    assert seconds_until(3, 30, noon) == pytest.approx(15.5 * 3600, abs=3600)  # DST-proof bound
    assert seconds_until(13, 0, noon) == pytest.approx(3600)


def test_demo_no_serve_prints_the_sessions() -> None:
    done = fukurou("demo", "--no-serve", env={**os.environ, "FUKUROU_dbPath": "/nonexistent/never-used.db"})
    assert done.returncode == 0, done.stderr
    assert "111 packets, 13 sessions imported" in done.stdout


def test_demo_serves_the_viewer_and_cleans_up() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "appliance", "demo", "--port", "0"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = []
        assert proc.stdout is not None
        while not any(line.startswith("The viewer:") for line in lines):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            lines.append(line)
        folder = next(line.split(": ", 1)[1].strip() for line in lines if line.startswith("Data folder"))
        url = next(line.split(": ", 1)[1].strip() for line in lines if line.startswith("The viewer:"))
        assert re.search(r"Log in as demo with password \S{12,}", "".join(lines + [proc.stdout.readline()]))
        assert os.path.isdir(folder)
        try:
            code = urllib.request.urlopen(url, timeout=10).status
        except urllib.error.HTTPError as err:
            code = err.code
        assert code < 500
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0
    assert not os.path.exists(folder)


# --- end to end, as root --------------------------------------------------------------------------

def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "live capture needs root (network namespaces, veth, raw sockets); CI runs as root"
    for tool in ("ip", "tcpreplay"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not REPLAY.exists():
        return f"{REPLAY} (Arkime's corpus) is missing"
    return None


needs_root = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def ip(*cmd: str) -> None:
    subprocess.run(["ip", *cmd], check=True, capture_output=True)


@pytest.fixture
def veth() -> Iterator[str]:
    """A namespace with a veth pair fka<->fkb, up, IPv6 off, and lo up (the viewer listens there)."""
    ns = f"fukurou-run-{os.getpid()}"
    ip("netns", "add", ns)
    try:
        ip("-n", ns, "link", "add", "fka", "type", "veth", "peer", "name", "fkb")
        for key in ("all", "default"):
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"],
                           check=True)
        for link in ("fka", "fkb"):
            ip("-n", ns, "link", "set", link, "mtu", "65535", "up")
        ip("-n", ns, "link", "set", "lo", "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def write_config(tmp: Path, **values: Any) -> Path:
    path = tmp / "config.ini"
    base = {"pcapDir": tmp / "pcap", "dbPath": tmp / "db.sqlite", "snapLen": 65535, "pcapBufferSize": 64 << 20,
            "viewHost": "127.0.0.1", **values}
    path.write_text("[default]\n" + "".join(f"{k} = {v}\n" for k, v in base.items()))
    return path


def init_appliance(tmp: Path, **values: Any) -> tuple[Path, Settings]:
    """``fukurou init`` with the test's folders, then our settings on top; then ``user add``."""
    from appliance.settings import load_settings

    cfg = tmp / "config.ini"
    done = fukurou("--config", str(cfg), "init", "--interface", "fkb", "--pcap-dir", str(tmp / "pcap"))
    assert done.returncode == 0, done.stdout + done.stderr
    write_config(tmp, interface="fkb", **values)
    added = fukurou("--config", str(cfg), "user", "add", "admin", "--admin", "--password-stdin",
                    input="a-long-test-password\n")
    if added.returncode != 0 and "invalid choice" in added.stderr:
        print("`fukurou user` is not in this build: skipping the user step")
    else:
        assert added.returncode == 0, added.stderr
    return cfg, load_settings(str(cfg))


def start_run(ns: str, cfg: Path, s: Settings) -> subprocess.Popen[str]:
    """``fukurou run`` in the namespace; returns once every interface is capturing."""
    log = open(Path(s.dbPath).parent / "run.log", "a")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "appliance", "--config", str(cfg),
                             "run"], cwd=ROOT, text=True, stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        record = status_file.read_record(s)
        if record and record.get("pid") == _child_pid(proc) and all(
                i["state"] == "up" for i in record["interfaces"]) and record["interfaces"]:
            return proc
        assert proc.poll() is None, (Path(s.dbPath).parent / "run.log").read_text()
        time.sleep(0.2)
    proc.kill()
    pytest.fail("fukurou run did not start capturing: " + (Path(s.dbPath).parent / "run.log").read_text())


def _child_pid(proc: subprocess.Popen[str]) -> int:
    return proc.pid  # `ip netns exec` execs the command: same pid


def replay(ns: str, path: Path = REPLAY) -> None:
    done = subprocess.run(["ip", "netns", "exec", ns, "tcpreplay", "-i", "fka", "--mbps", "20", str(path)],
                          check=True, capture_output=True, text=True)
    assert re.search(r"Failed packets:\s+0\n", done.stdout), done.stdout


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> float:
    started = time.monotonic()
    proc.send_signal(sig)
    proc.wait(timeout=30)
    return time.monotonic() - started


def stored_keys(s: Settings) -> Counter[tuple[Any, ...]]:
    conn = open_database(s.dbPath)
    store = SessionStore(conn)
    docs = store.get_many(r[0] for r in conn.execute("SELECT id FROM sessions"))
    conn.close()
    return Counter(tuple(d.get(f) for f in KEY_FIELDS) for d in docs)


def parsed_keys(cfg: Path) -> Counter[tuple[Any, ...]]:
    out = fukurou("--config", str(cfg), "parse", "--format", "jsonl", str(REPLAY)).stdout
    keys: Counter[tuple[Any, ...]] = Counter()
    for line in out.splitlines():
        doc = json.loads(line)
        flat = {**doc, **{f"{k}.{s}": v for k, sub in doc.items() if isinstance(sub, dict) for s, v in sub.items()}}
        keys[tuple(flat.get(f) for f in KEY_FIELDS)] += 1
    return keys


def read_back(s: Settings) -> int:
    """Packets in every pcap file the registry keeps, each read whole; checks the registry agrees."""
    conn = open_database(s.dbPath)
    total = 0
    for name, packets in conn.execute("SELECT name, packets FROM pcap_files WHERE state = 'closed'"):
        with open_capture(os.path.join(s.pcapDir, name)) as reader:
            count = sum(1 for _ in reader)
            assert reader.damage is None, name
        assert count == packets, name
        total += count
    assert conn.execute("SELECT count(*) FROM pcap_files WHERE state = 'open'").fetchall()[0][0] == 0
    conn.close()
    return total


@needs_root
def test_run_captures_stores_serves_and_stops_on_sigterm(tmp_path: Path, veth: str) -> None:
    cfg, s = init_appliance(tmp_path, **LONG_TIMEOUTS)
    proc = start_run(veth, cfg, s)
    try:
        assert fukurou("--config", str(cfg), "status").returncode == 0
        replay(veth)
        viewer = subprocess.run(
            ["ip", "netns", "exec", veth, sys.executable, "-c",
             f"import urllib.request as u, urllib.error as e\ntry: print(u.urlopen('http://127.0.0.1:{s.viewPort}/', "
             "timeout=10).status)\nexcept e.HTTPError as x: print(x.code)"], capture_output=True, text=True, timeout=30)
        time.sleep(1.0)
        # SIGHUP: retention is re-read without a restart
        cfg.write_text(cfg.read_text() + "sessionRetentionDays = 45\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
    finally:
        took = stop(proc)
    log = (tmp_path / "run.log").read_text()
    assert proc.returncode == 0, log
    assert took < 10, log
    assert "settings reloaded: sessionRetentionDays" in log
    assert int(viewer.stdout.strip() or 0) in (200, 302, 303, 401), viewer.stdout + viewer.stderr
    assert fukurou("--config", str(cfg), "status").returncode == 3

    assert read_back(s) >= 918  # every replayed packet (and nothing lost at the stop)
    live, parsed = stored_keys(s), parsed_keys(cfg)
    # The capture spans 2.5 hours, more than tcpSaveTimeout's maximum, so `parse` (on packet time)
    # saves long TCP sessions in segments and ends some with an empty one; tcpreplay squeezes the
    # same packets into a second, so the live capture has neither. Compare what carries packets.
    parsed = Counter({k: n for k, n in parsed.items() if k[5]})
    assert sum(live.values()) == sum(parsed.values()) == 227
    assert live == parsed
    from appliance.query import Searcher

    conn = open_database(s.dbPath)
    assert Searcher(SessionStore(conn)).count("port.dst == 80") > 0
    conn.close()


@needs_root
def test_kill_9_loses_nothing_that_was_saved(tmp_path: Path, veth: str) -> None:
    cfg, s = init_appliance(tmp_path, **SHORT_TIMEOUTS)
    proc = start_run(veth, cfg, s)
    try:
        replay(veth)
        saved = wait_until_all_saved(s, proc)
    finally:
        proc.kill()  # SIGKILL: no clean-up at all
        proc.wait(timeout=30)
    assert fukurou("--config", str(cfg), "status").returncode == 3

    proc = start_run(veth, cfg, s)  # start-up repairs the pcap file the kill left open
    replay(veth)
    stop(proc)
    assert proc.returncode == 0, (tmp_path / "run.log").read_text()
    conn = open_database(s.dbPath)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    ids = {r[0] for r in conn.execute("SELECT id FROM sessions")}
    conn.close()
    assert saved <= ids  # every session saved before the kill
    assert len(ids) >= 2 * len(saved)  # and the second replay's
    assert read_back(s) >= 2 * 918


def wait_until_all_saved(s: Settings, proc: subprocess.Popen[str]) -> set[int]:
    """Session ids in the store once the appliance has no open session and has committed them all."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None
        record = status_file.read_record(s) or {}
        conn = open_database(s.dbPath)
        ids = {r[0] for r in conn.execute("SELECT id FROM sessions")}
        conn.close()
        if record.get("packets", 0) >= 918 and record.get("open_sessions") == 0 and len(ids) == record["sessions"]:
            return ids
        time.sleep(0.5)
    pytest.fail(f"sessions were not all saved: {status_file.read_record(s)}")
