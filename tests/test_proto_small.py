"""The small parsers: SSH, DHCP/DHCPv6, NTP, mail (SMTP/IMAP/POP3) and ARP.

Real captures from Arkime's test suite go through the whole pipeline and are checked against
the values Arkime wrote; built exchanges go through the session table as packets; byte-level
tests call the parsers directly on real sessions, including truncated and hostile input, which
must never raise.
"""

from __future__ import annotations

import base64
import hashlib
import random
import struct
from pathlib import Path
from typing import Any

import pytest
from pcapgen import ETH_ARP, ethernet, ipv4, udp
from sessionkit import converse, decode, flat_document, new_session, session_of, table_sessions, tags_of
from test_proto_tls import client_hello, handshake, record

from appliance import pipeline
from appliance.decode import Frame
from appliance.protocols import AppLayer, arp, dhcp, email, ntp, ssh
from appliance.sessions import Session
from appliance.settings import Settings

PCAPS = Path(__file__).resolve().parents[2] / "shared" / "pcaps" / "arkime"
needs_pcaps = pytest.mark.skipif(not PCAPS.is_dir(), reason="Arkime test captures not present")


# Real sessions on each protocol's usual ports (client first).
def ssh_session() -> Session:
    return new_session(6, 40000, 22)


def mail_session(port: int = 25) -> Session:
    return new_session(6, 40000, port)


def dhcp_session() -> Session:
    return new_session(17, 68, 67)


def dhcpv6_session() -> Session:
    return new_session(17, 546, 547, "fe80::1", "ff02::1:2")


def ntp_session() -> Session:
    return new_session(17, 40000, 123)


SESSION_FOR = {ssh.SSHParser: ssh_session, dhcp.DHCPParser: dhcp_session, dhcp.DHCPv6Parser: dhcpv6_session,
               ntp.NTPParser: ntp_session, email.SMTPParser: mail_session,
               email.IMAPParser: lambda: mail_session(143), email.POP3Parser: lambda: mail_session(110)}


def run(parser: Any, chunks: list[tuple[int, bytes]], session: Session | None = None) -> Session:
    """``(direction, bytes)`` chunks into the parser, then its finish; on a real session of its protocol."""
    session = session or SESSION_FOR[type(parser)]()
    for direction, data in chunks:
        parser.data(session, data, direction)
    parser.finish(session)
    return session


def sessions_of(name: str) -> list[Any]:
    out: list[Any] = []
    pipeline.parse_capture(str(PCAPS / name), Settings(), out.append)
    return out


def by_port(sessions: list[Any], port: int) -> Any:
    return next(s for s in sessions if port in (s.port1, s.port2))


HOSTILE = [b"", b"\x00", b"\xff" * 7, b"\x00\x00\x00\x05\x00\x14", b"\xff\xff\xff\xff" * 20,
           bytes(range(256)) * 3]


def random_blobs(count: int = 200, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 600))) for _ in range(count)]


# --- SSH ------------------------------------------------------------------------------------

def name_list(*names: str) -> bytes:
    text = ",".join(names).encode()
    return struct.pack(">I", len(text)) + text


def ssh_packet(code: int, body: bytes) -> bytes:
    payload = bytes([code]) + body
    padding = 4
    return struct.pack(">IB", len(payload) + padding + 1, padding) + payload + b"\x00" * padding


def kexinit(enc_c2s: str, enc_s2c: str) -> bytes:
    lists = [name_list("curve25519-sha256"), name_list("ssh-ed25519"), name_list(enc_c2s),
             name_list(enc_s2c), name_list("hmac-sha2-256"), name_list("hmac-sha1"),
             name_list("none"), name_list("zlib"), name_list(), name_list()]
    return ssh_packet(20, b"C" * 16 + b"".join(lists) + b"\x00" + b"\x00" * 4)


def test_ssh_versions_hassh_and_key() -> None:
    key = b"\x00\x00\x00\x0bssh-ed25519" + b"K" * 32
    chunks = [
        (0, b"SSH-2.0-OpenSSH_9.6\r\n"),
        (1, b"SSH-2.0-Test_Server\n"),
        (0, kexinit("aes128-ctr", "aes256-ctr")),
        (1, kexinit("chacha20", "aes192-ctr")),
        (1, ssh_packet(33, struct.pack(">I", len(key)) + key)),
    ]
    session = run(ssh.SSHParser(), chunks)
    assert session.fields["ssh.version"] == ["ssh-2.0-openssh_9.6", "ssh-2.0-test_server"]
    client = b"curve25519-sha256;aes128-ctr;hmac-sha2-256;none"
    server = b"curve25519-sha256;aes192-ctr;hmac-sha1;zlib"
    assert session.fields["ssh.hassh"] == [hashlib.md5(client).hexdigest()]
    assert session.fields["ssh.hasshServer"] == [hashlib.md5(server).hexdigest()]
    assert session.fields["ssh.key"] == [base64.b64encode(key).decode()]


