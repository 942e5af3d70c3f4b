"""The session store: every corpus document comes back as it went in; batching; bytes per row."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import apsw
import pytest
from conftest import back_to_version, corpus_documents

from appliance.store.db import open_database
from appliance.store.sessions import SessionStore


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[dict[str, Any]]]:
    docs = corpus_documents()
    if not docs:
        pytest.skip("the shared corpus is absent")
    return docs


def test_round_trip_of_every_corpus_capture(tmp_path: Path, corpus: dict[str, list[dict[str, Any]]]) -> None:
    store = SessionStore(open_database(str(tmp_path / "s.db")))
    added = [(store.add(doc), doc, path) for path, docs in corpus.items() for doc in docs]
    store.flush()
    assert len(added) >= 600
    for sid, doc, path in added:
        assert store.get_flat(sid) == doc, path
    assert store.count() == len(added)


def test_get_gives_the_nested_arkime_document(corpus_store: Any) -> None:
    store, by_id = corpus_store
    sid, doc = next((i, d) for i, d in by_id.items() if "http.host" in d)
    nested = store.get(sid)
    assert nested["http"]["host"] == doc["http.host"]
    assert nested["http"]["hostCnt"] == len(doc["http.host"])
    assert nested["source"]["ip"] == doc["source.ip"]
    assert store.get(12345) is None


def test_sessions_are_visible_after_the_batch_delay(tmp_path: Path, corpus: dict[str, list[dict[str, Any]]]) -> None:
    path = str(tmp_path / "s.db")
    store = SessionStore(open_database(path), batch_size=1000, max_delay=0.0)
    docs = next(iter(corpus.values()))
    store.add(docs[0])  # max_delay 0: committed at once
    reader = open_database(path, readonly=True)
    assert reader.execute("SELECT count(*) FROM sessions").fetchall()[0][0] == 1


def test_batch_size_commits(tmp_path: Path, corpus: dict[str, list[dict[str, Any]]]) -> None:
    path = str(tmp_path / "s.db")
    store = SessionStore(open_database(path), batch_size=3, max_delay=3600)
    docs = [d for ds in corpus.values() for d in ds][:7]
    for doc in docs:
        store.add(doc)
    reader = open_database(path, readonly=True)
    assert reader.execute("SELECT count(*) FROM sessions").fetchall()[0][0] == 6
    store.flush()
    assert reader.execute("SELECT count(*) FROM sessions").fetchall()[0][0] == 7


def test_full_batches_are_committed_together_and_an_old_one_at_once(tmp_path: Path,
                                                                     corpus: dict[str, list[dict[str, Any]]]) -> None:
    """batches_per_commit: full batches wait in the open transaction until that many are
    written, or until the oldest has waited max_delay; commit_written commits them, and a flush
    the batch being built too."""
    import time

    path = str(tmp_path / "s.db")
    store = SessionStore(open_database(path), batch_size=3, max_delay=3600, batches_per_commit=3)
    docs = [d for ds in corpus.values() for d in ds][:20]
    reader = open_database(path, readonly=True)

    def visible() -> int:
        return int(reader.execute("SELECT count(*) FROM sessions").fetchall()[0][0])

    for doc in docs[:8]:
        store.add(doc)
    assert visible() == 0  # two full batches written, not committed
    store.add(docs[8])
    assert visible() == 9  # the third: all three committed
    for doc in docs[9:12]:
        store.add(doc)
    assert visible() == 9
    store.flush()
    assert visible() == 12
    store.max_delay = 0.2
    for doc in docs[12:15]:
        store.add(doc)  # a full batch, held
    assert visible() == 12
    time.sleep(0.25)
    store.tick()
    assert visible() == 15
    for doc in docs[15:20]:
        store.add(doc)  # a full batch held, two sessions building
    store.commit_written()  # as the store process does before it waits for input
    assert visible() == 18
    store.flush()
    assert visible() == 20
    assert all(store.get_flat(r[0]) is not None for r in reader.execute("SELECT id FROM sessions"))


def test_a_failed_batch_takes_back_the_batches_held_with_it(tmp_path: Path,
                                                           corpus: dict[str, list[dict[str, Any]]]) -> None:
    """A batch that cannot be written rolls back the transaction it shares with held batches:
    none of them is stored, nothing they made (terms, postings, totals) is left behind, and the
    sessions after them are stored with ids and terms of their own."""
    path = str(tmp_path / "s.db")
    store = SessionStore(open_database(path), batch_size=4, max_delay=3600, batches_per_commit=3)
    docs = [d for ds in corpus.values() for d in ds]
    first = [store.add(doc) for doc in docs[:12]]  # committed
    store.conn.execute("CREATE TRIGGER no_more BEFORE INSERT ON sessions WHEN (SELECT count(*) FROM sessions) >= 16 "
                       "BEGIN SELECT RAISE(ABORT, 'the disk says no'); END")
    with pytest.raises(apsw.Error, match="the disk says no"):
        for doc in docs[12:24]:
            store.add(doc)
    store.conn.execute("DROP TRIGGER no_more")
    assert store.conn.getautocommit()  # nothing left open
    later = [store.add(doc) for doc in docs[24:40]]
    store.flush()
    ids = [r[0] for r in store.conn.execute("SELECT id FROM sessions ORDER BY id")]
    assert sorted(first + later) == ids
    total = store.conn.execute("SELECT sum(sessions) FROM session_minutes").fetchall()[0][0]
    assert total == len(ids)
    orphans = store.conn.execute("SELECT count(*) FROM terms WHERE sessions > 0 AND id NOT IN "
                                 "(SELECT term_id FROM postings)").fetchall()[0][0]
    assert orphans == 0
    for sid, doc in zip(first + later, docs[:12] + docs[24:40], strict=True):
        assert store.get_flat(sid)["source.ip"] == doc["source.ip"]


def test_held_batches_post_their_terms_at_the_commit(tmp_path: Path,
                                                     corpus: dict[str, list[dict[str, Any]]]) -> None:
    """The postings of batches held in the open transaction are written when it commits, once
    per term: the same postings and term counts as batch by batch, and none before the commit."""
    from appliance.store import postings

    docs = [d for ds in corpus.values() for d in ds][:150]
    held = SessionStore(open_database(str(tmp_path / "held.db")), batch_size=10, max_delay=3600,
                        batches_per_commit=4)
    alone = SessionStore(open_database(str(tmp_path / "alone.db")), batch_size=10, max_delay=3600)
    for doc in docs[:35]:  # three full batches held, five sessions building
        held.add(doc)
    assert held._held == 3
    assert held.conn.execute("SELECT count(*) FROM posting_blocks").fetchall()[0][0] == 0
    for doc in docs[35:]:
        held.add(doc)
    for store in (held, alone):
        if store is alone:
            for doc in docs:
                store.add(doc)
        store.flush()

    def posted(store: SessionStore) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for term, last, ids in store.conn.execute("SELECT term_id, last_id, ids FROM posting_blocks"):
            out.setdefault(term, []).extend(postings.unpack(last, ids))
        return {term: sorted(ids) for term, ids in out.items()}

    assert posted(held) == posted(alone)
    terms = "SELECT id, field_id, value, sessions FROM terms ORDER BY id"
    assert held.conn.execute(terms).fetchall() == alone.conn.execute(terms).fetchall()


def test_same_millisecond_sessions_get_distinct_ids(tmp_path: Path,
                                                    corpus: dict[str, list[dict[str, Any]]]) -> None:
    store = SessionStore(open_database(str(tmp_path / "s.db")), max_delay=3600)
    doc = next(iter(corpus.values()))[0]
    ids = [store.add(dict(doc)) for _ in range(300)]  # more than the 256 ids of one ms
    store.flush()
    assert len(set(ids)) == 300
    assert all(store.get_flat(i)["lastPacket"] == doc["lastPacket"] for i in ids)


def test_ids_continue_after_the_stored_ones_of_each_millisecond(tmp_path: Path,
                                                                corpus: dict[str, list[dict[str, Any]]]) -> None:
    """A session older than the newest stored one takes the next free sequence number of its
    millisecond; the stored ids of a whole window of milliseconds are asked for at once."""
    from appliance.store.layout import SEQ_BITS, session_id
    from appliance.store.sessions import _WINDOW_BITS

    path = str(tmp_path / "s.db")
    doc = next(iter(corpus.values()))[0]
    base = (doc["lastPacket"] >> _WINDOW_BITS) << _WINDOW_BITS  # the first ms of a window

    def at(ms: int) -> dict[str, Any]:
        return dict(doc, lastPacket=ms, firstPacket=ms - doc["length"],
                    packetRange={"gte": ms - doc["length"], "lte": ms})

    first = SessionStore(open_database(path))
    stored = [first.add(at(ms)) for ms in (base, base, base + 7, base + (1 << _WINDOW_BITS) + 2, base + 10**6)]
    first.flush()
    again = SessionStore(open_database(path))  # knows nothing of them but what the database holds
    wanted = {base: 2, base + 7: 1, base + 3: 0, base + (1 << _WINDOW_BITS) - 1: 0,
              base + (1 << _WINDOW_BITS) + 2: 1, base + (1 << _WINDOW_BITS) + 3: 0}
    got = {ms: again.add(at(ms)) for ms in wanted}
    again.flush()
    assert got == {ms: session_id(ms, seq) for ms, seq in wanted.items()}
    assert len(set(stored) | set(got.values())) == len(stored) + len(got)
    assert all(sid & ((1 << SEQ_BITS) - 1) < 3 for sid in got.values())


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    store = SessionStore(open_database(str(tmp_path / "s.db")))
    with pytest.raises(KeyError):
        store.add({"lastPacket": 1, "no.such.field": 1})


def test_new_registry_fields_get_ids_on_open(tmp_path: Path) -> None:
    from appliance import fields

    path = str(tmp_path / "s.db")
    SessionStore(open_database(path))
    spec = fields.field("zz.test", "zz.test", "termfield", "test", "test only", multi=True)
    fields.register(spec)
    try:
        store = SessionStore(open_database(path))
        assert "zz.test" in store.fields.by_path
    finally:
        fields.BY_PATH.pop("zz.test")
        fields.BY_EXPR.pop("zz.test")
        fields.FIELDS = tuple(f for f in fields.FIELDS if f.path != "zz.test")


def _minutes_from_sessions(conn: Any) -> list[tuple[int, int, int, int]]:
    return conn.execute(
        "SELECT ((id >> 8) + 1577836800000) / 60000 AS m, count(*), "
        "sum(coalesce(src_packets, 0) + coalesce(dst_packets, 0)), sum(coalesce(src_bytes, 0) + coalesce(dst_bytes, 0)) "
        "FROM sessions GROUP BY m ORDER BY m").fetchall()


def _kept_minutes(conn: Any) -> list[tuple[int, int, int, int]]:
    return conn.execute("SELECT minute, sessions, packets, bytes FROM session_minutes WHERE sessions > 0 "
                        "ORDER BY minute").fetchall()


def _hours_agree(conn: Any) -> bool:
    by_minutes = conn.execute("SELECT minute / 60 AS h, sum(sessions), sum(packets), sum(bytes) FROM session_minutes "
                              "GROUP BY h HAVING sum(sessions) > 0 ORDER BY h").fetchall()
    return by_minutes == conn.execute("SELECT hour, sessions, packets, bytes FROM session_hours WHERE sessions > 0 "
                                      "ORDER BY hour").fetchall()


def test_minute_totals_follow_inserts_and_deletes(tmp_path: Path, corpus: dict[str, list[dict[str, Any]]]) -> None:
    conn = open_database(str(tmp_path / "s.db"))
    store = SessionStore(conn, batch_size=97, max_delay=3600)  # several batches, minutes split across them
    ids = [store.add(doc) for docs in corpus.values() for doc in docs]
    store.flush()
    assert _kept_minutes(conn) == _minutes_from_sessions(conn) and len(_kept_minutes(conn)) > 20
    assert _hours_agree(conn)
    ids.sort()
    with conn:  # delete by any means (here every third session): the trigger keeps the counts
        conn.executemany("DELETE FROM sessions WHERE id = ?", [(i,) for i in ids[::3]])
    assert _kept_minutes(conn) == _minutes_from_sessions(conn)
    assert _hours_agree(conn)


def test_unfiltered_totals_and_histogram_equal_counting_the_sessions(
        tmp_path: Path, corpus: dict[str, list[dict[str, Any]]]) -> None:
    import random

    from appliance.query import TimeRange
    from appliance.web.search import QueryArgs, Scope, ScopedSearcher

    store = SessionStore(open_database(str(tmp_path / "s.db")))
    for docs in corpus.values():
        for doc in docs:
            store.add(doc)
    store.flush()
    searcher = ScopedSearcher(store, Scope())
    lo, hi = store.conn.execute("SELECT min(id) >> 8, max(id) >> 8 FROM sessions").fetchall()[0]
    lo, hi = lo + 1577836800000, hi + 1577836800000
    rnd = random.Random(3)
    ranges = [TimeRange(), TimeRange(lo, None), TimeRange(None, hi - 1), TimeRange(hi - 5, hi + 5)]
    ranges += [TimeRange(*sorted((rnd.randint(lo - 1, hi + 1), rnd.randint(lo - 1, hi + 1)))) for _ in range(40)]
    ranges += [TimeRange(t, t + rnd.randint(0, 200_000)) for t in (rnd.randint(lo, hi) for _ in range(20))]
    for times in ranges:
        # an expression that every session matches takes the counting path: both must agree
        assert searcher.total(None, times) == searcher.total("ip.protocol >= 0 || !ip.protocol >= 0", times), times
        fast = searcher.histogram(QueryArgs("", times, 100, 0, [("s.id", True)], []))
        slow = searcher.histogram(QueryArgs("ip.protocol >= 0 || !ip.protocol >= 0", times, 100, 0,
                                            [("s.id", True)], []))
        assert sum(n for _, n in fast["sessionsHisto"]) == sum(n for _, n in slow["sessionsHisto"]), times
        assert sum(b for _, b in fast["bytesHisto"]) == sum(b for _, b in slow["bytesHisto"]), times
        if fast["interval"] == slow["interval"]:
            assert fast == slow, times


def test_values_a_column_cannot_hold_come_back_as_given(tmp_path: Path,
                                                        corpus: dict[str, list[dict[str, Any]]]) -> None:
    """An address spelled otherwise than we print it, a bool or a string where a number goes: kept
    in the document as given, never changed or lost."""
    store = SessionStore(open_database(str(tmp_path / "s.db")))
    base = next(d for docs in corpus.values() for d in docs if "source.ip" in d and "destination.port" in d)
    odd = [{**base, "source.ip": "::ffff:10.1.2.3"}, {**base, "destination.ip": "2001:DB8::1"},
           {**base, "destination.port": True}, {**base, "source.packets": "7"}, {**base, "initRTT": 2.5},
           {**base, "source.mac": ["02:00:00:00:00:0a", 7, None]},
           # Offsets that go back within a file (gaps would read as file markers), and mixed items.
           {**base, "packetPos": [-1, 500, 400, 900]}, {**base, "packetPos": [-1, 24, "x", 90]},
           {**base, "packetPos": [700, -2, 24, 100]}]
    ids = [store.add(doc) for doc in odd]
    store.flush()
    for sid, doc in zip(ids, odd, strict=True):
        assert store.get_flat(sid) == doc


def test_derivable_fields_are_not_stored_twice(tmp_path: Path, corpus: dict[str, list[dict[str, Any]]]) -> None:
    """lastPacket, totals, packetRange and the community id come from the columns: a document
    whose values agree with them keeps none of them in its blob."""
    from appliance.store.sessions import decode_doc

    store = SessionStore(open_database(str(tmp_path / "s.db")))
    derived = {store.fields.by_path[p] for p in ("lastPacket", "firstPacket", "length", "packetRange",
                                                 "network.bytes", "network.packets", "totDataBytes",
                                                 "network.community_id", "node")}
    docs = [d for ds in corpus.values() for d in ds][:300]
    ids = [store.add(d) for d in docs]
    store.flush()
    kept: Counter[int] = Counter()
    for sid in ids:
        blob = store.conn.execute("SELECT doc FROM sessions WHERE id = ?", (sid,)).fetchall()[0][0]
        kept.update({abs(fid) for fid, _ in decode_doc(blob)} & derived)
    cid = store.fields.by_path["network.community_id"]
    # A community id that the columns derive differently (a tunnel's inner ICMP, say) is kept as given.
    assert kept[cid] < len(docs) // 20
    del kept[cid]
    assert not kept, [store.fields.by_id[f].path for f in kept]


def test_file_ids_come_from_the_packet_positions(tmp_path: Path, corpus: dict[str, list[dict[str, Any]]]) -> None:
    """fileId is the files that packetPos's -file markers name: the blob keeps a document's own
    list only where it says otherwise, and searches see the same list either way."""
    from appliance.query import Searcher
    from appliance.store.sessions import COLUMN_ORDER, decode_doc

    store = SessionStore(open_database(str(tmp_path / "s.db")))
    select = f"SELECT {', '.join(COLUMN_ORDER)} FROM sessions WHERE id = ?"
    base = {k: v for k, v in next(d for ds in corpus.values() for d in ds if d.get("packetPos")).items()
            if k != "fileId"}
    docs = [{**base, "fileId": [4, 5], "packetPos": [-4, 24, 1500, -5, 24, -4, 3000]},  # as capture makes them
            {**base, "fileId": [5], "packetPos": [-4, 24, -5, 24]},  # a list that says otherwise
            {**base, "packetPos": [-4, 24]},  # no fileId at all
            {**base, "fileId": [], "packetPos": [24, 90]}]  # offsets in a parsed capture
    ids = [store.add(doc) for doc in docs]
    store.flush()
    file_id = store.fields.by_path["fileId"]
    for sid, doc in zip(ids, docs, strict=True):
        assert store.get_flat(sid) == doc
        row = store.conn.execute(select, (sid,)).fetchall()[0]
        assert store.decode_rows([row], wanted={"fileId"})[0].get("fileId") == doc.get("fileId")
    kept = [any(abs(fid) == file_id for fid, _ in decode_doc(blob))
            for (blob,) in store.conn.execute("SELECT doc FROM sessions ORDER BY id")]
    assert kept == [False, True, True, False]
    searcher = Searcher(store)
    assert set(searcher.ids("fileId == 4")) == {ids[0]}
    assert set(searcher.ids("fileId == 5")) == {ids[0], ids[1]}
    assert set(searcher.ids("fileId == EXISTS!")) == {ids[0], ids[1], ids[3]}


def test_stores_keyed_by_16_byte_addresses_are_migrated(tmp_path: Path,
                                                          corpus: dict[str, list[dict[str, Any]]]) -> None:
    """Before migration 009 an address was a 16-byte key (IPv4 as ::ffff:a.b.c.d), in the
    columns and in the terms of ip fields. Opening such a store converts it: every document comes
    back, and address searches (nets of both families, ip fields' terms) find the same sessions."""
    import ipaddress

    from appliance.query import Searcher, TimeRange
    from appliance.store import db

    path = str(tmp_path / "old.db")
    store = SessionStore(open_database(path))
    docs = {store.add(d): d for ds in corpus.values() for d in ds}
    store.flush()
    old = ("CASE WHEN substr({0}, 1, 1) = x'04' THEN CAST(x'00000000000000000000ffff' || substr({0}, 2) AS BLOB) "
           "ELSE CAST(substr({0}, 2) AS BLOB) END")
    conn = store.conn
    back_to_version(conn, 8)
    with conn:  # back to the form a build before 009 wrote
        conn.execute(f"UPDATE sessions SET src_ip = {old.format('src_ip')}, dst_ip = {old.format('dst_ip')}")
        conn.execute(f"UPDATE terms SET value = {old.format('value')} WHERE typeof(value) = 'blob' "
                     "AND field_id IN (SELECT id FROM fields WHERE type = 'ip')")
    assert {r[0] for r in conn.execute("SELECT DISTINCT length(src_ip) FROM sessions")} <= {16, None}
    conn.close()

    conn = open_database(path)
    assert db.schema_version(conn) >= 9
    store = SessionStore(conn)
    for sid, doc in docs.items():
        assert store.get_flat(sid) == doc
    searcher = Searcher(store)

    def source(doc: dict[str, Any]) -> Any:
        return ipaddress.ip_address(doc["source.ip"]) if "source.ip" in doc else None

    def dns_ips(doc: dict[str, Any]) -> set[str]:
        return {ip for q in doc.get("dns") or [] for ip in q.get("ip") or []}

    every = TimeRange.from_args(date=-1)
    v4_net, v6_net = ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2000::/3")
    assert searcher.count("ip.src == 10.0.0.0/8", every) == sum(
        (a := source(d)) is not None and a.version == 4 and a in v4_net for d in docs.values()) > 0
    assert searcher.count("ip.src == 2000::/3", every) == sum(
        (a := source(d)) is not None and a.version == 6 and a in v6_net for d in docs.values()) > 0
    assert searcher.count("ip.src == ipv6", every) == sum(":" in d.get("source.ip", ".") for d in docs.values())
    answer = next(ip for d in docs.values() for ip in sorted(dns_ips(d)) if "." in ip)
    assert searcher.count(f"ip.dns == {answer}", every) == sum(answer in dns_ips(d) for d in docs.values())


def test_address_keys_sort_as_the_16_byte_form_and_print_back() -> None:
    """ip_key keeps the order of IPv4-mapped 16-byte addresses (so a CIDR of either family is one
    key range) in 5 bytes for IPv4; :: and ::1 sort below every IPv4 address, as they did."""
    import ipaddress
    import random

    from appliance.store.layout import ip_key, ip_text, is_ip_key

    rnd = random.Random(3)
    texts = ["0.0.0.0", "255.255.255.255", "::", "::1", "::fffe:ffff:ffff", "::1:0:0:0", "2001:db8::1", "fe80::1",
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]
    texts += [str(ipaddress.IPv4Address(rnd.getrandbits(32))) for _ in range(300)]
    texts += [str(ipaddress.IPv6Address(rnd.getrandbits(128) >> rnd.choice((0, 64, 100)))) for _ in range(300)]

    def wide(text: str) -> bytes:
        address = ipaddress.ip_address(text)
        return (ipaddress.IPv6Address(f"::ffff:{address}") if address.version == 4 else address).packed

    assert sorted(texts, key=ip_key) == sorted(texts, key=wide)
    for text in texts:
        key = ip_key(text)
        assert is_ip_key(key) and len(key) == (5 if "." in text else 17)
        assert ipaddress.ip_address(ip_text(key)) == ipaddress.ip_address(text)
    assert ip_key("::ffff:10.1.2.3") == ip_key("10.1.2.3")


def test_address_text_is_inet_ntops_exactly() -> None:
    """Documents and the store print an IPv4 address from a table of the byte values, not with
    inet_ntop: the text must be inet_ntop's to the character (every byte value in every place),
    or a stored address would no longer match its search term. IPv6 still goes to inet_ntop."""
    import random
    import socket

    from appliance.documents import ip_text
    from appliance.store import layout

    rnd = random.Random(5)
    addresses = [bytes(place * [7] + [byte] + (3 - place) * [0]) for place in range(4) for byte in range(256)]
    addresses += [rnd.randbytes(4) for _ in range(1000)]
    for addr in addresses:
        assert ip_text(addr) == socket.inet_ntop(socket.AF_INET, addr)
        assert layout.ip_text(layout.ip_key(ip_text(addr))) == socket.inet_ntop(socket.AF_INET, addr)
    for addr in [bytes(16), bytes(15) + b"\x01", bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 1]), rnd.randbytes(16)]:
        assert ip_text(addr) == socket.inet_ntop(socket.AF_INET6, addr)


