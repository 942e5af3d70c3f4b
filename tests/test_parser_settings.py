"""The parser settings decide what is stored: each one turned off drops exactly its fields."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CORPUS
from sessionkit import new_session

from appliance.documents import flat_document
from appliance.pipeline import parse_capture
from appliance.protocols import AppLayer
from appliance.protocols.email import SMTPParser
from appliance.protocols.http import HTTPParser
from appliance.settings import Settings

CASES = [
    ({"ja3Strings": False}, "curl-enabled-tls13", ["tls.ja3string", "tls.ja3sstring"]),
    ({"ja4Raw": False}, "curl-enabled-tls13", ["tls.ja4_r"]),
    ({"supportSha256": False}, "http-content-gzip", ["http.sha256"]),
    ({"supportSha256": False}, "smtp-zip", ["email.sha256"]),
    ({"parseHTTPHeaderRequestAll": False}, "http-content-gzip",
     ["http.requestHeaderField", "http.requestHeaderValue"]),
    ({"parseHTTPHeaderResponseAll": False}, "http-content-gzip",
     ["http.responseHeaderField", "http.responseHeaderValue"]),
]


def documents(name: str, **overrides: Any) -> list[dict[str, Any]]:
    path = CORPUS / f"{name}.pcap"
    if not path.exists():
        pytest.skip(f"{path} not available")
    docs: list[dict[str, Any]] = []
    parse_capture(str(path), Settings().replace(**overrides), lambda s: docs.append(flat_document(s)))
    return docs


@pytest.mark.parametrize(("overrides", "name", "paths"), CASES, ids=[f"{next(iter(c[0]))}-{c[1]}" for c in CASES])
def test_a_field_setting_turned_off_drops_only_its_fields(overrides: dict[str, bool], name: str,
                                                           paths: list[str]) -> None:
    full, trimmed = documents(name), documents(name, **overrides)
    assert any(path in doc for doc in full for path in paths)  # on by default
    assert len(full) == len(trimmed)
    for before, after in zip(full, trimmed, strict=True):
        assert after == {k: v for k, v in before.items() if k not in paths}


def test_dns_answers_off_keeps_the_queries() -> None:
    full, trimmed = documents("dns-mx"), documents("dns-mx", dnsOutputAnswers=False)
    assert any("answers" in query for doc in full for query in doc.get("dns", []))
    for before, after in zip(full, trimmed, strict=True):
        queries = [{k: v for k, v in q.items() if k != "answers"} for q in before.get("dns", [])]
        assert after.get("dns", []) == queries
        assert {k: v for k, v in after.items() if k != "dns"} == {k: v for k, v in before.items() if k != "dns"}


@pytest.mark.parametrize("support", [True, False])
def test_sha256_off_is_not_computed(support: bool) -> None:
    """supportSha256=false reaches the parsers: no SHA-256 is made, not one made and dropped."""
    app = AppLayer(Settings().replace(supportSha256=support))
    session = new_session(6, 40000, 80)
    http = HTTPParser()
    app.attach(session, http)
    http.data(session, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234", 1)
    side = http.side1
    assert side is not None and side.md5 is not None
    assert (side.sha256 is not None) is support

    mail = SMTPParser()
    app.attach(session, mail)
    assert mail.sha256 is support