def test_ssh_packets_split_across_chunks() -> None:
    packet = kexinit("aes128-ctr", "aes256-ctr")
    chunks = [(0, b"SSH-2.0-x\r\n")] + [(0, packet[i:i + 20]) for i in range(0, len(packet), 20)]
    assert "ssh.hassh" in run(ssh.SSHParser(), chunks).fields


def test_ssh_skips_the_sixteenth_chunk_like_arkime() -> None:
    # Arkime's reverse-shell check swallows the chunk on which it decides.
    packet = kexinit("aes128-ctr", "aes256-ctr")
    chunks = [(0, b"SSH-2.0-x\r\n")] + [(0, packet[i:i + 7]) for i in range(0, len(packet), 7)]
    assert len(chunks) > 16
    assert "ssh.hassh" not in run(ssh.SSHParser(), chunks).fields


def test_ssh_detect() -> None:
    assert ssh.detect(ssh_session(), b"SSH-2.0-x\r\n", 0)
    assert not ssh.detect(ssh_session(), b"GET / HTTP/1.1", 0)


def test_ssh_truncated_and_absurd_lengths() -> None:
    packet = kexinit("a", "b")
    for cut in range(len(packet)):
        session = run(ssh.SSHParser(), [(0, b"SSH-2.0-x\n"), (0, packet[:cut])])
        assert "ssh.hassh" not in session.fields
    # A length beyond the reassembly buffer ends decoding instead of buffering for ever.
    parser = ssh.SSHParser()
    run(parser, [(0, b"\x7f\xff\xff\xff\x00\x14" + b"x" * 100)])
    assert parser.done and len(parser.buf[0]) <= ssh.MAX_BUFFER


@needs_pcaps
def test_ssh_capture() -> None:
    session = by_port(sessions_of("ssh2.pcap"), 22)
    assert "ssh" in session.protocols
    assert sorted(session.fields["ssh.version"]) == ["ssh-1.99-openssh_3.9p1", "ssh-2.0-openssh_5.3"]
    assert session.fields["ssh.hassh"] == ["21b457a327ce7a2d4fce5ef2c42400bd"]
    assert session.fields["ssh.hasshServer"] == ["f430cd6761697a6a658ee1d45ed22e49"]
    assert session.fields["ssh.key"][0].startswith("AAAAB3NzaC1yc2E")


# --- DHCP -----------------------------------------------------------------------------------

def dhcp_message(kind: int, xid: int = 0x3D1D, options: bytes = b"", op: int = 1) -> bytes:
    header = struct.pack(">BBBBI", op, 1, 6, 0, xid) + b"\x00" * 20
    header += bytes.fromhex("000b8201fc42") + b"\x00" * (202 + 0)
    body = header[:236] + dhcp.MAGIC + bytes([53, 1, kind]) + options + b"\xff"
    return body.ljust(300, b"\x00")


def test_dhcp_fields() -> None:
    options = (bytes([12, 5]) + b"MyBox" + bytes([50, 4, 192, 168, 0, 10]) + bytes([60, 8]) + b"MSFT 5.0"
               + bytes([61, 7, 1]) + bytes.fromhex("001122334455") + bytes([81, 7, 0, 0, 0]) + b"fqdn")
    session = run(dhcp.DHCPParser(), [(0, dhcp_message(1, options=options)), (1, dhcp_message(2, op=2))])
    fields = session.fields
    assert fields["dhcp.type"] == ["DISCOVER", "OFFER"]
    assert fields["dhcp.id"] == ["3d1d"]
    assert fields["dhcp.mac"] == ["00:0b:82:01:fc:42", "00:11:22:33:44:55"]
    assert fields["dhcp.host"] == ["mybox", "fqdn"]
    assert fields["dhcp.requestIp"] == ["192.168.0.10"]
    assert fields["dhcp.classId"] == ["MSFT 5.0"]