def test_object_postings_are_every_registered_path_inside_the_objects(
        tmp_path: Path, corpus: dict[str, list[dict[str, Any]]]) -> None:
    """The writer walks a DNS object once along a tree of the registered paths: the terms it
    posts are exactly the string and integer values ``extract`` finds at each path, even where a
    value is a list, a nested list, an object or a bool."""
    from appliance.store.sessions import extract, term_value

    store = SessionStore(open_database(str(tmp_path / "s.db")))
    docs = [d for docs in corpus.values() for d in docs if d.get("dns")]
    odd = dict(docs[0], dns=[{"host": ["a.example", ["nested"], {"x": 1}, True], "qc": "IN",
                              "answers": [{"ip": "192.0.2.7", "ttl": 60}, "not an object"]}])
    added = [(store.add(doc), doc) for doc in [*docs, odd]]
    store.flush()
    assert len(docs) >= 20
    fields = store.fields
    paths = [p for p, s in fields.storage.items() if s.object_root == "dns"]
    for sid, doc in added:
        want = set()
        for path in paths:
            field = fields.by_id[fields.by_path[path]]
            for value in extract(doc["dns"], path[len("dns") + 1:]):
                if isinstance(value, (str, int)) and not isinstance(value, bool):
                    want.add((path, term_value(field, value)))
        got = set(store.conn.execute(
            "SELECT f.path, t.value FROM postings p JOIN terms t ON t.id = p.term_id "
            "JOIN fields f ON f.id = t.field_id WHERE p.session_id = ? AND f.path LIKE 'dns.%'", (sid,)))
        assert got == want, doc.get("dns")
    assert ("dns.answers.ip", term_value(fields.by_id[fields.by_path["dns.answers.ip"]], "192.0.2.7")) in want


