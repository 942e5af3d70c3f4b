"""The DNS parser: real captures, hand-built messages, truncated and hostile input."""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionkit import converse, flat_document, new_session, tags_of

from appliance import fields
from appliance.pipeline import parse_capture
from appliance.protocols import dns
from appliance.sessions import Session
from appliance.settings import Settings

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "pcaps" / "arkime"




def dns_session(proto: int = 17, port1: int = 40000, port2: int = 53) -> Session:
    """A real session to a name server (UDP unless ``proto`` says otherwise)."""
    return new_session(proto, port1, port2)


# --- message building -----------------------------------------------------------------------

def name(text: str) -> bytes:
    out = b""
    for label in text.split(".") if text else []:
        raw = label.encode()
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def header(uid: int = 0x1234, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!6H", uid, flags, qd, an, ns, ar)


def question(host: str, qtype: int = 1, qclass: int = 1) -> bytes:
    return name(host) + struct.pack("!HH", qtype, qclass)


def rr(owner: bytes, rtype: int, rdata: bytes, ttl: int = 300, rclass: int = 1) -> bytes:
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


PTR_QNAME = b"\xc0\x0c"  # a pointer to the question name (right after the header)


def response(host: str, records: list[bytes], qtype: int = 1, flags: int = 0x8180, **counts: int) -> bytes:
    an = counts.pop("an", len(records))
    return header(flags=flags, an=an, **counts) + question(host, qtype) + b"".join(records)


def run(*messages: bytes, session: Session | None = None) -> list[dict[str, Any]]:
    """Messages alternately from client and server into the parser on a real session."""
    session = session or dns_session()
    parser = dns.DnsParser()
    for i, message in enumerate(messages):
        parser.data(session, message, i % 2)
    parser.finish(session)
    return session.fields.get("dns", [])


# --- real captures --------------------------------------------------------------------------

def sessions_of(pcap: str) -> list[Any]:
    path = CORPUS / pcap
    if not path.exists():
        pytest.skip(f"{pcap} not available")
    out: list[Any] = []
    parse_capture(str(path), Settings(), out.append)
    return out


def test_udp_capture() -> None:
    found = [s for s in sessions_of("dns-udp.pcap") if "dns" in s.fields]
    assert found and all("dns" in s.protocols for s in found)
    first = found[0].fields["dns"][0]
    assert first["queryHost"] == "www.github.com"
    assert first["qt"] == "A" and first["qc"] == "IN" and first["status"] == "NOERROR"
    assert set(first["host"]) == {"github.com", "www.github.com"}
    assert set(first["nameserverHost"]) == {f"ns{i}.p16.dynect.net" for i in range(1, 5)}
    assert first["nameserverIp"] == ["10.2.95.12"]
    assert first["answersCnt"] == 10 and first["answers"][0]["cname"] == "github.com"
    assert set(first["headerFlags"]) == {"RA", "RD"}


def test_tcp_capture() -> None:
    found = [s for s in sessions_of("dns-tcp.pcap") if "dns" in s.fields]
    assert found and all(s.proto == 6 and "dns" in s.protocols for s in found)


def test_https_capture() -> None:
    found = [s for s in sessions_of("dns-https.pcap") if "dns" in s.fields]
    answers = [a for s in found for q in s.fields["dns"] for a in q.get("answers", [])]
    assert any(a.get("https", "").startswith("HTTPS 1 . alpn=h3,h2 ipv4hint=") for a in answers)


def test_documents_nest_with_count() -> None:
    found = [s for s in sessions_of("dns-mx.pcap") if "dns" in s.fields]
    doc = fields.nest({"dns": found[0].fields["dns"]})
    assert doc["dnsCnt"] == len(doc["dns"])
    assert any("mailserverHost" in q for s in found for q in s.fields["dns"])


# --- message level --------------------------------------------------------------------------

def test_query_and_response_share_one_object() -> None:
    query = header() + question("example.com")
    answer = response("example.com", [rr(PTR_QNAME, 1, bytes([10, 0, 0, 1]))])
    [obj] = run(query, answer)
    assert obj["queryHost"] == "example.com" and obj["host"] == ["example.com"]
    assert obj["ip"] == ["10.0.0.1"] and obj["ipCnt"] == 1
    assert obj["answers"] == [{"ip": "10.0.0.1", "class": "IN", "type": "A", "ttl": 300,
                               "name": "example.com"}]
    assert obj["headerFlags"] == ["RD", "RA"]


def test_query_only_has_no_status() -> None:
    [obj] = run(header() + question("a.example", qtype=255))
    assert obj == {"opcode": "QUERY", "queryHost": "a.example", "qc": "IN", "qt": "ANY",
                   "host": ["a.example"], "hostCnt": 1}


def test_different_ids_make_different_objects() -> None:
    objs = run(header(uid=1) + question("x.org"), header(uid=2) + question("x.org"))
    assert len(objs) == 2


def test_record_types() -> None:
    records = [
        rr(PTR_QNAME, 5, name("cdn.example.net")),
        rr(name("cdn.example.net"), 28, bytes(15) + b"\1"),
        rr(PTR_QNAME, 2, name("ns1.example.com")),
        rr(name("ns1.example.com"), 1, bytes([192, 0, 2, 53])),
        rr(PTR_QNAME, 15, b"\0\x0a" + name("mx.example.com")),
        rr(PTR_QNAME, 16, b"\x05hello\x00\x05world"),
        rr(PTR_QNAME, 257, b"\x00\x05issueletsencrypt.org"),
        rr(PTR_QNAME, 6, b"\0" * 22),  # SOA: listed without rdata
        rr(PTR_QNAME, 48, b"\1\1\3\x08key"),  # DNSKEY: likewise
        rr(PTR_QNAME, 999, b"x"),  # unknown type: no "type" at all
    ]
    [obj] = run(response("example.com", records))
    answers = obj["answers"]
    assert answers[0]["cname"] == "cdn.example.net"
    assert answers[1]["ip"] == "::1"
    assert answers[2]["nameserver"] == "ns1.example.com"
    assert answers[4] == {"priority": 10, "mx": "mx.example.com", "class": "IN", "type": "MX",
                          "ttl": 300, "name": "example.com"}
    assert answers[5]["txt"] == ["hello", "world"]
    assert answers[6]["caa"] == "CAA 0 issue letsencrypt.org"
    assert answers[7]["type"] == "SOA" and answers[8]["type"] == "DNSKEY"
    assert "type" not in answers[9]
    assert set(obj["host"]) == {"example.com", "cdn.example.net"}
    assert obj["ip"] == ["0000:0000:0000:0000:0000:0000:0000:0001"]
    assert obj["nameserverHost"] == ["ns1.example.com"] and obj["nameserverIp"] == ["192.0.2.53"]
    assert obj["mailserverHost"] == ["mx.example.com"]


def test_https_record() -> None:
    rdata = (b"\0\1\0" + b"\0\1\0\x06\x02h2\x02h3" + b"\0\3\0\2\x01\xbb"
             + b"\0\4\0\x08" + bytes([192, 0, 2, 1, 192, 0, 2, 2]) + b"\0\6\0\x10" + bytes(15) + b"\1")
    [obj] = run(response("svc.example", [rr(PTR_QNAME, 65, rdata)], qtype=65))
    assert obj["answers"][0]["https"] == ("HTTPS 1 . alpn=h2,h3 port=443 "
                                          "ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=::1")


def test_dnssec_records() -> None:
    rrsig = struct.pack("!HBBIIIH", 1, 13, 2, 3600, 2000, 1000, 7) + name("example.com")
    nsec = name("next.example.com") + b"\0\x01\x40"  # window 0: bit 1 = A
    ds = struct.pack("!HBB", 5, 13, 2) + b"\xab\xcd"
    records = [rr(PTR_QNAME, 46, rrsig), rr(PTR_QNAME, 47, nsec), rr(PTR_QNAME, 43, ds)]
    [obj] = run(response("example.com", records))
    got = [a.get("rrsig") or a.get("nsec") or a.get("ds") for a in obj["answers"]]
    assert got == ["RRSIG A 13 2 3600 2000 1000 7 example.com", "NSEC next.example.com A",
                   "DS 5 13 2 ABCD"]


def test_edns_extended_rcode() -> None:
    opt = b"\0" + struct.pack("!HHIH", 41, 4096, 0x01000000, 0)
    [obj] = run(response("e.example", [opt], an=0, ar=1))
    assert obj["status"] == "BADSIG_VERS" and obj["answersCnt"] == 0


def test_non_in_class_is_skipped() -> None:
    [obj] = run(response("c.example", [rr(PTR_QNAME, 1, b"\1\2\3\4", rclass=3)]))
    assert obj["answersCnt"] == 0 and "ip" not in obj


def test_root_query_and_answer_name() -> None:
    [obj] = run(response("", [rr(b"\0", 6, b"")], qtype=2))
    assert obj["queryHost"] == "<root>" and "host" not in obj
    assert obj["answers"][0]["name"] == "<root>"


def test_punycode() -> None:
    [obj] = run(header() + question("xn--nxasmq5b.com"))
    assert obj["queryHost"] == "\u03cc\u03b2\u03bb\u03bf\u03c3.com"
    assert obj["puny"] == ["xn--nxasmq5b.com"]
    session = dns_session()
    assert run(header() + question("xn--a-ecp.xn--!!"), session=session) == []
    assert "bad-punycode" in tags_of(session)


def test_punycode_decoder_matches_rfc_samples() -> None:
    assert dns.to_unicode("xn--bcher-kva.example") == "b\u00fccher.example"
    assert dns.to_unicode("XN--bcher-kva") == "b\u00fccher"
    assert dns.to_unicode("plain.example") == "plain.example"
    assert dns.to_unicode("xn--99999999999") is None


def test_label_bytes_printed_like_arkime() -> None:
    [obj] = run(header() + b"\x03a\x01\xff\0" + struct.pack("!HH", 1, 1))
    assert obj["queryHost"] == "a^AM-^?"


def test_ntop6() -> None:
    assert dns.ntop6(bytes(12) + bytes([1, 2, 3, 4])) == "::1.2.3.4"
    assert dns.ntop6(bytes(10) + b"\xff\xff" + bytes([1, 2, 3, 4])) == "1.2.3.4"
    assert dns.ntop6(bytes.fromhex("20010db8000000000000000000000001")) == "2001:db8::1"


def test_opcode_and_qdcount_rules() -> None:
    session = dns_session()
    run(header(flags=0x3000) + question("x.example"), session=session)  # opcode 6
    assert session.protocols == ("udp",)  # a real session starts with its transport
    run(header(qd=2) + question("x.example") + question("y.example"), session=session)
    assert session.protocols == ("udp", "dns") and "dns:qdcount-not-1" in tags_of(session)
    assert "dns" not in session.fields


# --- detection ------------------------------------------------------------------------------

def test_detect() -> None:
    message = header() + question("example.com")
    assert dns.detect(dns_session(), message, 0)
    assert not dns.detect(dns_session(), message[:16], 0)
    assert not dns.detect(dns_session(port1=1000, port2=2000), message, 0)
    assert dns.detect(dns_session(proto=6), b"", 0)
    assert not dns.detect(dns_session(proto=6, port1=53, port2=40000), b"x", 0)
    assert dns.detect_multicast(dns_session(port1=5353, port2=5353), message, 0)
    assert not dns.detect_multicast(dns_session(port1=5353, port2=53), message, 0)


def test_mdns_without_question() -> None:
    session = dns_session(port1=5353, port2=5353)
    parser = dns.DnsParser("mdns")
    message = header(flags=0x8400, qd=0, an=1) + rr(name("host.local"), 1, b"\1\2\3\4", rclass=0x8001)
    parser.data(session, message, 0)
    parser.finish(session)
    [obj] = session.fields["dns"]
    assert session.protocols == ("udp", "mdns") and obj["queryHost"] == "<root>" and "qt" not in obj
    assert obj["answers"][0]["ip"] == "1.2.3.4"


# --- TCP framing ----------------------------------------------------------------------------

def framed(message: bytes) -> bytes:
    return struct.pack("!H", len(message)) + message


def test_tcp_split_and_joined_messages() -> None:
    session = dns_session(proto=6)
    parser = dns.DnsParser()
    query = framed(header() + question("t.example"))
    answer = framed(response("t.example", [rr(PTR_QNAME, 1, b"\1\1\1\1")]))
    for i in range(len(query)):  # one byte at a time
        parser.data(session, query[i:i + 1], 0)
    parser.data(session, answer + framed(header(uid=9) + question("u.example")), 1)
    parser.finish(session)
    objs = session.fields["dns"]
    assert [o["queryHost"] for o in objs] == ["t.example", "u.example"]
    assert objs[0]["ip"] == ["1.1.1.1"]


def test_tcp_short_length_stops_parsing() -> None:
    session = dns_session(proto=6)
    parser = dns.DnsParser()
    parser.data(session, b"\0\x05hello", 0)
    parser.data(session, framed(header() + question("late.example")), 0)
    parser.finish(session)
    assert "dns" not in session.fields and parser.dead


def test_tcp_buffer_is_bounded() -> None:
    session = dns_session(proto=6)
    parser = dns.DnsParser()
    parser.data(session, b"\xff\xff" + bytes(200), 0)  # too long to buffer: skipped
    assert "dns:tcp-message-too-long" in tags_of(session)
    assert len(parser.bufs[0]) == 0 and parser.skipping[0] > 0
    parser.data(session, bytes(70000), 0)
    assert len(parser.bufs[0]) <= dns.TCP_BUF_MAX


# --- the whole packet path: packets -> session table -> detection -> parser -> document -------

def test_udp_exchange_through_the_session_table() -> None:
    query = header() + question("example.com")
    answer = response("example.com", [rr(PTR_QNAME, 1, bytes([10, 0, 0, 1]))])
    doc = flat_document(converse([(0, query), (1, answer)], proto=17, port2=53))
    assert doc["protocol"] == ["dns", "udp"]
    [obj] = doc["dns"]
    assert obj["queryHost"] == "example.com" and obj["ip"] == ["10.0.0.1"] and obj["status"] == "NOERROR"


def test_tcp_exchange_split_over_segments() -> None:
    query = framed(header() + question("t.example"))
    answer = framed(response("t.example", [rr(PTR_QNAME, 1, b"\1\1\1\1")]))
    doc = flat_document(converse([(0, query[:5]), (0, query[5:]), (1, answer)], proto=6, port2=53))
    assert doc["protocol"] == ["dns", "tcp"]
    assert [o["queryHost"] for o in doc["dns"]] == ["t.example"] and doc["dns"][0]["ip"] == ["1.1.1.1"]


def test_mdns_through_the_session_table() -> None:
    message = header(flags=0x8400, qd=0, an=1) + rr(name("host.local"), 1, b"\1\2\3\4", rclass=0x8001)
    doc = flat_document(converse([(0, message)], proto=17, port1=5353, port2=5353, server="224.0.0.251"))
    assert "mdns" in doc["protocol"] and doc["dns"][0]["answers"][0]["ip"] == "1.2.3.4"


def test_hostile_datagram_on_port_53_is_not_named_dns() -> None:
    doc = flat_document(converse([(0, b"\xff" * 11), (1, b"\x00" * 3)], proto=17, port2=53))
    assert doc["protocol"] == ["udp"] and "dns" not in doc


# --- hostile input --------------------------------------------------------------------------

def test_pointer_loop_is_tagged() -> None:
    session = dns_session()
    message = header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1)  # points at itself
    assert run(message, session=session) == []
    assert "dns:bad-pointer-loop" in tags_of(session)