def test_dhcp_detect_needs_cookie_and_size() -> None:
    message = dhcp_message(1)
    assert dhcp.detect_v4(dhcp_session(), message, 0)
    assert not dhcp.detect_v4(dhcp_session(), message[:255], 0)
    assert not dhcp.detect_v4(dhcp_session(), message[:236] + b"xxxx" + message[240:], 0)


def test_dhcp_option_lengths_past_the_end() -> None:
    message = dhcp_message(1)[:243] + bytes([12, 200]) + b"short"
    session = run(dhcp.DHCPParser(), [(0, message.ljust(256, b"\x00"))])
    assert "dhcp.host" not in session.fields


def test_dhcpv6() -> None:
    solicit = bytes([1]) + b"\xaa\xbb\xcc" + struct.pack(">HH", 16, 6) + b"\x00\x00\x01\x37ab"
    relay = bytes([12, 0]) + b"\x00" * 32
    session = run(dhcp.DHCPv6Parser(), [(0, solicit), (0, relay), (0, b"\x01\x00")])
    assert session.fields["dhcp.type"] == ["SOLICIT", "RELAY_FORW"]
    assert session.fields["dhcp.id"] == ["aabbcc"]
    assert "dhcp.classId" in session.fields


@needs_pcaps
def test_dhcp_capture() -> None:
    session = sessions_of("wireshark-dhcp.pcap")[0]
    assert "dhcp" in session.protocols
    assert sorted(session.fields["dhcp.type"]) == ["ACK", "DISCOVER", "OFFER", "REQUEST"]
    assert sorted(session.fields["dhcp.id"]) == ["3d1d", "3d1e"]
    assert session.fields["dhcp.mac"] == ["00:0b:82:01:fc:42"]
    assert sorted(session.fields["dhcp.requestIp"]) == ["0.0.0.0", "192.168.0.10"]


# --- NTP ------------------------------------------------------------------------------------

def ntp_packet(version: int, mode: int, stratum: int, ref: bytes) -> bytes:
    return bytes([(version << 3) | mode, stratum, 6, 0xEC]) + b"\x00" * 8 + ref + b"\x00" * 32


def test_ntp_fields() -> None:
    chunks = [(0, ntp_packet(4, 3, 0, b"\x00" * 4)), (1, ntp_packet(4, 4, 1, b"GPS\x00")),
              (1, ntp_packet(4, 4, 2, bytes([127, 127, 1, 1])))]
    fields = run(ntp.NTPParser(), chunks).fields
    assert fields["ntp.version"] == [4]
    assert fields["ntp.mode"] == ["client", "server"]
    assert fields["ntp.stratum"] == ["unspecified", "primary", "secondary"]
    assert fields["ntp.refId"] == ["GPS", "7f7f0101"]


def test_ntp_detect() -> None:
    assert ntp.detect(ntp_session(), ntp_packet(3, 3, 0, b"\x00" * 4), 0)
    assert not ntp.detect(ntp_session(), ntp_packet(3, 3, 0, b"\x00" * 4)[:47], 0)
    assert not ntp.detect(ntp_session(), ntp_packet(5, 3, 0, b"\x00" * 4), 0)
    assert not ntp.detect(ntp_session(), ntp_packet(3, 0, 0, b"\x00" * 4), 0)
    assert not ntp.detect(ntp_session(), ntp_packet(3, 3, 17, b"\x00" * 4), 0)


def test_ntp_ref_id_formats() -> None:
    assert ntp.ref_id(1, b"\x01\x02\x03\x04") == "01020304"
    assert ntp.ref_id(0, b"\x00\x00\x00\x00") is None
    assert ntp.ref_id(16, b"INIT") is None


@needs_pcaps
def test_ntp_capture() -> None:
    ntp_sessions = [s for s in sessions_of("gre-sample.pcap") if "ntp" in s.protocols]
    assert len(ntp_sessions) == 3
    assert all(s.fields["ntp.stratum"] == ["secondary"] for s in ntp_sessions)


# --- SMTP -----------------------------------------------------------------------------------