def test_objects_stored_as_term_ids_come_back_as_given(tmp_path: Path,
                                                       corpus: dict[str, list[dict[str, Any]]]) -> None:
    """A DNS object's searchable values are kept as term ids (blob.TermRef); what the reader
    rebuilds is the object that was added, odd values included: an address spelt oddly, keys
    that are not search paths, nested lists, numbers and bools where text is usual, a key that is
    not text (JSON makes it text, as the first format did)."""
    from appliance.store import blob

    store = SessionStore(open_database(str(tmp_path / "s.db")))
    base = next(d for docs in corpus.values() for d in docs if d.get("dns"))
    odd = [{"host": ["a.example", ["nested"], {"x": 1}, True, 7], "qc": "IN", "hostCnt": 3,
            "answers": [{"ip": "::FFFF:192.0.2.7", "ttl": 60, "name": "a.example", "extra": {"k": [1.5, None]}},
                        {"ip": ["192.0.2.8", "not an address"], "type": "A"}, "not an object", ["x"]],
            "status": "NOERROR"},
           "stray text"]
    cases = [dict(base, dns=odd), dict(base, dns=[{"host": ["b.example"], 5: "int key"}]),
             dict(base, dns={"host": "c.example", "qt": "AAAA"})]
    ids = [store.add(doc) for doc in cases]
    store.flush()
    assert store.get_flat(ids[0]) == cases[0]
    assert store.get_flat(ids[1])["dns"] == [{"host": ["b.example"], "5": "int key"}]
    assert store.get_flat(ids[2]) == cases[2]
    # The stored object names its registered values by term id, not as text.
    row = store.conn.execute("SELECT doc FROM sessions WHERE id = ?", (ids[2],)).fetchall()[0][0]
    dns_id = store.fields.by_path["dns"]
    tree = dict(blob.decode(row))[dns_id]
    assert isinstance(tree, blob.Tree) and len(tree.refs) == 2 and b"c.example" not in row


