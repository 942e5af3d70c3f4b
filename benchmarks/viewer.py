"""Viewer latency: p95 of /api/sessions, /api/spiview and /api/connections under 8 concurrent clients.

    python benchmarks/viewer.py [--sessions N] [--requests 200] [--clients 8]

Builds a store in a temp folder by importing corpus captures (repeated until it holds about N
sessions), starts the viewer on 127.0.0.1 in a thread, and hammers it with an API token.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

PATHS = {
    "/api/sessions": "/api/sessions?date=-1&length=100&facets=1",
    "/api/spiview": "/api/spiview?date=-1&spi=protocols:10,ip.dst:10,port.dst:10",
    "/api/connections": "/api/connections?date=-1&length=5000",
}


def _fill(root: Path, sessions: int) -> object:
    from test_web_server import _captures, build_store

    from appliance.store.db import open_database

    settings = build_store(root)
    import subprocess

    config = root / "config.ini"
    while True:
        conn = open_database(settings.dbPath)  # type: ignore[attr-defined]
        have = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        conn.close()
        if have >= sessions:
            return settings
        subprocess.run([sys.executable, "-m", "appliance", "--config", str(config), "import", "--force",
                        *_captures()], check=True, capture_output=True)


def _timed(port: int, token: str, path: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": "Bearer " + token})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=200, help="per endpoint")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    from appliance.store.db import open_database
    from appliance.web.server import build_server
    from appliance.web.users import Users

    with tempfile.TemporaryDirectory() as tmp:
        settings = _fill(Path(tmp), args.sessions)
        conn = open_database(settings.dbPath)  # type: ignore[attr-defined]
        users = Users(conn)
        users.add("bench", "benchmark-password", "admin")
        token = users.new_token("bench")
        total = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        conn.close()
        server = build_server(settings, "127.0.0.1", 0)
        server.prepare()
        threading.Thread(target=server.serve, daemon=True).start()
        port = server.bind_addr[1]
        print(f"{total} sessions, {args.clients} clients, {args.requests} requests per endpoint")
        try:
            with ThreadPoolExecutor(args.clients) as pool:
                for name, path in PATHS.items():
                    times = sorted(pool.map(_timed, [port] * args.requests, [token] * args.requests,
                                            [path] * args.requests))
                    p95 = times[int(len(times) * 0.95) - 1]
                    print(f"{name:18} p50 {statistics.median(times) * 1000:8.1f} ms   p95 {p95 * 1000:8.1f} ms")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