MESSAGE = (
    b"EHLO Client.Example.com\r\nMAIL FROM:<Sender@Example.com>\r\nRCPT TO:<a@b.org>\r\nDATA\r\n"
    b"Received: from relay.example.com (relay [10.0.0.9])\r\n\tby mx.example.org with SMTP\r\n"
    b"From: \"Sender\" <sender@example.com>\r\nTo: a@b.org, C <c@d.org>\r\n"
    b"Subject: =?utf-8?B?SGVsbG8=?= =?iso-8859-1?Q?_w=F6rld?=\r\nMessage-ID: <id1@example.com>\r\n"
    b"X-Mailer: TestMailer/1.0\r\nX-Trace: abc\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
    b"--XX\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Disposition: attachment; filename=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"aGVsbG8g\r\nd29ybGQ=\r\n--XX--\r\n.\r\nQUIT\r\n"
)


def smtp_session(client: bytes = MESSAGE, server: bytes = b"220 mx ESMTP\r\n250 ok\r\n") -> Session:
    return run(email.SMTPParser(), [(1, server[:14]), (0, client), (1, server[14:])])


def test_smtp_message() -> None:
    session = smtp_session()
    fields = session.fields
    assert fields["email.smtpHello"] == ["client.example.com"]
    assert fields["email.src"] == ["sender@example.com"]
    assert fields["email.dst"] == ["a@b.org", "c@d.org"]
    assert fields["email.subject"] == ["Hello wörld"]
    assert fields["email.id"] == ["id1@example.com"]
    assert fields["email.useragent"] == ["TestMailer/1.0"]
    assert fields["email.contentType"] == ['multipart/mixed; boundary="XX"']
    assert fields["email.host"] == ["relay.example.com", "mx.example.org"]
    assert fields["email.ip"] == ["10.0.0.9"]
    assert fields["email.headerField"] == ["x-trace"] and fields["email.headerValue"] == ["abc"]
    assert fields["email.filename"] == ["a.bin"]
    assert fields["email.md5"] == [hashlib.md5(b"hello world").hexdigest()]
    assert "received" in fields["email.header"]
    assert session.tags == ["smtp:statuscode:250"]


def test_smtp_byte_by_byte_matches_whole() -> None:
    parser = email.SMTPParser()
    session = mail_session()
    for i in range(len(MESSAGE)):
        parser.data(session, MESSAGE[i:i + 1], 0)
    parser.finish(session)
    whole = smtp_session().fields
    assert {k: v for k, v in session.fields.items()} == whole


def _attachment_message(payload: bytes) -> bytes:
    """A message whose parts stress the base64 blocks: a text part with lines that start with
    "-" and ".", a base64 attachment in 76-character lines, one with padding in the middle of
    its text, odd line lengths and an overlong line, and one with bare CR line ends."""
    lines = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    return (
        b"EHLO a\r\nMAIL FROM:<s@x>\r\nRCPT TO:<r@y>\r\nDATA\r\n"
        b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=\"B1\"\r\n\r\n"
        b"preamble\r\n-- not a boundary\r\n--B1\r\nContent-Type: text/plain\r\n\r\n"
        b"text\r\n----\r\n..dot-stuffed\r\n-- \r\nsignature\r\n"
        b"--B1\r\nContent-Disposition: attachment; filename=\"p.bin\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + lines +
        b"--B1\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"QQ==\r\nQUJD\r\nQU\r\nJD\r\nR\r\nkdI\r\n" + b"QUJD" * 6000 + b"\r\nSGk=\r\n"
        b"--B1\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\rbG8g\rd29y\rbGQ=\r"
        b"--B1--\r\n.\r\nQUIT\r\n")


@pytest.mark.parametrize("seed", range(6))
def test_smtp_base64_blocks_match_line_by_line(seed: int) -> None:
    """Body lines between boundaries are taken as blocks when a chunk holds many (decoded in one
    call in a base64 part): in chunks of any size the fields are those of one byte at a time,
    which goes line by line."""
    payload = random.Random(seed).randbytes(3000 + seed * 1777)
    message = _attachment_message(payload)
    by_byte = run(email.SMTPParser(), [(0, message[i:i + 1]) for i in range(len(message))])
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(message)), 12)) if seed else []
    pieces = [message[a:b] for a, b in zip([0, *cuts], [*cuts, len(message)], strict=True)]
    in_chunks = run(email.SMTPParser(), [(0, piece) for piece in pieces])
    assert in_chunks.fields == by_byte.fields
    assert in_chunks.fields["email.md5"][0] == hashlib.md5(payload).hexdigest()
    assert len(in_chunks.fields["email.md5"]) == 3