@pytest.mark.parametrize("spelling", ["10.0.0.1", "010.0.0.1", "10.0.0.01", "::ffff:10.0.0.1", "2001:db8::1",
                                      "2001:DB8::1", "2001:db8:0:0::1", "fe80::1%eth0", "10.0.0.1 ", "not an address"])
def test_an_address_comes_back_spelt_as_given(tmp_path: Path, corpus: dict[str, list[dict[str, Any]]],
                                              spelling: str) -> None:
    """Addresses go into the address columns only when their text would come back the same
    (IPv4 is taken at its word when inet_pton accepts it): any other spelling is kept as given."""
    store = SessionStore(open_database(str(tmp_path / "s.db")))
    base = next(d for docs in corpus.values() for d in docs if d.get("source.ip", "").count(".") == 3)
    doc = dict(base, **{"source.ip": spelling})
    doc.pop("network.community_id", None)  # not derivable from an address that is not one
    sid = store.add(doc)
    store.flush()
    assert store.get_flat(sid) == doc


@pytest.mark.parametrize("count", [0, 1, 99, 100, 101, 250])
@pytest.mark.parametrize("one_each", [False, True])
def test_rows_go_in_as_many_row_statements(tmp_path: Path, count: int, one_each: bool) -> None:
    """insert_rows: every row once, in order, whole statements of ROWS_PER_INSERT and the rest;
    an ON CONFLICT tail applies to each row, also to a key met twice in one statement. The same
    for insert_each, a row to a statement."""
    from appliance.store import db

    ROWS_PER_INSERT = db.ROWS_PER_INSERT  # noqa: N806
    insert_rows = db.insert_each if one_each else db.insert_rows
    conn = open_database(str(tmp_path / "s.db"))
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, n INTEGER, s TEXT)")
    rows = [(i, i * 2, f"r{i}") for i in range(count)]
    insert_rows(conn, "INSERT INTO t (k, n, s) VALUES ", rows)
    assert conn.execute("SELECT k, n, s FROM t ORDER BY k").fetchall() == rows
    again = [(i % 7, 1, "x") for i in range(ROWS_PER_INSERT + 3)]
    insert_rows(conn, "INSERT INTO t (k, n, s) VALUES ", again, " ON CONFLICT (k) DO UPDATE SET n = n + excluded.n")
    got = dict(conn.execute("SELECT k, n FROM t WHERE k < 7").fetchall())
    for k in range(7):
        hits = sum(1 for key, _, _ in again if key == k)
        assert got[k] == (k * 2 if k < count else 0) + hits  # the first row of a new key inserts its 1


