"""HTTP/2 in clear text: header blocks (HPACK) and DATA frames read into the http.* fields.

The corpus capture is checked against the document Arkime wrote for it; conversations built with
hpack's encoder go through the whole packet path (segments split anywhere, padding, CONTINUATION,
push promises, resets); truncated and hostile frames never raise and keep what was read.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
from typing import Any

import hpack
import pytest
from conftest import CORPUS, corpus_sessions
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionkit import attach, converse, finish, flat_document, new_session

from appliance.protocols import http2

HEADERS, DATA, CONTINUATION, PUSH_PROMISE, RST_STREAM, SETTINGS = 1, 0, 9, 5, 3, 4
END_STREAM, END_HEADERS, PADDED, PRIORITY = 0x1, 0x4, 0x8, 0x20


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack("!I", len(payload))[1:] + bytes([kind, flags]) + struct.pack("!I", stream) + payload


def request(encoder: hpack.Encoder, stream: int, path: str = "/", extra: list[tuple[str, str]] | None = None,
            end: bool = True) -> bytes:
    block = encoder.encode([(":method", "GET"), (":scheme", "http"), (":authority", "h2.example:8080"),
                            (":path", path), ("user-agent", "curl/8.5"), *(extra or [])])
    return frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), stream, block)


def response(encoder: hpack.Encoder, stream: int, body: bytes, status: str = "200") -> bytes:
    block = encoder.encode([(":status", status), ("content-type", "text/plain"), ("server", "h2d")])
    return frame(HEADERS, END_HEADERS, stream, block) + frame(DATA, END_STREAM, stream, body)


def through_table(client: bytes, server: bytes, cut: int = 1400) -> dict[str, Any]:
    """Both byte streams as TCP segments of at most ``cut`` bytes, client first; the document.

    The preface stays whole in the first segment: detection, Arkime's too, reads a side's first
    segment only (and clients send the preface in one)."""
    head = len(http2.PREFACE) if client.startswith(http2.PREFACE) else 0
    chunks = [(0, client[:head])] if head else []
    chunks += [(0, client[i:i + cut]) for i in range(head, len(client), cut)]
    chunks += [(1, server[i:i + cut]) for i in range(0, len(server), cut)]
    return flat_document(converse(chunks, port2=8080))


def fed(chunks: list[tuple[bytes, int]]) -> tuple[http2.Http2Parser, dict[str, Any]]:
    """An Http2Parser fed ``(bytes, direction)`` directly; its session's fields after finish."""
    session = new_session(port2=8080)
    parser = attach(session, http2.Http2Parser())
    for data, direction in chunks:
        parser.data(session, data, direction)
    return parser, finish(session)


# --- the corpus capture -------------------------------------------------------------------------------
def test_capture_matches_arkime() -> None:
    (session,) = [s for s in corpus_sessions("http2-nghttp2") if "http2" in s.protocols]
    expected = json.loads((CORPUS / "http2-nghttp2.test").read_text())["sessions3"][0]["body"]["http"]
    for name in ("host", "method", "path", "statuscode", "useragent", "md5", "sha256", "requestHeader",
                 "responseHeader", "requestHeaderField", "requestHeaderValue", "responseHeaderField",
                 "responseHeaderValue", "uri", "clientVersion"):
        assert sorted(session.fields["http." + name]) == sorted(expected[name]), name