def test_smtp_bdat() -> None:
    body = b"Subject: chunked\r\nFrom: x@y\r\n\r\nhello\r\n"
    client = b"EHLO h\r\nBDAT %d LAST\r\n" % len(body) + body + b"MAIL FROM:<z@y>\r\n"
    fields = smtp_session(client).fields
    assert fields["email.subject"] == ["chunked"]
    assert fields["email.src"] == ["x@y", "z@y"]


def test_smtp_starttls_plain_and_tls() -> None:
    decrypted = b"EHLO a\r\nSTARTTLS\r\nEHLO a\r\nMAIL FROM:<p@q>\r\n"
    parser = email.SMTPParser()
    session = run(parser, [(0, decrypted[:18]), (1, b"220 go ahead\r\n"), (0, decrypted[18:])])
    assert session.fields["email.src"] == ["p@q"] and "smtp:starttls" in tags_of(session)
    # Through the application layer, as the session table calls it: detection has seen both
    # sides' first data, then STARTTLS asks it to look at what the client sends next.
    app, session = AppLayer(), mail_session()
    app.data(session, b"220 mx ESMTP\r\n", 1)
    app.data(session, b"EHLO a\r\nSTARTTLS\r\n", 0)
    app.data(session, b"220 go ahead\r\n", 1)
    assert session.protocols == ("tcp", "smtp")
    assert session.consumed == 0  # detection runs again on each side's TLS hello
    app.data(session, b"\x16\x03\x01\x00\x05MAIL FROM:<p@q>\r\n", 0)
    app.finish(session)
    assert "email.src" not in session.fields and not app.failures


def test_smtp_starttls_then_tls_hello_through_the_session_table() -> None:
    hello = record(handshake(1, client_hello(b"mx.example")))
    session = converse([(1, b"220 mx ESMTP\r\n"), (0, b"EHLO a\r\nSTARTTLS\r\n"), (1, b"220 go ahead\r\n"),
                        (0, hello)], port2=25)
    doc = flat_document(session)
    assert doc["protocol"] == ["smtp", "tcp", "tls"] and "smtp:starttls" in doc["tags"]
    assert doc["http.host"] == ["mx.example"] and "email.src" not in doc


def test_subject_decoding() -> None:
    assert email.decode_words(b"=?ISO-8859-1?B?Qw==?==?ISO-8859-1?B??==?ISO-8859-1?B?YW4=?=") == "Can"
    assert email.decode_words(b"See What\x92s Next") == "See What\u2019s Next"
    assert email.decode_words(b"=?gb2312?B?dGVzdCCy4srU?=") == "test 测试"
    assert email.decode_words(b"=?nosuch?B?QQ==?=") == "=?nosuch?B?QQ==?="
    assert email.decode_words(b"=?utf-8?X?abc?=") == "=?utf-8?X?abc?="
    assert email.decode_words(b"=?utf-8?B?broken") == "=?utf-8?B?broken"


def test_address_and_ip_helpers() -> None:
    assert email.parse_addresses(b' "Doe, J" <J@X.org>, k@y.org') == ["j@x.org", "k@y.org"]
    assert email.parse_ip("10.000.00.03") == "10.0.0.3"
    assert email.parse_ip("::1") == "::1"
    assert email.parse_ip("not an ip") is None


def test_smtp_detect() -> None:
    assert email.detect_smtp(mail_session(), b"EHLO x\r\n", 0)
    assert email.detect_smtp(mail_session(), b"220 mx ESMTP Postfix\r\n", 1)
    assert not email.detect_smtp(mail_session(), b"220 ftp ready\r\n", 1)


@needs_pcaps
@pytest.mark.parametrize(("name", "subject"), [
    ("smtp-subject-8859-multi.pcap", "4spaces    å é î ø ü     5spaces"),
    ("smtp-subject-windows.pcap", "Awesome windows: See What’s Next in charset decoding!"),
    ("smtp-subject-gb2312-b.pcap", "test 测试"),
])
def test_smtp_captures(name: str, subject: str) -> None:
    session = next(s for s in sessions_of(name) if "smtp" in s.protocols)
    assert session.fields["email.subject"] == [subject]


@needs_pcaps
def test_smtp_zip_attachment() -> None:
    session = sessions_of("smtp-zip.pcap")[0]
    assert session.fields["email.filename"] == ["a.zip"]
    assert session.fields["email.md5"] == ["40be8f5100e9beabab293c9d7bacaff0"]


# --- IMAP and POP3 --------------------------------------------------------------------------

