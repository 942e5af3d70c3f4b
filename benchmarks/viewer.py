#!/usr/bin/env python3
"""Viewer latency: /api/sessions, /api/spiview, /api/connections under concurrent clients, and
the first load of the Sessions page in a real browser.

    python3 benchmarks/store.py --sessions 2000000 --db /tmp/s2m.db   # a 2 M-session store, kept
    python3 benchmarks/viewer.py --db /tmp/s2m.db                     # the viewer over it
    python3 benchmarks/viewer.py --sessions 5000                      # or a store of corpus imports

The viewer runs as its own process (``fukurou serve``), as on the appliance; the clients are
threads here, each request on a new connection with an API token. Each endpoint gets
``--requests`` requests from ``--clients`` clients at once; p50/p95/max are printed. The browser
part (Debian's chromium driven by playwright-core, see scripts/test-browser-deps.sh) logs in,
then times ``/sessions?date=-1`` from navigation until the rows and the histogram are drawn, in a
new browser context each time (nothing cached), and prints the median and the worst of 5.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PATHS = {
    "/api/sessions": "/api/sessions?date=-1&length=100&facets=1",
    "/api/spiview": "/api/spiview?date=-1&spi=protocols:10,ip.dst:10,port.dst:10",
    "/api/connections": "/api/connections?date=-1&length=5000",
}
PASSWORD = "benchmark-password"
PLAYWRIGHT_DIR = Path(os.environ.get("FUKUROU_PLAYWRIGHT_DIR", Path.home() / ".cache/fukurou-playwright"))

PAGE_LOAD = r"""
const { chromium } = require("playwright-core");
const [base, password, exe, runs] = process.argv.slice(2);
(async () => {
  const browser = await chromium.launch({ executablePath: exe, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  const login = await browser.newContext();
  const page = await login.newPage();
  await page.goto(base + "/login");
  await page.fill('input[name="name"]', "bench");
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  const state = await login.storageState();
  const times = [];
  for (let i = 0; i < Number(runs); i++) {
    const context = await browser.newContext({ storageState: state });  // empty cache, logged in
    const p = await context.newPage();
    const t0 = Date.now();
    await p.goto(base + "/sessions?date=-1");
    await p.waitForSelector("#sessions tbody tr.session");
    await p.waitForSelector("#histogram canvas");
    times.push(Date.now() - t0);
    await context.close();
  }
  await browser.close();
  console.log(JSON.stringify({ times }));
})().catch((e) => { console.log(JSON.stringify({ failed: String(e.stack || e) })); process.exit(1); });
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _corpus_store(root: Path, sessions: int) -> Path:
    """A store of corpus captures imported (repeatedly) until it holds about ``sessions``."""
    from test_web_server import _captures

    from appliance.store.db import open_database

    db = root / "fk.db"
    config = root / "import.ini"
    config.write_text(f"[default]\ndbPath={db}\npcapDir={root}/pcap\nfreeSpaceG=1%\n")
    while True:
        subprocess.run([sys.executable, "-m", "appliance", "--config", str(config), "import", "--force",
                        *_captures()], check=True, capture_output=True)
        conn = open_database(str(db))
        have = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        conn.close()
        if have >= sessions:
            return db


def _prepare_user(db: Path) -> tuple[str, int]:
    """A 'bench' admin with a known password and a fresh API token; (token, sessions)."""
    from appliance.store.db import open_database
    from appliance.web.users import Users

    conn = open_database(str(db))
    users = Users(conn)
    if users.get("bench") is not None:
        users.delete("bench")
    users.add("bench", PASSWORD, "admin")
    token = users.new_token("bench")
    total = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    conn.close()
    return token, total


def _start_server(db: Path, root: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    config = root / "serve.ini"
    config.write_text(f"[default]\ndbPath={db}\npcapDir={root}/pcap\nviewPort={port}\nviewHost=127.0.0.1\n")
    server = subprocess.Popen([sys.executable, "-m", "appliance", "--config", str(config), "serve"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120  # opening an older store may run a migration first
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"fukurou serve exited: {server.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("fukurou serve did not start listening")


def _timed(port: int, token: str, path: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    start = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": "Bearer " + token})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}")
    return time.perf_counter() - start


def _report(label: str, times: list[float]) -> None:
    times = sorted(times)
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    print(f"{label:18} p50 {statistics.median(times) * 1000:8.1f} ms   p95 {p95 * 1000:8.1f} ms   "
          f"max {times[-1] * 1000:8.1f} ms")


def _page_load(port: int, runs: int) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not (Path(chromium).exists() and shutil.which("node") and (PLAYWRIGHT_DIR / "node_modules/playwright-core").is_dir()):
        print("first page load    skipped: run scripts/test-browser-deps.sh for chromium and playwright-core")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as f:
        f.write(PAGE_LOAD)
    env = {**os.environ, "NODE_PATH": str(PLAYWRIGHT_DIR / "node_modules")}
    done = subprocess.run(["node", f.name, f"http://127.0.0.1:{port}", PASSWORD, chromium, str(runs)],
                          capture_output=True, text=True, timeout=600, env=env)
    os.unlink(f.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"failed": done.stderr[-2000:]}
    if "failed" in result:
        print(f"first page load    failed: {result['failed']}")
        return
    times = result["times"]
    print(f"first page load    median {statistics.median(times):6.0f} ms   max {max(times):6.0f} ms "
          f"({runs} loads of /sessions?date=-1, new browser context each)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="an existing store (e.g. from benchmarks/store.py --db PATH)")
    parser.add_argument("--sessions", type=int, default=5000, help="without --db: corpus sessions to import")
    parser.add_argument("--requests", type=int, default=200, help="per endpoint")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--page-loads", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = Path(args.db) if args.db else _corpus_store(root, args.sessions)
        token, total = _prepare_user(db)
        server, port = _start_server(db, root)
        print(f"{total:,} sessions, {args.clients} clients, {args.requests} requests per endpoint")
        try:
            with ThreadPoolExecutor(args.clients) as pool:
                for name, path in PATHS.items():
                    _timed(port, token, path)  # warm the page cache: the store was just written
                    n = args.requests
                    _report(name, list(pool.map(_timed, [port] * n, [token] * n, [path] * n)))
            _page_load(port, args.page_loads)
        finally:
            server.terminate()
            server.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