# --- conversations through the packet path ------------------------------------------------------------
def test_requests_and_responses() -> None:
    enc_c, enc_s = hpack.Encoder(), hpack.Encoder()
    client = (http2.PREFACE + frame(SETTINGS, 0, 0, b"") + request(enc_c, 1, "/a?x=1&y=two")
              + request(enc_c, 3, "/b", [("cookie", "sid=42")]))
    server = (frame(SETTINGS, 0, 0, b"") + response(enc_s, 1, b"first body")
              + response(enc_s, 3, b"second" * 1000, "404"))
    doc = through_table(client, server)
    assert {"http", "http2"} <= set(doc["protocol"])
    assert doc["http.host"] == ["h2.example"]
    assert set(doc["http.method"]) == {"GET", "PRI"}
    assert doc["http.path"] == ["/a", "/b"]
    assert doc["http.key"] == ["x", "y"] and doc["http.value"] == ["1", "two"]
    assert doc["http.cookieKey"] == ["sid"]
    assert sorted(doc["http.statuscode"]) == [200, 404]
    assert doc["http.useragent"] == ["curl/8.5"]
    assert set(doc["http.responseHeader"]) == {"content-type", "server"}
    assert sorted(doc["http.md5"]) == sorted(hashlib.md5(b).hexdigest() for b in (b"first body", b"second" * 1000))
    assert sorted(doc["http.sha256"]) == sorted(hashlib.sha256(b).hexdigest()
                                                for b in (b"first body", b"second" * 1000))


@pytest.mark.parametrize("cut", [1, 7, 9, 10, 100])
def test_segments_cut_anywhere_give_the_same_fields(cut: int) -> None:
    enc_c, enc_s = hpack.Encoder(), hpack.Encoder()
    client = http2.PREFACE + request(enc_c, 1, "/x") + request(enc_c, 3, "/y")
    server = response(enc_s, 1, b"a" * 3000) + response(enc_s, 3, b"b" * 50)
    whole = through_table(client, server)
    cut_up = through_table(client, server, cut)
    for path in ("http.path", "http.md5", "http.statuscode", "http.host", "http.responseHeader"):
        assert sorted(cut_up[path]) == sorted(whole[path]), path


def test_padding_priority_and_continuation() -> None:
    enc_c, enc_s = hpack.Encoder(), hpack.Encoder()
    block = enc_c.encode([(":method", "POST"), (":path", "/upload"), (":authority", "pad.example"),
                          ("x-long", "v" * 300)])
    headers = frame(HEADERS, PADDED | PRIORITY, 1, bytes([4]) + bytes(5) + block[:10] + bytes(4))
    headers += frame(CONTINUATION, 0, 1, block[10:100]) + frame(CONTINUATION, END_HEADERS, 1, block[100:])
    body = b"uploaded bytes"
    data = frame(DATA, PADDED | END_STREAM, 1, bytes([6]) + body + bytes(6))
    reply = response(enc_s, 1, b"ok")
    doc = through_table(http2.PREFACE + headers + data, reply)
    assert doc["http.method"] == ["PRI", "POST"] and doc["http.path"] == ["/upload"]
    assert doc["http.host"] == ["pad.example"]
    assert "x-long" in doc["http.requestHeader"]
    assert sorted(doc["http.md5"]) == sorted(hashlib.md5(b).hexdigest() for b in (body, b"ok"))


def test_an_empty_body_ended_by_an_empty_data_frame_is_hashed() -> None:
    """A POST whose body is one empty DATA frame with END_STREAM: the MD5 of nothing, as Arkime
    writes it; a response ended by its HEADERS frame has no body and no digest."""
    enc_c, enc_s = hpack.Encoder(), hpack.Encoder()
    client = http2.PREFACE + request(enc_c, 1, "/empty", end=False) + frame(DATA, END_STREAM, 1, b"")
    server = frame(HEADERS, END_HEADERS | END_STREAM, 1, enc_s.encode([(":status", "204")]))
    _, fields = fed([(client, 0), (server, 1)])
    assert fields["http.md5"] == [hashlib.md5(b"").hexdigest()]
    assert fields["http.statuscode"] == [204]


def test_push_promise_headers_are_the_servers() -> None:
    enc_c, enc_s = hpack.Encoder(), hpack.Encoder()
    promise = enc_s.encode([(":method", "GET"), (":path", "/style.css"), (":authority", "h2.example"),
                            ("accept-encoding", "gzip")])
    server = frame(PUSH_PROMISE, END_HEADERS, 1, struct.pack("!I", 2) + promise) + response(enc_s, 2, b"css")
    doc = through_table(http2.PREFACE + request(enc_c, 1), server)
    assert "/style.css" in doc["http.path"]
    assert "accept-encoding" in doc["http.responseHeader"]
    assert "accept-encoding" not in doc.get("http.requestHeader", [])
    assert doc["http.md5"] == [hashlib.md5(b"css").hexdigest()]