def test_imap_fetch_and_select() -> None:
    chunks = [(1, b"* OK IMAP4rev1 ready\r\n"), (0, b'a1 SELECT "INBOX"\r\n'),
              (1, b"* 1 FETCH (BODY[HEADER] {60}\r\nFrom: Al <AL@x.org>\r\nSubject: Hi there\r"),
              (1, b"\n\r\nTo: late@x.org\r\n)\r\n")]
    fields = run(email.IMAPParser(), chunks).fields
    assert fields == {"email.folder": ["INBOX"], "email.src": ["al@x.org"], "email.subject": ["Hi there"]}


def test_imap_line_too_long() -> None:
    parser = email.IMAPParser()
    session = run(parser, [(1, b"* OK IMAP\r\n"), (1, b"x" * 20000)])
    assert parser.stopped and session.tags == ["imap:line-too-long"]


def test_mail_ntlm_marks_protocol() -> None:
    blob = base64.b64encode(b"NTLMSSP\x00\x01\x00\x00\x00" + b"\x00" * 20)
    session = run(email.POP3Parser(), [(1, b"+OK POP3 ready\r\n"), (0, b"AUTH NTLM\r\n" + blob + b"\r\n")])
    assert session.protocols == ("tcp", "ntlm") and session.tags == ["pop3:authntlm"]
    session = run(email.SMTPParser(), [(0, b"EHLO a\r\nAUTH NTLM\r\n"), (1, b"334 " + blob + b"\r\n")])
    assert "ntlm" in session.protocols and "smtp:authntlm" in tags_of(session)


def test_mail_logins_name_the_user() -> None:
    """AUTH LOGIN (the name in base64, inline or on the next line), AUTH PLAIN (the authcid of
    authzid NUL authcid NUL password) and POP3's USER fill ``user``, lowercased; a PLAIN without
    a password, or base64 that decodes to nothing, names no one."""
    def smtp(client: bytes) -> Session:
        return run(email.SMTPParser(), [(1, b"220 mx ESMTP\r\n"), (0, client)])

    login = base64.b64encode(b"Alice@Example.org")
    assert smtp(b"EHLO a\r\nAUTH LOGIN\r\n" + login + b"\r\n").fields["user"] == ["alice@example.org"]
    assert smtp(b"EHLO a\r\nAUTH LOGIN " + login + b"\r\n").fields["user"] == ["alice@example.org"]
    plain = base64.b64encode(b"\0bob\0hunter2")
    session = smtp(b"EHLO a\r\nAUTH PLAIN " + plain + b"\r\n")
    assert session.fields["user"] == ["bob"] and "smtp:authplain" in tags_of(session)
    assert smtp(b"AUTH PLAIN\r\n" + plain + b"\r\n").fields["user"] == ["bob"]
    for odd in (base64.b64encode(b"\0bob"), b"!!!!", b"", b"\xff\xfe"):
        assert "user" not in smtp(b"AUTH PLAIN\r\n" + odd + b"\r\n").fields
    assert "user" not in smtp(b"AUTH LOGIN\r\n*\r\n").fields
    pop3 = run(email.POP3Parser(), [(1, b"+OK POP3 ready\r\n"), (0, b"USER  Carol \r\nPASS x\r\nUSER dave\r\n")])
    assert pop3.fields["user"] == ["carol"]


@needs_pcaps
@pytest.mark.parametrize("name,user", [("smtp-data-250.pcap", "12345678@aol.com"), ("ftp.pcap", "anonymous")])
def test_user_of_corpus_logins(name: str, user: str) -> None:
    assert any(s.fields.get("user") == [user] for s in sessions_of(name))


def test_imap_pop3_detect() -> None:
    assert email.detect_imap(mail_session(143), b"* OK [CAPABILITY IMAP4rev1] ready\r\n", 1)
    assert not email.detect_imap(mail_session(143), b"* OK ready\r\n", 1)
    assert email.detect_pop3(mail_session(110), b"+OK POP3 ready\r\n", 1)
    assert not email.detect_pop3(mail_session(110), b"+OK ready\r\n", 1)


@needs_pcaps
def test_imap_capture() -> None:
    session = next(s for s in sessions_of("imap.pcap") if "imap" in s.protocols)
    assert session.fields["email.folder"] == ["INBOX"]
    assert len(session.fields["email.subject"]) == 12


# --- ARP ------------------------------------------------------------------------------------

