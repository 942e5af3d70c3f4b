"""Tests for appliance.protocols.http: detection, the streaming parser and Arkime's http fields."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from sessionkit import Conversation, converse, flat_document, new_session, sctp_data

from appliance import fields, pipeline
from appliance.protocols import http
from appliance.sessions import Session
from appliance.settings import Settings

PCAPS = Path(__file__).resolve().parents[2] / "shared" / "pcaps" / "arkime"


def web_session(proto: int = 6) -> Session:
    """A real session from a client to port 80 (TCP unless ``proto`` says otherwise)."""
    return new_session(proto, 40000, 80)


def run(client: bytes | list[bytes], server: bytes | list[bytes] = b"", session: Session | None = None
        ) -> dict[str, Any]:
    """Feed whole exchanges (or lists of chunks) client first to the parser; return the fields."""
    session = session or web_session()
    parser = http.HTTPParser()
    for direction, chunks in ((0, client), (1, server)):
        for chunk in [chunks] if isinstance(chunks, bytes) else chunks:
            if chunk:
                parser.data(session, chunk, direction)
    parser.finish(session)
    return session.fields


GET = (b"GET /a/b?x=1&y=%41%42&z HTTP/1.1\r\nHost: Example.COM:8080\r\nUser-Agent: t/1\r\n"
       b"Accept: */*\r\nReferer: http://r/\r\n\r\n")
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\nContent-Type: text/html\r\n\r\n<html>hi</html>"


# --- detection ---------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\n", b"GET\r\n", b"HTTP/1.0 200 OK", b"M-SEARCH * HTTP/1.1",
                                  b"PRI * HTTP/2.0", b"OPTIONS / HTTP/1.1"])
def test_detect_methods_and_status(data: bytes) -> None:
    assert http.detect(web_session(), data, 0)


@pytest.mark.parametrize("data", [b"get / HTTP/1.1", b"\x16\x03\x01", b"", b"G", b"SSH-2.0-x", b"EHLO x"])
def test_detect_rejects_other_bytes(data: bytes) -> None:
    assert not http.detect(web_session(), data, 0)


def test_detect_not_on_udp_but_on_sctp() -> None:
    assert not http.detect(web_session(17), b"NOTIFY * HTTP/1.1\r\n", 0)
    assert http.detect(web_session(132), b"GET / HTTP/1.1\r\n", 0)


# --- well-formed exchanges ---------------------------------------------------------------------

def test_request_and_response_fields() -> None:
    f = run(GET, OK)
    assert f["http.method"] == ["GET"]
    assert f["http.method-GET"] == 1
    assert sorted(f["http.host"]) == ["example.com", "example.com:8080"]
    assert f["http.uri"] == ["example.com:8080/a/b?x=1&y=%41%42&z"]
    assert f["http.path"] == ["/a/b"]
    assert f["http.key"] == ["x", "y"]  # like Arkime, a last key without "=" is not kept
    assert f["http.value"] == ["1", "AB"]
    assert f["http.useragent"] == ["t/1"]
    assert f["http.request-referer"] == ["http://r/"]
    assert f["http.requestHeader"] == ["host", "user-agent", "accept", "referer"]
    assert f["http.requestHeaderField"] == ["accept"]
    assert f["http.requestHeaderValue"] == ["*/*"]
    assert f["http.statuscode"] == [200]
    assert f["http.clientVersion"] == ["1.1"] and f["http.serverVersion"] == ["1.1"]
    assert f["http.responseHeaderValue"] == ["15", "text/html"]
    assert f["http.bodyMagic"] == ["text/html"]
    assert f["http.md5"] == [hashlib.md5(b"<html>hi</html>").hexdigest()]
    assert f["http.sha256"] == [hashlib.sha256(b"<html>hi</html>").hexdigest()]


def test_every_written_path_is_registered() -> None:
    f = run(GET, OK)
    assert all(path in fields.BY_PATH for path in f)
    fields.nest(f)


def test_byte_by_byte_equals_whole() -> None:
    exchange = GET + GET.replace(b"GET", b"POST", 1).replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\n\r\nabc")
    whole = run(exchange, OK + OK)
    split = run([exchange[i:i + 1] for i in range(len(exchange))], [(OK + OK)[i:i + 1] for i in range(2 * len(OK))])
    # Magic and requestBody look at the first piece of a body, which differs; the rest must not.
    for key in ("http.method", "http.uri", "http.md5", "http.statuscode", "http.requestHeaderValue"):
        assert split[key] == whole[key]
    assert whole["http.method-GET"] == 1 and whole["http.method-POST"] == 1
    assert len(whole["http.md5"]) == 2  # "abc" and the (twice identical) response body
    assert not http._NO_BUF  # the empty buffer that sides share between messages stays empty


def test_an_idle_side_keeps_no_buffer_or_header_list() -> None:
    """Between messages a side holds the shared empty buffer and no header list (memory per
    open session); a header section split over packets still gets a buffer of its own."""
    session = new_session()
    parser = http.HTTPParser()
    parser.data(session, GET[:10], 0)
    side = parser.side0
    assert side is not None and side.buf is not http._NO_BUF and bytes(side.buf) == GET[:10]
    parser.data(session, GET[10:], 0)
    assert side.buf is http._NO_BUF and side.headers is None
    assert not http._NO_BUF


def test_pipelined_keep_alive_and_chunked() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
    f = run(GET + GET, chunked + OK)
    assert f["http.method-GET"] == 2
    assert hashlib.md5(b"hello world").hexdigest() in f["http.md5"]
    assert "x-trailer" in f["http.responseHeader"]
    assert f["http.statuscode"] == [200]


def test_body_until_close_completes_at_finish() -> None:
    session = web_session()
    f = run(GET, b"HTTP/1.0 200 OK\r\n\r\nGIF89a-data", session)
    assert f["http.md5"] == [hashlib.md5(b"GIF89a-data").hexdigest()]
    assert f["http.bodyMagic"] == ["image/gif"]


def test_finish_twice_is_stable() -> None:
    session = web_session()
    parser = http.HTTPParser()
    parser.data(session, GET, 0)
    parser.finish(session)
    first = json.dumps(session.fields, sort_keys=True)
    parser.finish(session)
    assert json.dumps(session.fields, sort_keys=True) == first


def test_merges_with_other_parsers_values() -> None:
    session = web_session()
    session.fields["http.host"] = ["sni.example"]
    parser = http.HTTPParser()
    parser.data(session, GET, 0)
    parser.finish(session)
    parser.finish(session)
    assert session.fields["http.host"] == ["sni.example", "example.com:8080", "example.com"]


def test_status_without_body_and_100_continue() -> None:
    post = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    f = run([post, b"ok"], b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n")
    assert f["http.statuscode"] == [100, 304]
    assert f["http.md5"] == [hashlib.md5(b"ok").hexdigest()]
    assert f["http.requestBody"] == ["ok"]


HEAD = b"HEAD /big.iso HTTP/1.1\r\nHost: h\r\n\r\n"
GET_SMALL = b"GET /s HTTP/1.1\r\nHost: h\r\n\r\n"
HELLO = b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello"


@pytest.mark.parametrize("framing", [b"Content-Length: 734003200", b"Transfer-Encoding: chunked"])
def test_a_response_to_head_has_no_body_whatever_its_headers_say(framing: bytes) -> None:
    # The HEAD's answer names the resource's length (or chunking) but sends no body: read as one,
    # the next response on the kept-alive connection would vanish into it.
    head_answer = b"HTTP/1.1 200 OK\r\n" + framing + b"\r\n\r\n"
    f = run(HEAD + GET_SMALL, head_answer + HELLO)
    assert f["http.statuscode"] == [200, 201]
    assert f["http.md5"] == [hashlib.md5(b"hello").hexdigest()]
    assert f["http.method-HEAD"] == 1 and f["http.method-GET"] == 1


def test_pipelined_requests_are_answered_in_order() -> None:
    # GET, HEAD, GET sent before any answer: only the second answer is bodiless.
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    second = b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n"
    f = run([GET_SMALL, HEAD, GET_SMALL], [first, second, HELLO])
    assert f["http.statuscode"] == [200, 201]
    assert sorted(f["http.md5"]) == sorted([hashlib.md5(b"abc").hexdigest(), hashlib.md5(b"hello").hexdigest()])


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
def test_204_and_304_have_no_body_even_with_a_length(status: bytes) -> None:
    f = run(GET_SMALL + GET_SMALL, b"HTTP/1.1 " + status + b"\r\nContent-Length: 40\r\n\r\n" + HELLO)
    assert f["http.statuscode"] == [int(status[:3]), 201]
    assert f["http.md5"] == [hashlib.md5(b"hello").hexdigest()]


def test_a_flood_of_pipelined_heads_stays_bounded() -> None:
    # Past the requests it remembers, the parser treats further ones as not HEAD; it never raises.
    session = web_session()
    parser = http.HTTPParser()
    parser.data(session, HEAD * 500, 0)
    assert parser.asked.bit_length() <= http._MAX_ASKED + 1
    parser.data(session, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n" * 3 + HELLO, 1)
    parser.finish(session)
    assert session.fields["http.statuscode"] == [200, 201]


def test_websocket_upgrade_is_not_counted_and_stops_parsing() -> None:
    up = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    f = run([up, b"\x81\x05hello"], b"HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00")
    assert f["http.method"] == ["GET"] and "http.method-GET" not in f
    assert f["http.statuscode"] == [101]


def test_websocket_switch_names_the_protocol() -> None:
    """A 101 answer that upgrades to WebSocket adds "websocket", as Arkime does; other upgrades
    (h2c) and a WebSocket request left unanswered do not."""
    up = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    switched = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n"
    session = web_session()
    run(up, switched, session)
    assert "websocket" in session.protocols
    h2c = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
    for client, server in ((up, b""), (up.replace(b"websocket", b"h2c"), h2c)):
        session = web_session()
        run(client, server, session)
        assert "websocket" not in session.protocols


@pytest.mark.parametrize(("target", "service"), [
    (b"/certsrv/", "adcs-web"), (b"/CERTSRV/certrqma.asp", "adcs-web"), (b"/certsrv", "adcs-web"),
    (b"/certsrv/mscep/mscep.dll?operation=GetCACert&message=x", "adcs-ndes"), (b"/certsrv/mscep_admin/", "adcs-ndes"),
    (b"/ADPolicyProvider_CEP_Kerberos/service.svc/CEP", "adcs-cep"),
    (b"/KeyBasedRenewal_ADPolicyProvider_CEP_Certificate/service.svc/CEP", "adcs-cep"),
    (b"/Corp-CA_CES_Kerberos/service.svc/CES", "adcs-ces"), (b"/EnrollmentServer/service.svc", "adcs-ces"),
    (b"/wsman", "winrm"), (b"/wsman?PSVersion=5.1", "winrm"), (b"/wsman-anon/identify", "winrm"),
    (b"/rpc/rpcproxy.dll?mail.example.com:6001", "rpc-over-http"),
    (b"http://ca.example.com/certsrv/certfnsh.asp", "adcs-web"),  # a proxy's absolute form
    (b"/wsmania", None), (b"/certsrvx/", None), (b"/not/rpch", None), (b"/a/certsrv/", None), (b"*", None),
    (b"http://ca.example.com", None), (b"/CEP_service.svc", None),
])
def test_windows_services_are_named_by_their_request_path(target: bytes, service: str | None) -> None:
    """AD CS enrollment (web, NDES, CEP, CES), WinRM and the RPC over HTTP proxy get protocol
    names of their own from the request path's first segment, as Arkime gives them; a segment
    must match whole (/wsmania is not WinRM)."""
    request = b"POST " + target + b" HTTP/1.1\r\nHost: ca.example.com\r\nContent-Length: 0\r\n\r\n"
    session = converse([(0, request), (1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")])
    named = set(session.protocols) - {"http", "tcp"}
    assert named == ({service} if service else set())


def test_rpc_over_http_channels_are_named_without_an_http_request() -> None:
    """Outlook Anywhere's channels open with RPC_IN_DATA and RPC_OUT_DATA request lines, which are
    no HTTP methods: the session is named rpc-over-http (and http, from the server's answer),
    and, as in Arkime, the request writes no http fields."""
    for method in (b"RPC_IN_DATA", b"RPC_OUT_DATA"):
        request = method + b" /rpc/rpcproxy.dll?MAIL:6001 HTTP/1.1\r\nHost: mail\r\nContent-Length: 1073741824\r\n\r\n"
        session = converse([(0, request), (1, b"HTTP/1.1 200 Success\r\nServer: Microsoft-IIS/10.0\r\n\r\n")])
        assert sorted(session.protocols) == ["http", "rpc-over-http", "tcp"]
        doc = flat_document(session)
        assert "http.method" not in doc and doc["http.statuscode"] == [200]


@pytest.mark.parametrize("limit", [None, 10])
def test_generic_header_values_are_cut_at_parseHTTPHeaderValueMaxLen(limit: int | None) -> None:  # noqa: N802
    session = web_session()
    parser = http.HTTPParser()
    if limit is not None:
        parser.configure(Settings().replace(parseHTTPHeaderValueMaxLen=limit))
    request = b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + b"A" * 3000 + b"\r\nUser-Agent: " + b"u" * 1500 + b"\r\n\r\n"
    parser.data(session, request, 0)
    parser.finish(session)
    kept = limit or http.HEADER_VALUE_MAX
    assert session.fields["http.requestHeaderValue"] == ["a" * kept]
    assert session.fields["http.useragent"] == ["u" * 1500]  # a header with its own field is whole


def test_basic_and_digest_users_and_cookies() -> None:
    token = base64.b64encode(b"alice:secret")
    f = run(b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic " + token + b"\r\n"
            b"Cookie: a=1; b= 2;c=\r\n\r\n")
    assert f["http.authType"] == ["basic"] and f["http.user"] == ["alice"]
    assert f["http.cookieKey"] == ["a", "b", "c"] and f["http.cookieValue"] == ["1", "2"]
    f = run(b'GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Digest realm="r", username="bob", nonce=1\r\n\r\n')
    assert f["http.authType"] == ["digest"] and f["http.user"] == ["bob"]


def test_xff_parts_as_arkime_reads_them() -> None:
    f = run(b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1,2001:db8::1, 10.0.0.1\r\n\r\n")
    assert f["http.xffIp"] == ["192.0.2.1", "2001:db8::1"]


def test_response_only_and_url_without_host() -> None:
    f = run(b"GET /Hello Arkime HTTP/1.0\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\nHi Andy!")
    assert f["http.uri"] == ["/Hello"]
    assert "http.method" not in f
    assert f["http.statuscode"] == [200]


@pytest.mark.parametrize(("body", "mime"), [
    (b"\x1f\x8b\x08\x00\x00\x00", "application/x-gzip"), (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff\xe0" + bytes(10), "image/jpeg"), (b"PK\x03\x04xxxx", "application/zip"),
    (b"%PDF-1.4", "application/pdf"), (b'{"a": 1}', "application/json"), (b"<?xml version", "text/xml"),
    (b"\r\n<html>", None), (b"abc", None),
])
def test_magic(body: bytes, mime: str | None) -> None:
    assert http.magic(body) == mime


# --- truncated and hostile input ---------------------------------------------------------------

def test_truncated_body_has_magic_but_no_hash() -> None:
    f = run(GET, OK[:-5])
    assert "http.md5" not in f and f["http.bodyMagic"] == ["text/html"]


def test_truncated_request_line_gives_nothing() -> None:
    assert run(b"GET /never-ending") == {}


def test_unbounded_header_is_dropped() -> None:
    parser = http.HTTPParser()
    session = web_session()
    for _ in range(200):
        parser.data(session, b"X" * 1000, 0)
    parser.data(session, b"GET / HTTP/1.1\r\n" + b"A: " + b"b" * 100_000, 0)
    assert all(len(side.buf) <= http.MAX_HEADER for side in (parser.side0, parser.side1) if side is not None)
    assert parser.side0 is not None and parser.side0.state == http.FAILED


@pytest.mark.parametrize("response", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 99999 OK\r\n\r\n", b"HTTP/x.y 200 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"\x00\xff" * 5000,
])
def test_hostile_responses_do_not_raise(response: bytes) -> None:
    f = run(GET, response)
    assert f["http.method"] == ["GET"]


def test_header_names_are_checked_the_same_when_remembered() -> None:
    """Valid names are remembered; a name with a non-token byte fails its side every time, short
    or longer than the names remembered."""
    long_name = b"X-" + b"a" * 60
    for _ in range(3):
        f = run(b"GET / HTTP/1.1\r\nHost: h\r\nX-Ok: 1\r\n" + long_name + b": 2\r\n\r\n")
        assert f["http.host"] == ["h"] and "x-ok" in f["http.requestHeader"]
        for bad in (b"X Bad", b"X-Bad(", long_name + b"@"):
            f = run(GET, b"HTTP/1.1 200 OK\r\n" + bad + b": v\r\nContent-Length: 0\r\n\r\n")
            assert "http.statuscode" not in f  # the response side failed at that line


def test_random_bytes_never_raise() -> None:
    rng = random.Random(7)
    for _ in range(300):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        prefix = rng.choice([b"", b"GET / HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n", GET])
        run([prefix, junk, junk], [junk, prefix])


# --- the whole packet path: packets -> session table -> detection -> parser -> document ----------

def test_exchange_through_the_session_table() -> None:
    doc = flat_document(converse([(0, GET), (1, OK)], port2=8080))
    assert doc["protocol"] == ["http", "tcp"]
    assert doc["http.method"] == ["GET"] and doc["http.statuscode"] == [200]
    assert doc["http.uri"] == ["example.com:8080/a/b?x=1&y=%41%42&z"]
    assert doc["http.md5"] == [hashlib.md5(b"<html>hi</html>").hexdigest()]
    assert doc["client.bytes"] == len(GET) and doc["server.bytes"] == len(OK)


def test_one_byte_segments_match_one_segment() -> None:
    whole = converse([(0, GET), (1, OK)]).fields
    conversation = Conversation()
    conversation.send(0, GET[:4])  # detection sees the first segment only: it must hold the method
    for i in range(4, len(GET)):
        conversation.send(0, GET[i:i + 1])
    for i in range(len(OK)):
        conversation.send(1, OK[i:i + 1])
    (session,) = conversation.close()
    for key in ("http.method", "http.uri", "http.md5", "http.statuscode", "http.requestHeaderValue"):
        assert session.fields[key] == whole[key], key


def test_detected_on_sctp_but_not_on_udp() -> None:
    conversation = Conversation(132, 40000, 80)
    (session,) = conversation.send(0, sctp_data(GET)).close()
    assert "http" in session.protocols and session.fields["http.method"] == ["GET"]
    session = converse([(0, b"NOTIFY * HTTP/1.1\r\nHost: h\r\n\r\n")], proto=17, port1=40000, port2=1900)
    assert "http" not in session.protocols and "http.method" not in session.fields


@pytest.mark.parametrize("response", [
    b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"\x00\xff" * 5000,
])
def test_hostile_response_through_the_session_table(response: bytes) -> None:
    session = converse([(0, GET), (1, response)])  # close() fails on any parser failure
    assert session.fields["http.method"] == ["GET"] and "http" in session.protocols


# --- real captures -----------------------------------------------------------------------------

def _http_of(name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    pipeline.parse_capture(str(PCAPS / name), Settings(),
                           lambda s: found.append(dict(s.fields)) if "http" in s.protocols else None)
    return found


def _expected(name: str) -> list[dict[str, Any]]:
    docs = json.loads((PCAPS / name).read_text())["sessions3"]
    return [d["body"]["http"] for d in docs if "http" in d["body"]]


needs_pcaps = pytest.mark.skipif(not PCAPS.is_dir(), reason="Arkime test captures not present")


@needs_pcaps
@pytest.mark.parametrize("name", ["http-simple-get", "http-content-gzip", "http-post-upload", "http-basicauth",
                                  "http-100-continue", "wireshark-retrans"])
def test_real_capture_matches_arkime(name: str) -> None:
    got = _http_of(name + ".pcap")
    want = _expected(name + ".test")
    assert len(got) == len(want) == 1
    for key, value in want[0].items():
        path = "http." + key
        if key.endswith("Cnt") or path not in fields.BY_PATH or key.startswith("xff"):
            continue
        assert sorted(map(str, got[0][path] if isinstance(value, list) else [got[0][path]])) == sorted(
            map(str, value if isinstance(value, list) else [value])), key


@needs_pcaps
def test_websocket_capture_is_named_as_arkime_names_it() -> None:
    sessions: list[Session] = []
    pipeline.parse_capture(str(PCAPS / "websocket.pcap"), Settings(), sessions.append)
    assert [list(s.protocols) for s in sessions if s.port2 == 12345] == [["tcp", "http", "websocket"]]


@needs_pcaps
def test_gzip_body_hashed_as_transferred() -> None:
    got = _http_of("http-content-gzip.pcap")[0]
    assert got["http.bodyMagic"] == ["application/x-gzip"]
    assert got["http.md5"] == ["5ff7b2c69c3b22826a717cd5ea4c9f32"]