def test_a_term_cache_emptied_mid_batch_keeps_the_batch_new_terms(tmp_path: Path,
                                                                 corpus: dict[str, list[dict[str, Any]]]) -> None:
    """Retention's prune empties the writer's term cache between any two sessions: a value new in
    the batch being built, seen again after that, must get the same id (it once got a second one,
    and the whole batch failed on the terms' UNIQUE constraint)."""
    store = SessionStore(open_database(str(tmp_path / "s.db")), batch_size=10_000, max_delay=3600)
    every = [doc for docs in corpus.values() for doc in docs]
    first, second = (dict(doc, tags=["seen-twice-in-one-batch"]) for doc in every[:2])
    a = store.add(first)
    store.forget_terms()
    b = store.add(second)
    store.flush()
    rows = store.conn.execute("SELECT count(*) FROM terms WHERE value = 'seen-twice-in-one-batch'").fetchall()
    assert rows[0][0] == 1
    assert store.get_flat(a)["tags"] == store.get_flat(b)["tags"] == ["seen-twice-in-one-batch"]


def test_random_valued_columns_are_searched_through_time_led_indexes(tmp_path: Path,
                                                                     corpus_store: Any) -> None:
    """sql/012 and 013: the destination address, source port and community id indexes lead with
    the time bucket (id >> 28), and a search with no time bound still seeks them (skip-scan, from
    the fixed statistics), in a new store and in ones migrated from versions 11 and 12."""
    from appliance.query import Searcher, TimeRange

    store, by_id = corpus_store
    doc = next(d for d in by_id.values() if "network.community_id" in d and d.get("source.port"))
    searches = {f"ip.dst == {doc['destination.ip']}": "sessions_dst_ip",
                f"port.src == {doc['source.port']}": "sessions_src_port",
                f"communityId == \"{doc['network.community_id']}\"": "sessions_cid",
                f"ip.src == {doc['source.ip']}": "sessions_src_ip",
                f"port.dst == {doc['destination.port']}": "sessions_dst_port"}
    stores = [store]
    for version in (11, 12):
        path = str(tmp_path / f"version{version}.db")
        old = SessionStore(open_database(path))
        old.add(doc)
        old.flush()
        back_to_version(old.conn, version)
        old.conn.close()
        stores.append(SessionStore(open_database(path)))
    for each in stores:
        for column in ("dst_ip", "src_port", "cid"):
            rows = each.conn.execute("SELECT sql FROM sqlite_schema WHERE name = ?", (f"sessions_{column}",)).fetchall()
            assert "(id >> 28," in rows[0][0]
        searcher = Searcher(each)
        for expression, index in searches.items():
            where, params = searcher.where(expression, TimeRange())
            plan = each.conn.execute(f"EXPLAIN QUERY PLAN SELECT s.id FROM sessions s WHERE {where}",
                                     params).fetchall()
            assert any(f"INDEX {index} " in row[-1] for row in plan), (expression, plan)
            assert searcher.ids(expression), expression
    ids = Searcher(store).ids(f"ip.dst == {doc['destination.ip']}")
    assert set(ids) == {i for i, d in by_id.items() if d.get("destination.ip") == doc["destination.ip"]}