BROADCAST = b"\xff" * 6


def arp_packet(opcode: int, sha: str, spa: bytes, tpa: bytes) -> bytes:
    body = (struct.pack(">HHBBH", 1, 0x0800, 6, 4, opcode) + bytes.fromhex(sha) + spa
            + b"\x00" * 6 + tpa)
    return ethernet(body, src=bytes.fromhex(sha), dst=BROADCAST, ethertype=ETH_ARP)


def arp_frame(opcode: int, sha: str, spa: bytes, tpa: bytes) -> Frame:
    return decode(arp_packet(opcode, sha, spa, tpa))


REQUEST = (1, "001a6b6c0ccc", bytes([10, 10, 10, 2]), bytes([10, 10, 10, 1]))
REPLY = (2, "001d09f092ab", bytes([10, 10, 10, 1]), bytes([10, 10, 10, 2]))
ARP_FIELDS = {"arp.ip": ["10.10.10.1"], "arp.mac": ["00:1d:09:f0:92:ab"], "arp.opcode": ["1", "2"]}


def test_arp_request_and_reply() -> None:
    session = session_of(arp_packet(*REQUEST))  # a real ARP session, no parser attached yet
    assert session.protocols == ("arp",) and session.parsers is None
    parser = arp.attach_for(session)
    assert parser is not None and arp.attach_for(session) is None
    parser.packet(session, arp_frame(*REQUEST), 0)
    parser.packet(session, arp_frame(*REPLY), 0)
    parser.finish(session)
    assert session.fields == ARP_FIELDS


def test_arp_through_the_session_table() -> None:
    # The request asks for 10.10.10.1 and the reply is from it: one session, the parser attached at once.
    (session,) = table_sessions([arp_packet(*REQUEST), arp_packet(*REPLY)])
    doc = flat_document(session)
    assert doc["protocol"] == ["arp"] and doc["ethertype"] == ETH_ARP
    assert {k: v for k, v in doc.items() if k.startswith("arp.")} == ARP_FIELDS


def test_arp_short_and_odd_frames() -> None:
    session = session_of(arp_packet(*REQUEST))
    parser = arp.ARPParser()
    parser.packet(session, decode(ethernet(b"\x00" * 27, dst=BROADCAST, ethertype=ETH_ARP)), 0)
    parser.packet(session, arp_frame(9, "001d09f092ab", b"\x01" * 4, b"\x02" * 4), 0)
    ip_frame = decode(ethernet(ipv4(udp(1000, 2000, b"\x00" * 40))))
    assert ip_frame.ethertype == 0x0800 and len(ip_frame.payload) == 40
    parser.packet(session, ip_frame, 0)
    parser.finish(session)
    assert session.fields == {}


# --- the whole packet path: packets -> session table -> detection -> parser -> document -----

def test_ssh_through_the_session_table() -> None:
    key = b"\x00\x00\x00\x0bssh-ed25519" + b"K" * 32
    session = converse([(0, b"SSH-2.0-OpenSSH_9.6\r\n"), (1, b"SSH-2.0-Test_Server\n"),
                        (0, kexinit("aes128-ctr", "aes256-ctr")), (1, kexinit("chacha20", "aes192-ctr")),
                        (1, ssh_packet(33, struct.pack(">I", len(key)) + key))], port2=22)
    doc = flat_document(session)
    assert doc["protocol"] == ["ssh", "tcp"]
    assert doc["ssh.version"] == ["ssh-2.0-openssh_9.6", "ssh-2.0-test_server"]
    assert doc["ssh.hassh"] == [hashlib.md5(b"curve25519-sha256;aes128-ctr;hmac-sha2-256;none").hexdigest()]
    assert doc["ssh.key"] == [base64.b64encode(key).decode()]


def test_smtp_through_the_session_table() -> None:
    session = converse([(1, b"220 mx ESMTP\r\n"), (0, MESSAGE), (1, b"250 ok\r\n")], port2=25)
    doc = flat_document(session)
    assert doc["protocol"] == ["smtp", "tcp"] and doc["tags"] == ["smtp:statuscode:250"]
    assert doc["email.subject"] == ["Hello wörld"] and doc["email.dst"] == ["a@b.org", "c@d.org"]
    assert doc["email.md5"] == [hashlib.md5(b"hello world").hexdigest()]


