"""Parsed certificates are remembered by DER; every session still gets its own, exact object."""

from __future__ import annotations

from sessionkit import new_session
from test_proto_tls import make_cert

from appliance.protocols import certs
from appliance.sessions import Session


def _session(first_s: int) -> Session:
    """A real session whose first packet is at ``first_s`` (what the certificate's age is from)."""
    session = new_session(6, 40000, 443)
    session.first = first_s * 1_000_000
    return session


def test_cached_parse_is_the_fresh_parse_with_its_own_remaining_time() -> None:
    der = make_cert("leaf", "leaf")
    for now in (1_600_000_000, 1_700_000_000, 1_600_000_000):
        fresh = certs.parse_certificate(der, _session(now), now)
        cached = certs.parse_certificate_cached(bytearray(der), _session(now), now)
        assert cached == fresh and list(cached) == list(fresh)  # same values, same key order


def test_each_session_gets_its_own_copy_and_tags() -> None:
    der = make_cert("ca", "root", ca=True)
    first, second = _session(1_700_000_000), _session(1_700_000_000)
    certs.add_certificate(first, der)
    certs.add_certificate(second, der)
    assert first.tags == second.tags
    one, two = certs.certificates(first).certs[0], certs.certificates(second).certs[0]
    assert one == two and one is not two
    for key, value in one.items():
        if isinstance(value, list):
            assert value is not two[key]


def test_large_der_is_not_kept() -> None:
    der = make_cert("leaf", "leaf") + b"\x00" * (certs.CACHE_DER_MAX + 1)
    certs.parse_certificate_cached(der, _session(0), 0)
    assert bytes(der) not in certs._parsed