def test_sessions_insert_names_no_columns_unless_the_table_differs(
        tmp_path: Path, corpus: dict[str, list[dict[str, Any]]]) -> None:
    """apsw hashes a statement's text for each executemany row: the insert is short (``?N`` in the
    table's order) where the table has exactly our columns, named where it does not."""
    from appliance.store.sessions import _insert_sessions

    docs = [d for ds in corpus.values() for d in ds][:40]
    for extra in (False, True):
        conn = open_database(str(tmp_path / f"s{extra}.db"))
        if extra:  # a column some newer schema added: the positional form would not fit
            conn.execute("ALTER TABLE sessions ADD COLUMN later INTEGER")
        sql = _insert_sessions(conn)
        assert sql.startswith("INSERT INTO sessions(" if extra else "INSERT INTO sessions VALUES(?1,?2,")
        store = SessionStore(conn)
        added = [(store.add(doc), doc) for doc in docs]
        store.flush()
        for sid, doc in added:
            assert store.get_flat(sid) == doc


def test_compact_sql_keeps_the_statement() -> None:
    from appliance.store.db import compact

    upsert = ("INSERT INTO device_ips (mac, ip, first_ms) VALUES (?, ?, ?) "
              "ON CONFLICT (mac, ip) DO UPDATE SET first_ms = min(first_ms, excluded.first_ms) ")
    assert compact(upsert) == ("INSERT INTO device_ips(mac,ip,first_ms)VALUES(?,?,?)"
                               "ON CONFLICT(mac,ip)DO UPDATE SET first_ms=min(first_ms,excluded.first_ms)")
    conn = apsw.Connection(":memory:")
    conn.execute("CREATE TABLE device_ips (mac TEXT, ip TEXT, first_ms INTEGER, PRIMARY KEY (mac, ip))")
    conn.executemany(compact(upsert), [("m", "a", 5), ("m", "a", 3), ("m", "b", 9)])
    assert conn.execute("SELECT * FROM device_ips ORDER BY ip").fetchall() == [("m", "a", 3), ("m", "b", 9)]
