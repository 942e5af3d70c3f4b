"""The viewer over a real socket: a cheroot server in a thread, a store imported from corpus captures.

Users: admin (admin), alice (forced expression ``protocols == dns``), bob (time limit 2 hours).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from appliance.settings import load_settings
from appliance.store.db import open_database
from appliance.web.users import Users

CORPUS = Path(os.environ.get("FUKUROU_CORPUS", Path(__file__).resolve().parents[2] / "shared/pcaps/arkime"))
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/pcaps/arkime")
PASSWORD = "correct horse battery"
ALL = {"date": "-1"}

pytest.importorskip("cheroot", reason="the viewer's server needs cheroot (pip install cheroot)")


@dataclass
class Served:
    host: str
    port: int
    app: Any
    settings: Any
    tokens: dict[str, str]

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> Response:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            raw = conn.getresponse()
            return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, raw.read(),
                            raw.msg.get_all("Set-Cookie") or [])
        finally:
            conn.close()

    def api(self, path: str, user: str = "admin", params: dict[str, str] | None = None,
            method: str = "GET", **kw: Any) -> Response:
        query = "?" + urlencode(params) if params else ""
        headers = {"Authorization": "Bearer " + self.tokens[user], **kw.pop("headers", {})}
        return self.request(method, path + query, headers=headers, **kw)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: list[str]

    def json(self) -> Any:
        return json.loads(self.body)

    def cookie(self, name: str) -> str | None:
        for line in self.cookies:
            if line.startswith(name + "="):
                return line.split(";", 1)[0].split("=", 1)[1]
        return None


def _captures() -> list[str]:
    return sorted(str(p) for p in CORPUS.glob("*.pcap"))


def build_store(root: Path) -> Any:
    """Settings for a store under ``root`` filled by ``fukurou import`` with the corpus captures."""
    config = root / "config.ini"
    config.write_text(f"[default]\ndbPath={root}/fk.db\npcapDir={root}/pcap\nfreeSpaceG=1%\n")
    done = subprocess.run([sys.executable, "-m", "appliance", "--config", str(config), "import", *_captures()],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return load_settings(str(config))


def add_users(settings: Any) -> dict[str, str]:
    conn = open_database(settings.dbPath)
    users = Users(conn)
    users.add("admin", PASSWORD, "admin")
    users.add("alice", PASSWORD, "user", expression="protocols == dns")
    users.add("bob", PASSWORD, "user", time_limit=2)
    tokens = {name: users.new_token(name) for name in ("admin", "alice", "bob")}
    conn.close()
    return tokens


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not _captures():
        pytest.skip(f"no corpus captures in {CORPUS}")
    from appliance.web.server import build_server

    settings = build_store(tmp_path_factory.mktemp("viewer"))
    tokens = add_users(settings)
    server = build_server(settings, "127.0.0.1", 0)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield Served("127.0.0.1", server.bind_addr[1], server.wsgi_app, settings, tokens)
    finally:
        server.stop()


def login(served: Served, name: str = "admin", password: str = PASSWORD) -> tuple[str, str]:
    """(session cookie, CSRF token) after logging in through the form."""
    form = served.request("GET", "/login")
    token = form.cookie("fukurou_login")
    assert token
    body = urlencode({"name": name, "password": password, "csrf": token, "next": "/sessions"})
    done = served.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                  "Cookie": f"fukurou_login={token}"})
    assert done.status == 303, done.body
    sid = done.cookie("fukurou_session")
    assert sid
    page = served.request("GET", "/sessions", headers={"Cookie": f"fukurou_session={sid}"})
    csrf = re.search(rb'name="csrf-token" content="([^"]+)"', page.body)
    assert csrf
    return sid, csrf.group(1).decode()


# --- every route refuses strangers -------------------------------------------------------------------

def _route_paths(app: Any) -> list[tuple[str, str]]:
    out = []
    for route in app.routes:
        if route.rule.startswith(("/login", "/static/")):
            continue
        path = re.sub(r"<sid:int>", "1", route.rule)
        out.append((route.method, re.sub(r"<[^>]+>", "someone", path)))
    return out


def test_every_page_and_api_refuses_unauthenticated_requests(served: Served) -> None:
    routes = _route_paths(served.app)
    assert len(routes) > 20
    for method, path in routes:
        res = served.request(method, path, headers={"Content-Length": "0"})
        if path.startswith("/api/") or method != "GET":
            assert res.status == 401, (method, path, res.status)
            assert "error" in res.json()
        else:
            assert res.status == 303 and res.headers["location"].startswith("/login"), (method, path)


def test_bad_credentials_are_refused(served: Served) -> None:
    assert served.request("GET", "/api/sessions", headers={"Authorization": "Bearer fk_nope"}).status == 401
    assert served.request("GET", "/api/sessions", headers={"Authorization": "Digest x"}).status == 401
    bad = base64.b64encode(b"admin:wrong").decode()
    assert served.request("GET", "/api/user", headers={"Authorization": "Basic " + bad}).status == 401
    assert served.request("GET", "/api/user", headers={"Authorization": "Basic !!!"}).status == 401
    assert served.request("GET", "/sessions", headers={"Cookie": "fukurou_session=forged"}).status == 303


def test_basic_auth_works_from_loopback(served: Served) -> None:
    good = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    res = served.request("GET", "/api/user", headers={"Authorization": "Basic " + good})
    assert res.status == 200 and res.json()["userId"] == "admin"


def test_basic_auth_refused_over_plain_http_from_the_network(served: Served) -> None:
    from io import BytesIO

    good = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/user", "REMOTE_ADDR": "192.168.1.50",
               "wsgi.url_scheme": "http", "HTTP_AUTHORIZATION": "Basic " + good, "wsgi.input": BytesIO(),
               "SERVER_NAME": "x", "SERVER_PORT": "80", "HTTP_X_FORWARDED_FOR": "127.0.0.1"}
    status: list[str] = []
    body = b"".join(served.app(environ, lambda s, h, e=None: status.append(s)))
    assert status[0].startswith("403"), body
    environ["wsgi.url_scheme"] = "https"
    environ["wsgi.input"] = BytesIO()
    status.clear()
    b"".join(served.app(environ, lambda s, h, e=None: status.append(s)))
    assert status[0].startswith("200")


# --- login, logout, CSRF ------------------------------------------------------------------------------

def test_login_sets_a_strict_httponly_cookie_and_logout_ends_it(served: Served) -> None:
    form = served.request("GET", "/login")
    token = form.cookie("fukurou_login")
    body = urlencode({"name": "admin", "password": PASSWORD, "csrf": token, "next": "//evil.example/"})
    done = served.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                  "Cookie": f"fukurou_login={token}"})
    assert done.status == 303 and done.headers["location"] == "/sessions"  # no open redirect
    line = next(c for c in done.cookies if c.startswith("fukurou_session="))
    assert "HttpOnly" in line and "samesite=strict" in line.lower() and "Secure" not in line  # plain HTTP here
    sid = done.cookie("fukurou_session")
    cookie = {"Cookie": f"fukurou_session={sid}"}
    assert served.request("GET", "/api/user", headers=cookie).json()["userId"] == "admin"
    page = served.request("GET", "/sessions", headers=cookie)
    csrf = re.search(rb'name="csrf-token" content="([^"]+)"', page.body).group(1).decode()  # type: ignore[union-attr]
    assert served.request("POST", "/logout", "", cookie).status == 403  # no CSRF token
    out = served.request("POST", "/logout", urlencode({"csrf": csrf}),
                         {**cookie, "Content-Type": "application/x-www-form-urlencoded"})
    assert out.status == 303
    assert served.request("GET", "/api/user", headers=cookie).status == 401


def test_login_without_the_form_token_is_refused(served: Served) -> None:
    body = urlencode({"name": "admin", "password": PASSWORD, "csrf": "guess"})
    res = served.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert res.status == 403 and res.cookie("fukurou_session") is None


def test_wrong_password_on_the_form(served: Served) -> None:
    form = served.request("GET", "/login")
    token = form.cookie("fukurou_login")
    body = urlencode({"name": "nobody", "password": "x" * 10, "csrf": token})
    res = served.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                 "Cookie": f"fukurou_login={token}"})
    assert res.status == 401 and b"Wrong user name or password" in res.body


def test_csrf_is_checked_on_state_changing_requests(served: Served) -> None:
    sid, csrf = login(served)
    headers = {"Cookie": f"fukurou_session={sid}", "Content-Type": "application/json"}
    body = json.dumps({"userId": "carol", "password": PASSWORD})
    assert served.request("POST", "/api/users", body, headers).status == 403
    assert served.request("POST", "/api/users", body, {**headers, "X-CSRF-Token": "wrong"}).status == 403
    cross = {**headers, "X-CSRF-Token": csrf, "Origin": "http://evil.example"}
    assert served.request("POST", "/api/users", body, cross).status == 403
    ok = served.request("POST", "/api/users", body, {**headers, "X-CSRF-Token": csrf})
    assert ok.status == 200, ok.body
    gone = served.request("DELETE", "/api/user/carol", headers={**headers, "X-CSRF-Token": csrf})
    assert gone.status == 200


def test_users_api_needs_admin(served: Served) -> None:
    assert served.api("/api/users", "alice").status == 403
    assert served.api("/api/users").json()["data"][0]["userId"] == "admin"
    assert served.api("/api/user", "alice").json()["expression"] == "protocols == dns"


def test_user_settings_are_kept_per_user_and_checked(served: Served) -> None:
    json_type = {"Content-Type": "application/json"}

    def save(body: str, user: str = "alice") -> Response:
        return served.api("/api/user/settings", user, method="POST", body=body, headers=json_type)

    assert served.api("/api/user/settings", "alice").json() == {"sessionsColumns": []}
    done = save(json.dumps({"sessionsColumns": ["start", "srcIp", "node"]}))
    assert done.status == 200 and done.json()["settings"]["sessionsColumns"] == ["start", "srcIp", "node"]
    for bad, says in ((json.dumps({"colour": "red"}), "unknown setting 'colour'"),
                      (json.dumps({"sessionsColumns": "start"}), "a list of text"),
                      (json.dumps({"sessionsColumns": ["x" * 65]}), "at most 64 items"),
                      (json.dumps(["start"]), "JSON object"), ("{not json", "Invalid JSON")):
        res = save(bad)
        assert res.status == 400 and says in res.json()["error"], (bad, res.body)
    assert served.api("/api/user/settings", "alice").json()["sessionsColumns"] == ["start", "srcIp", "node"]
    assert served.api("/api/user/settings").json()["sessionsColumns"] == []  # admin's are their own
    for reserved in ("settings", "Password"):  # /api/user/<name> could not reach such a user
        made = served.api("/api/users", method="POST", body=json.dumps({"userId": reserved, "password": PASSWORD}),
                          headers=json_type)
        assert made.status == 400 and "cannot be a user name" in made.json()["error"]
    sid, _ = login(served, "alice")
    page = served.request("GET", "/sessions", headers={"Cookie": f"fukurou_session={sid}"})
    embedded = re.search(rb'<script type="application/json" id="user-settings">(.*?)</script>', page.body)
    assert embedded and json.loads(embedded.group(1))["sessionsColumns"] == ["start", "srcIp", "node"]


# --- static files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/static/../appliance/web/users.py", "/static/../../etc/passwd",
                                  "/static/%2e%2e/%2e%2e/etc/passwd", "/static/..%2f..%2fsql/003_users.sql",
                                  "/static//etc/passwd", "/static/vendor/../../templates/base.tpl"])
def test_static_files_do_not_escape_their_folder(served: Served, path: str) -> None:
    res = served.request("GET", path)
    assert res.status in (403, 404), (path, res.status)
    assert b"import" not in res.body and b"root:" not in res.body


def test_static_files_are_cached_and_local(served: Served) -> None:
    res = served.request("GET", "/static/app.css")
    assert res.status == 200 and "max-age" in res.headers["cache-control"]
    web = Path(__file__).resolve().parents[1] / "web"
    for path in list(web.rglob("*.tpl")) + list(web.glob("static/*.js")) + list(web.glob("static/*.css")):
        text = path.read_text()
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", text), path


# --- the API ------------------------------------------------------------------------------------------

def test_sessions_paging_order_and_fields(served: Served) -> None:
    first = served.api("/api/sessions", params={**ALL, "length": "5"}).json()
    assert len(first["data"]) == 5 and first["recordsFiltered"] > 100
    second = served.api("/api/sessions", params={**ALL, "length": "5", "start": "5"}).json()
    assert not {d["id"] for d in first["data"]} & {d["id"] for d in second["data"]}
    ordered = served.api("/api/sessions", params={**ALL, "length": "50", "order": "network.bytes:desc",
                                                  "fields": "network.bytes,source.ip"}).json()["data"]
    sizes = [d["network.bytes"] for d in ordered]
    assert sizes == sorted(sizes, reverse=True)
    assert set(ordered[0]) <= {"id", "network.bytes", "source.ip"}
    assert served.api("/api/sessions", params={**ALL, "order": "nonsense:desc"}).status == 400


def test_sessions_default_fields_are_arkimes(served: Served) -> None:
    from appliance.web.search import SESSIONS_DEFAULT_FIELDS

    rows = served.api("/api/sessions", params={**ALL, "length": "200"}).json()["data"]
    assert {k for d in rows for k in d} <= {"id", *SESSIONS_DEFAULT_FIELDS}
    assert all({"lastPacket", "network.bytes"} <= set(d) for d in rows) and any("source.ip" in d for d in rows)
    assert any("dns.host" in d for d in rows) and not any("packetPos" in d for d in rows)
    whole = served.api(f"/api/session/{rows[0]['id']}").json()  # the whole document, decoded the same way
    assert {k: v for k, v in whole.items() if k in rows[0]} == rows[0] and "packetPos" in whole


def test_session_detail_packets_and_pcap(served: Served) -> None:
    rows = served.api("/api/sessions", params={**ALL, "expression": "protocols == http", "length": "1"}).json()
    sid = rows["data"][0]["id"]
    doc = served.api(f"/api/session/{sid}").json()
    assert "http" in doc["protocol"]
    pkts = served.api(f"/api/session/{sid}/packets").json()["packets"]
    assert {p["dir"] for p in pkts} == {"src", "dst"}
    pcap = served.api(f"/api/session/{sid}.pcap")
    assert pcap.status == 200 and pcap.body[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")
    assert len(pcap.body) > 24 + 16 * len(pkts)
    assert served.api("/api/session/1").status == 404


def test_sessions_pcap_and_csv(served: Served) -> None:
    pcap = served.api("/api/sessions.pcap", params={**ALL, "expression": "protocols == dns"})
    assert pcap.status == 200 and len(pcap.body) > 1000
    csv_text = served.api("/api/sessions.csv", params={**ALL, "length": "3"}).body.decode()
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("ipProtocol,firstPacket") and len(lines) == 4


def test_spiview_unique_connections_files_stats(served: Served) -> None:
    spi = served.api("/api/spiview", params={**ALL, "spi": "protocols:5,ip.dst:3"}).json()
    assert spi["spi"]["protocols"]["buckets"][0]["key"] == "tcp"
    assert len(spi["spi"]["ip.dst"]["buckets"]) == 3
    unique = served.api("/api/unique", params={**ALL, "exp": "protocols", "counts": "1"}).body.decode()
    assert re.match(r"tcp, \d+\n", unique)
    graph = served.api("/api/connections", params={**ALL, "minConn": "2"}).json()
    assert graph["links"] and all(link["value"] >= 2 for link in graph["links"])
    small = served.api("/api/connections", params={**ALL, "length": "10"}).json()  # Arkime's query size
    assert small["recordsFiltered"] == 10 == sum(link["value"] for link in small["links"])
    assert served.api("/api/files").json()["recordsTotal"] > 0
    assert served.api("/api/stats").json()["data"][0]["sessions"] > 100


HOSTILE = [
    "ip.src ==", "((((", ")", "ip.src == 1.2.3.4 ||", "http.uri == /[/", "port.src == 99999999999999999999999",
    "starttime == garbage", "a" * 10000, "!!!!!!", '"', "ip.src == [", "(" * 3000 + "ip.src == 1" + ")" * 3000,
    "nosuchfield == 1", "tags == *", "ip.src == 1.2.3.4/99", "port.src == 1-", "ip.src == \x00",
    "host.dns == \u202e\u0000", "protocols == dns) || (1", "' OR 1=1 --", "ip.src < 2001:db8::/200",
    "db:../../etc == 1", "id == abc", "communityId == 1:xx", "port.src == nan", "starttime < -99999999999d",
]


@pytest.mark.parametrize("expression", HOSTILE)
def test_hostile_expressions_are_400_never_500(served: Served, expression: str) -> None:
    for path in ("/api/sessions", "/api/spiview", "/api/connections", "/api/sessions.csv", "/api/buildquery"):
        res = served.api(path, params={**ALL, "expression": expression})
        assert res.status in (200, 400), (path, expression, res.status, res.body[:300])
        if res.status == 400:
            assert res.json()["error"]


def test_expression_errors_carry_the_position(served: Served) -> None:
    res = served.api("/api/sessions", params={**ALL, "expression": "ip.src == 1.2.3.4 && ("})
    assert res.status == 400
    assert res.json()["position"] == len("ip.src == 1.2.3.4 && (")


@pytest.mark.parametrize("params", [{"date": "abc"}, {"date": "nan"}, {"length": "x"}, {"start": "inf"},
                                    {"startTime": "yesterday-ish"}, {"date": "1e400"}])
def test_bad_parameters_are_400(served: Served, params: dict[str, str]) -> None:
    assert served.api("/api/sessions", params=params).status == 400


# --- a user's scope ---------------------------------------------------------------------------------------

ESCAPES = ["", ") || (1", "protocols == dns) || (protocols == tcp", "protocols == tcp || protocols == dns",
           "!(protocols == dns)", "protocols == tcp", "ip.src == EXISTS! || protocols != dns",
           "protocols == dns || 1 == 1"]


@pytest.mark.parametrize("expression", ESCAPES)
def test_forced_expression_cannot_be_escaped(served: Served, expression: str) -> None:
    res = served.api("/api/sessions", "alice", {**ALL, "expression": expression, "length": "1000", "fields": "protocol"})
    assert res.status in (200, 400)
    if res.status == 200:
        assert all("dns" in d.get("protocol", []) for d in res.json()["data"])
    spi = served.api("/api/spiview", "alice", {**ALL, "expression": expression, "spi": "protocols:50"})
    if spi.status == 200:
        counts = {b["key"]: b["doc_count"] for b in spi.json()["spi"]["protocols"]["buckets"]}
        assert not counts or max(counts.values()) == counts.get("dns"), counts


def test_forced_expression_hides_other_sessions_everywhere(served: Served) -> None:
    other = served.api("/api/sessions", params={**ALL, "expression": "protocols != dns", "length": "1"}).json()
    sid = other["data"][0]["id"]
    assert served.api(f"/api/session/{sid}", "alice").status == 404
    assert served.api(f"/api/session/{sid}.pcap", "alice").status == 404
    assert served.api(f"/api/session/{sid}/packets", "alice").status == 404
    pcap = served.api("/api/sessions.pcap", "alice", {"ids": str(sid)})
    assert pcap.status == 200 and len(pcap.body) == 24  # the header, no packets
    csv_rows = served.api("/api/sessions.csv", "alice", {"ids": str(sid)}).body.decode().strip().splitlines()
    assert len(csv_rows) == 1
    mine = served.api("/api/sessions", "alice", ALL).json()
    everyone = served.api("/api/sessions", "admin", ALL).json()
    assert 0 < mine["recordsTotal"] < everyone["recordsTotal"]


def test_time_limit(served: Served) -> None:
    assert served.api("/api/sessions", "bob", {"date": "-1"}).status == 400
    assert served.api("/api/sessions", "bob", {"date": "3"}).status == 400
    assert served.api("/api/sessions", "bob", {"date": "2"}).status == 200
    assert served.api("/api/sessions", "bob", {"startTime": "1000000000", "stopTime": "1000036000"}).status == 400
    assert served.api("/api/sessions", "bob", {"startTime": "1000000000", "stopTime": "1000003600"}).status == 200
    assert served.api("/api/spiview", "bob", {"date": "-1"}).status == 400


# --- throttling ----------------------------------------------------------------------------------------

def test_login_throttling_backs_off(served: Served) -> None:
    from appliance.web.throttle import FREE_FAILURES, Throttle

    ctx = served.app.config["fukurou.ctx"]
    try:
        bad = base64.b64encode(b"admin:wrong-password").decode()
        statuses = [served.request("GET", "/api/user", headers={"Authorization": "Basic " + bad}).status
                    for _ in range(FREE_FAILURES + 2)]
        assert statuses[:FREE_FAILURES + 1] == [401] * (FREE_FAILURES + 1)
        assert statuses[-1] == 429
        good = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        blocked = served.request("GET", "/api/user", headers={"Authorization": "Basic " + good})
        assert blocked.status == 429 and int(blocked.headers["retry-after"]) >= 1  # even the right password waits
        form = served.request("GET", "/login")
        token = form.cookie("fukurou_login")
        body = urlencode({"name": "alice", "password": PASSWORD, "csrf": token})
        res = served.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                     "Cookie": f"fukurou_login={token}"})
        assert res.status == 429  # the client address is throttled too, whatever the name
    finally:
        ctx.throttle = Throttle()


def test_throttle_unit() -> None:
    from appliance.web.throttle import FREE_FAILURES, MAX_DELAY, Throttle

    now = [0.0]
    t = Throttle(clock=lambda: now[0])  # type: ignore[arg-type]
    for _ in range(FREE_FAILURES):
        t.failed("k")
    assert t.wait("k") == 0
    t.failed("k")
    assert t.wait("k") == 2
    for _ in range(40):
        t.failed("k")
    assert t.wait("k") == MAX_DELAY
    now[0] += MAX_DELAY + 1
    assert t.wait("k") == 0
    t.succeeded("k")
    assert t.wait("other", "k") == 0


# --- the command line -----------------------------------------------------------------------------------

def test_user_command(tmp_path: Path) -> None:
    config = tmp_path / "config.ini"
    config.write_text(f"[default]\ndbPath={tmp_path}/fk.db\npcapDir={tmp_path}/pcap\n")
    pw = tmp_path / "pw"
    pw.write_text("a-long-password\n")

    def fukurou(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "appliance", "--config", str(config), "user", *args],
                              input=stdin, capture_output=True, text=True, timeout=60)

    assert fukurou("add", "root", "--admin", "--password-file", str(pw)).returncode == 0
    assert fukurou("add", "kid", "--password-stdin", stdin="another-password\n").returncode == 0
    assert fukurou("add", "kid", "--password-stdin", stdin="another-password\n").returncode == 2
    assert fukurou("add", "short", "--password-stdin", stdin="x\n").returncode == 2
    listed = fukurou("list").stdout
    assert "root\tadmin" in listed and "kid\tuser" in listed
    token = fukurou("token", "kid").stdout.strip()
    assert token.startswith("fk_")
    assert fukurou("passwd", "kid", "--password-stdin", stdin="third-password\n").returncode == 0
    assert fukurou("del", "kid").returncode == 0
    assert "kid" not in fukurou("list").stdout
    conn = open_database(str(tmp_path / "fk.db"))
    stored = conn.execute("SELECT pw_hash, pw_params FROM users").fetchall()
    assert len(stored) == 1 and json.loads(stored[0][1])["n"] >= 1 << 14
    assert not conn.execute("SELECT 1 FROM api_tokens").fetchall()  # deleted with the user
    conn.close()


# --- the Packets view: first N, per packet or reassembled ---------------------------------------------

def test_session_packets_first_n_and_reassembled(served: Served) -> None:
    rows = served.api("/api/sessions", params={**ALL, "expression": "http.method == GET && packets >= 8",
                                               "length": "1", "fields": "network.packets"}).json()["data"]
    sid, total = rows[0]["id"], rows[0]["network.packets"]
    every = served.api(f"/api/session/{sid}/packets", params={"packets": "2000"}).json()
    assert every["total"] == every["shown"] == len(every["packets"]) == total
    assert [p["n"] for p in every["packets"]] == list(range(1, total + 1))
    first = served.api(f"/api/session/{sid}/packets", params={"packets": "3"}).json()
    assert first["shown"] == len(first["packets"]) == 3 and first["total"] == total
    assert first["packets"] == every["packets"][:3]

    joined = served.api(f"/api/session/{sid}/packets", params={"packets": "2000", "reassemble": "1"}).json()
    blocks = joined["blocks"]
    assert "packets" not in joined and blocks
    assert all(a["dir"] != b["dir"] for a, b in zip(blocks, blocks[1:], strict=False))  # runs alternate
    assert blocks[0]["dir"] == "src" and bytes.fromhex(blocks[0]["data"]).startswith((b"GET ", b"POST ", b"HEAD "))
    assert any(bytes.fromhex(b["data"]).startswith(b"HTTP/1.") for b in blocks if b["dir"] == "dst")
    assert all(b["bytes"] == len(b["data"]) // 2 and b["first"] <= b["last"] for b in blocks)
    # no retransmissions here: every payload byte is in exactly one block, in order, per direction
    for side in ("src", "dst"):
        sent = "".join(p["data"] for p in every["packets"] if p["dir"] == side)
        assert "".join(b["data"] for b in blocks if b["dir"] == side) == sent


def test_reassembly_drops_retransmitted_bytes() -> None:
    from appliance.web.packets import Frame, reassemble

    def seg(n: int, src: bool, seq: int, data: bytes, syn: bool = False) -> Frame:
        return Frame(n, 1000 + n, src, 60 + len(data), 60 + len(data), data, seq, syn)

    top = 0xFFFFFFF0  # the sequence numbers wrap around 2**32
    packets = [seg(1, True, top - 1, b"", syn=True), seg(2, False, 500, b"", syn=True),
               seg(3, True, top, b"GET / HTTP/1.1\r\n"), seg(4, True, top, b"GET / HTTP/1.1\r\n"),  # sent again
               seg(5, True, (top + 16) & 0xFFFFFFFF, b"Host: a\r\n\r\n"),
               seg(6, False, 501, b"HTTP/1.1 200 OK\r\n"), seg(7, False, 513, b" OK\r\nX: 1\r\n"),  # overlaps
               seg(8, True, (top + 27) & 0xFFFFFFFF, b""),
               Frame(9, 2000, True, 70, 70, b"udp-ish", None)]
    blocks = reassemble(packets)
    assert [(b["dir"], b["first"], b["last"], b["packets"]) for b in blocks] == [
        ("src", 3, 5, 2), ("dst", 6, 7, 2), ("src", 9, 9, 1)]
    assert bytes.fromhex(blocks[0]["data"]) == b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert bytes.fromhex(blocks[1]["data"]) == b"HTTP/1.1 200 OK\r\nX: 1\r\n"
    assert bytes.fromhex(blocks[2]["data"]) == b"udp-ish"


def test_reassembly_puts_late_segments_in_order() -> None:
    from appliance.web.packets import HOLD_PACKETS, Frame, reassemble

    def seg(n: int, src: bool, seq: int, data: bytes, syn: bool = False) -> Frame:
        return Frame(n, 1000 + n, src, 60 + len(data), 60 + len(data), data, seq, syn)

    late = [seg(1, True, 100, b"", syn=True), seg(2, True, 101, b"GET "), seg(3, True, 109, b"HTTP"),  # ahead
            seg(4, True, 105, b"/ab "),  # the late one fills the gap
            seg(5, False, 900, b"200 "), seg(6, True, 113, b"\r\n")]
    blocks = reassemble(late)
    assert [(b["dir"], b["first"], b["last"]) for b in blocks] == [("src", 2, 4), ("dst", 5, 5), ("src", 6, 6)]
    assert bytes.fromhex(blocks[0]["data"]) == b"GET /ab HTTP"

    # A segment the capture never got: what follows waits HOLD_PACKETS packets, then is shown past the gap.
    lost = [seg(1, True, 100, b"", syn=True)] + [seg(2 + i, True, 105 + 4 * i, b"%04d" % i) for i in range(12)]
    blocks = reassemble(lost)
    assert len(blocks) == 1 and bytes.fromhex(blocks[0]["data"]) == b"".join(b"%04d" % i for i in range(12))
    assert HOLD_PACKETS < 12
    ends = reassemble(lost[:4])  # still waiting at the end: shown after the gap, in order
    assert bytes.fromhex(ends[0]["data"]) == b"000000010002"
