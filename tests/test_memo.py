"""The bounded memo that DNS labels, HTTP header names and the device inventory share."""

from __future__ import annotations

from appliance.memo import remembered


def test_a_key_is_made_once_and_the_memo_never_passes_its_limit() -> None:
    made: list[str] = []

    def make(key: str) -> str:
        made.append(key)
        return key.upper()

    memo: dict[str, str] = {}
    assert remembered(memo, "www", make, 3) == "WWW"
    assert remembered(memo, "www", make, 3) == "WWW"
    assert made == ["www"]
    for key in ("a", "b", "c", "d", "e"):  # a flood of new keys
        assert remembered(memo, key, make, 3) == key.upper()
        assert len(memo) <= 3
    assert remembered(memo, "www", make, 3) == "WWW"  # emptied on the way: made again, same value
    assert made.count("www") == 2


def test_http_header_names_are_remembered_by_their_cut_name() -> None:
    from appliance.protocols import http

    long_name = b"X-" + b"A" * 70_000
    assert http._header_name(long_name) == ("x-" + "a" * 37)
    assert all(len(key) <= 39 for key in http._NAMES)  # a hostile name costs at most 39 bytes