def test_imap_through_the_session_table() -> None:
    session = converse([(1, b"* OK [CAPABILITY IMAP4rev1] ready\r\n"), (0, b'a1 SELECT "INBOX"\r\n'),
                        (1, b"* 1 FETCH (BODY[HEADER] {40}\r\nSubject: Hi there\r\n\r\n)\r\n")], port2=143)
    assert "imap" in session.protocols and session.fields["email.folder"] == ["INBOX"]


def test_dhcp_through_the_session_table() -> None:
    # DHCP sessions are keyed on the client's MAC, so the answer joins the request's session.
    session = converse([(0, dhcp_message(1)), (1, dhcp_message(2, op=2))], proto=17, port1=68, port2=67)
    doc = flat_document(session)
    assert doc["protocol"] == ["dhcp", "udp"] and doc["dhcp.type"] == ["DISCOVER", "OFFER"]
    assert doc["dhcp.mac"] == ["00:0b:82:01:fc:42"]


def test_ntp_through_the_session_table() -> None:
    session = converse([(0, ntp_packet(4, 3, 0, b"\x00" * 4)), (1, ntp_packet(4, 4, 1, b"GPS\x00"))],
                       proto=17, port2=123)
    doc = flat_document(session)
    assert doc["protocol"] == ["ntp", "udp"] and doc["ntp.refId"] == ["GPS"]
    assert doc["ntp.mode"] == ["client", "server"]


def test_truncated_ssh_through_the_session_table() -> None:
    packet = kexinit("a", "b")
    session = converse([(0, b"SSH-2.0-x\r\n"), (0, packet[:len(packet) // 2])], port2=22)
    assert "ssh" in session.protocols and "ssh.hassh" not in session.fields


# --- hostile input for every parser ---------------------------------------------------------

def all_parsers() -> list[Any]:
    return [ssh.SSHParser(), dhcp.DHCPParser(), dhcp.DHCPv6Parser(), ntp.NTPParser(),
            email.SMTPParser(), email.IMAPParser(), email.POP3Parser()]


@pytest.mark.parametrize("index", range(7))
def test_random_and_hostile_bytes_never_raise(index: int) -> None:
    parser = all_parsers()[index]
    session = SESSION_FOR[type(parser)]()
    for i, blob in enumerate(HOSTILE + random_blobs()):
        parser.data(session, blob, i % 2)
    parser.finish(session)
    parser.finish(session)  # finish may run more than once (mid-session saves)


def test_detectors_on_hostile_bytes() -> None:
    detectors = [(ssh.detect, ssh_session()), (dhcp.detect_v4, dhcp_session()),
                 (dhcp.detect_v6, dhcpv6_session()), (ntp.detect, ntp_session()),
                 (email.detect_smtp, mail_session()), (email.detect_imap, mail_session(143)),
                 (email.detect_pop3, mail_session(110))]
    for blob in HOSTILE + random_blobs(50):
        for detect, session in detectors:
            assert detect(session, blob, 0) in (True, False)


def test_smtp_hostile_stream_stays_bounded() -> None:
    parser = email.SMTPParser()
    session = mail_session()
    parser.data(session, b"EHLO x\r\nDATA\r\n" + b"Subject: " + b"A" * 200000, 0)
    assert len(parser.sides[0].line) <= email.MAX_LINE
    parser = email.SMTPParser()
    for i in range(3000):
        parser.data(session, b"MAIL FROM:<a%d@b>\r\n" % i, 0)
    parser.finish(session)
    assert len(session.fields["email.src"]) == email.MAX_VALUES


def test_arp_random_frames() -> None:
    parser = arp.ARPParser()
    session = session_of(arp_packet(*REQUEST))
    packets = [ethernet(blob, dst=BROADCAST, ethertype=ETH_ARP) for blob in random_blobs(100, seed=3)]
    for packet in packets:
        parser.packet(session, decode(packet), 0)
    parser.finish(session)
    assert len(session.fields.get("arp.ip", [])) <= arp.MAX_VALUES
    # The same frames through the session table, parsers on: sessions, no parser failure.
    assert table_sessions(packets)


def test_smtp_bdat_odd_sizes() -> None:
    for size in (b"0", b"-5", b"99999999999", b"x"):
        parser = email.SMTPParser()
        session = run(parser, [(0, b"EHLO a\r\nBDAT " + size + b"\r\nSubject: s\r\n\r\n"), (0, b"QUIT\r\n")])
        assert session.fields["email.smtpHello"] == ["a"]