def test_a_reset_stream_gives_no_digest_and_streams_are_bounded() -> None:
    enc_c = hpack.Encoder()
    client = http2.PREFACE + b"".join(request(enc_c, 1 + 2 * i) for i in range(40))
    server = frame(DATA, 0, 1, b"partial") + frame(RST_STREAM, 0, 1, bytes(4)) + frame(DATA, END_STREAM, 1, b"x")
    # 40 streams open at once, each answered: only MAX_STREAMS of them can be hashed at a time.
    server += b"".join(frame(DATA, 0, 3 + 2 * i, b"body%d" % i) for i in range(39))
    session = new_session(port2=8080)
    parser = attach(session, http2.Http2Parser())
    parser.data(session, client, 0)
    parser.data(session, server, 1)
    assert "http.md5" not in finish(session)
    assert len(parser.streams) <= http2.MAX_STREAMS
    assert session.tags is not None and "http2:data-frame-after-close" in session.tags


# --- truncated and hostile input ----------------------------------------------------------------------
def test_a_bad_header_block_stops_that_sides_headers_only() -> None:
    enc_c, enc_s = hpack.Encoder(), hpack.Encoder()
    bad = frame(HEADERS, END_HEADERS, 1, b"\xff\xff\xff\xff\x0f")  # an index far past any table
    client = http2.PREFACE + bad + request(enc_c, 3, "/after")
    parser, fields = fed([(client, 0), (response(enc_s, 3, b"still read"), 1)])
    assert "/after" not in fields.get("http.path", [])
    assert fields["http.md5"] == [hashlib.md5(b"still read").hexdigest()]
    assert fields["http.statuscode"] == [200]


def test_oversized_frame_ends_the_side() -> None:
    enc_s = hpack.Encoder()
    client = http2.PREFACE + b"\xff\xff\xff" + bytes([SETTINGS, 0]) + bytes(4) + bytes(20)
    parser, fields = fed([(client, 0), (response(enc_s, 1, b"x"), 1)])
    assert parser.failed == [True, False]
    assert fields["http.statuscode"] == [200]


def test_truncated_frames_keep_what_was_read() -> None:
    enc_c, enc_s = hpack.Encoder(), hpack.Encoder()
    client = http2.PREFACE + request(enc_c, 1, "/kept") + request(enc_c, 3, "/cut")[:-2]
    server = response(enc_s, 1, b"abc")[:-2]
    _, fields = fed([(client, 0), (server, 1)])
    assert fields["http.path"] == ["/kept"]
    assert "http.md5" not in fields  # the body never ended


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=200), st.integers(0, 1)), max_size=12))
def test_random_frames_never_raise(chunks: list[tuple[bytes, int]]) -> None:
    fed([(http2.PREFACE, 0), *chunks])


@pytest.mark.parametrize("seed", range(10))
def test_mutated_conversations_never_raise(seed: int) -> None:
    rng = random.Random(seed)
    enc_c, enc_s = hpack.Encoder(), hpack.Encoder()
    client = bytearray(http2.PREFACE + request(enc_c, 1, "/m") + request(enc_c, 3, "/n"))
    server = bytearray(response(enc_s, 1, b"m" * 500) + response(enc_s, 3, b"n"))
    for data in (client, server):
        for _ in range(8):
            data[rng.randrange(24 if data is client else 0, len(data))] = rng.randrange(256)
    fed([(bytes(client[i:i + 50]), 0) for i in range(0, len(client), 50)]
        + [(bytes(server[i:i + 50]), 1) for i in range(0, len(server), 50)])