def test_pointer_out_of_message() -> None:
    message = response("p.example", [rr(b"\xff\xff", 1, b"\1\2\3\4")])
    [obj] = run(message)
    assert obj["answersCnt"] == 0


def test_pointer_chain_in_answers() -> None:
    # An answer whose name points at a pointer that points back: must end, not hang.
    body = question("loop.example")
    records = rr(b"\xc0\x1e", 1, b"\1\2\3\4") + rr(b"\xc0\x2c", 1, b"\1\2\3\4")
    message = header(flags=0x8180, an=2) + body + records
    run(message)


def test_absurd_counts_and_lengths() -> None:
    message = response("big.example", [rr(PTR_QNAME, 16, b"\xff" * 4)], an=0xFFFF, ns=0xFFFF, ar=0xFFFF)
    [obj] = run(message)
    assert obj["status"] == "NOERROR"
    huge = header(flags=0x8180, an=1) + question("h.example") + PTR_QNAME + struct.pack("!HHIH", 1, 1, 0, 0xFFFF)
    assert run(huge)[0]["answersCnt"] == 0


def test_every_truncation() -> None:
    records = [rr(PTR_QNAME, 5, name("c.example")), rr(PTR_QNAME, 16, b"\3abc"),
               rr(PTR_QNAME, 65, b"\0\1\0\0\1\0\2\1x"), rr(PTR_QNAME, 257, b"\0\5issuex")]
    full = response("trunc.example", records)
    for cut in range(len(full)):
        run(full[:cut])


def test_random_bytes_never_raise() -> None:
    rnd = random.Random(7)
    base = response("r.example", [rr(PTR_QNAME, 1, b"\1\2\3\4"), rr(PTR_QNAME, 65, b"\0\1\0")])
    for _ in range(2000):
        message = bytearray(base)
        for _ in range(rnd.randint(1, 8)):
            message[rnd.randrange(len(message))] = rnd.randrange(256)
        run(bytes(message))
        run(bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 80))))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_hypothesis_messages(data: bytes) -> None:
    run(header(flags=0x8180, an=3, ns=1, ar=1) + data)
    session = dns_session(proto=6)
    parser = dns.DnsParser()
    parser.data(session, data, 0)
    parser.finish(session)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=120))
def test_hypothesis_svcb(data: bytes) -> None:
    text = dns.svcb_text(data)
    assert text is None or text.startswith("HTTPS ")
