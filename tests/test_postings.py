"""Posting blocks (appliance/store/postings.py): the codec, the writer's block upkeep, retention's
trimming and the SQL functions that read blocks, on real SQLite files."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import apsw
import pytest

from appliance.store import layout, postings
from appliance.store.db import open_database


def _ids(rnd: random.Random, n: int) -> list[int]:
    """Distinct session ids as a capture makes them: mostly a millisecond apart or more, a few
    sharing a millisecond (sequence bytes), some far apart, some before 2020 (negative)."""
    base = layout.session_id(rnd.choice([1_500_000_000_000, 1_700_000_000_000]), 0)
    out = set()
    for _ in range(n):
        ms = rnd.choice([rnd.randint(0, 50), rnd.randint(0, 10**6), rnd.randint(0, 10**11)])
        out.add(base + (ms << layout.SEQ_BITS) + rnd.choice([0, 0, 0, rnd.randint(1, 255)]))
    return sorted(out)


def test_blocks_pack_and_unpack_every_id_newest_first() -> None:
    rnd = random.Random(7)
    for _ in range(500):
        ids = _ids(rnd, rnd.randint(1, 200))
        last, blob = postings.pack(ids)
        assert last == ids[-1]
        assert postings.unpack(last, blob) == ids[::-1]
        lo, hi = sorted(rnd.choice(ids) + rnd.randint(-3, 3) for _ in range(2))
        inside = [i for i in ids[::-1] if lo <= i <= hi]
        assert postings.unpack(last, blob, lo, hi) == inside
        assert postings.count(blob, last, lo, hi) == len(inside)
        probe = rnd.choice(ids)
        assert postings.holds(blob, last, probe) and postings.holds(blob, last, probe + 1) == (probe + 1 in ids)


def test_late_ids_merge_into_a_block_in_order_and_once() -> None:
    """The writer's merge of a stored block (newest first) with a batch's late ids (increasing,
    some already stored): every id once, increasing, whichever list runs out first."""
    rnd = random.Random(11)
    for _ in range(500):
        stored = _ids(rnd, rnd.randint(1, 200))
        late = sorted(set(_ids(rnd, rnd.randint(0, 40)) + rnd.sample(stored, min(len(stored), rnd.randint(0, 3)))))
        i = rnd.randint(0, len(late))
        j = rnd.randint(i, len(late))
        last, blob = postings.pack(stored)
        assert postings._merge(postings.unpack(last, blob), late, i, j) == sorted(set(stored) | set(late[i:j]))


def test_a_dense_term_costs_about_two_bytes_a_posting() -> None:
    """Sessions a second or two apart (a busy term such as tcp): a gap takes two bytes, not the
    ~15 of a (term, session) row."""
    rnd = random.Random(1)
    ms = 1_750_000_000_000
    ids = []
    for _ in range(postings.BLOCK_IDS):
        ms += rnd.randint(200, 3000)
        ids.append(layout.session_id(ms, 0))
    _, blob = postings.pack(ids)
    assert len(blob) / (len(ids) - 1) <= 2.0


@pytest.fixture
def conn(tmp_path: Path) -> Any:
    c = open_database(str(tmp_path / "p.db"))
    yield c
    c.close()


def _add(conn: Any, pairs: list[tuple[int, int]]) -> None:
    by_term: dict[int, set[int]] = {}
    for term, sid in pairs:
        by_term.setdefault(term, set()).add(sid)
    with conn:
        postings.add(conn, {term: list(sids) for term, sids in by_term.items()})


def _pairs(conn: Any) -> list[tuple[int, int]]:
    return sorted(conn.execute("SELECT term_id, session_id FROM postings").fetchall())


def _check_blocks(conn: Any) -> None:
    """Each term's blocks cover disjoint, increasing ranges, each blob within a page's share."""
    rows = conn.execute("SELECT term_id, last_id, ids FROM posting_blocks ORDER BY term_id, last_id").fetchall()
    previous: dict[int, int] = {}
    for term, last, blob in rows:
        ids = postings.unpack(last, blob)
        assert ids == sorted(ids, reverse=True) and ids[0] == last
        assert ids[-1] > previous.get(term, -(1 << 63))
        assert len(blob) <= 1000
        previous[term] = last


def test_batches_in_and_out_of_order_keep_every_pair_once(conn: Any) -> None:
    """Batches as a writer makes them: mostly newer sessions, some older than the newest stored
    (a session that ended earlier but closed later), some repeated: every pair is kept once, and
    the blocks stay ordered, so one block per term can answer whether it holds a session."""
    rnd = random.Random(5)
    ids = _ids(rnd, 6000)
    expected: set[tuple[int, int]] = set()
    done = 0
    while done < len(ids):
        size = rnd.choice([1, 7, 50, 400])
        batch = ids[done:done + size]
        done += size
        if done > 500:  # a few older sessions and a repeat in the batch
            batch += rnd.sample(ids[:done - size], 3)
        pairs = [(rnd.choice([1, 2, 2, 3, 3, 3]), sid) for sid in batch] + [(4, sid) for sid in batch]
        expected |= set(pairs)
        _add(conn, pairs)
    assert _pairs(conn) == sorted(expected)
    _check_blocks(conn)
    for term, sid in rnd.sample(sorted(expected), 200):
        found = conn.execute(
            "SELECT fk_has(b.ids, b.last_id, ?) FROM posting_blocks b WHERE b.term_id = ? AND b.last_id = "
            "(SELECT min(last_id) FROM posting_blocks WHERE term_id = ? AND last_id >= ?)",
            (sid, term, term, sid)).fetchall()
        assert found == [(1,)]
    blocks = conn.execute("SELECT count(*) FROM posting_blocks WHERE term_id = 4").fetchall()[0][0]
    assert blocks < len(ids) / 20  # the newest block takes the next batches' ids


def test_the_sql_functions_read_a_window_and_refuse_a_missing_block(conn: Any) -> None:
    ids = _ids(random.Random(2), 300)
    _add(conn, [(9, sid) for sid in ids])
    lo, hi = ids[40], ids[250]
    listed = conn.execute("SELECT x.value FROM posting_blocks b, fk_postings(b.ids, b.last_id, ?, ?) x "
                          "WHERE b.term_id = 9 AND b.last_id >= ?", (lo, hi, lo)).fetchall()
    assert sorted(v for (v,) in listed) == ids[40:251]
    counted = conn.execute("SELECT sum(fk_count(b.ids, b.last_id, ?, ?)) FROM posting_blocks b WHERE b.term_id = 9",
                           (lo, hi)).fetchall()
    assert counted == [(211,)]
    # The block's ids and last id are required: a query that does not give them is an error.
    with pytest.raises(apsw.SQLError):
        conn.execute("SELECT * FROM fk_postings").fetchall()
    assert conn.execute("SELECT count(*) FROM fk_postings(NULL, 5)").fetchall() == [(0,)]


def test_retention_trims_the_straddling_block_and_counts_what_went(conn: Any) -> None:
    rnd = random.Random(3)
    ids = _ids(rnd, 2000)
    _add(conn, [(1, sid) for sid in ids] + [(2, sid) for sid in ids[::3]])
    cutoff = ids[777] + 1
    for term, kept in ((1, ids), (2, ids[::3])):
        old = sum(sid < cutoff for sid in kept)
        assert postings.count_before(conn, term, cutoff) == old
        with conn:
            assert postings.drop_before(conn, term, cutoff) == old
        assert postings.count_before(conn, term, cutoff) == 0
    assert _pairs(conn) == sorted([(1, s) for s in ids if s >= cutoff] + [(2, s) for s in ids[::3] if s >= cutoff])
    _check_blocks(conn)
    with conn:
        assert postings.drop_before(conn, 1, cutoff) == 0
