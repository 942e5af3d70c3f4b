-- Postings in blocks (appliance/store/postings.py): a term's session ids, a few hundred to a
-- row, as gaps from the newest, instead of one (term, session) row each (~15 bytes a posting
-- then, 2-3 now). The blocks of a term cover increasing, disjoint ranges of ids; last_id, the
-- newest id of a block, is the key, so the block that could hold session S is the first with
-- last_id >= S. fk_pack is registered on every connection by the store (postings.register).

CREATE TABLE posting_blocks (
    term_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,  -- the newest session id of the block
    ids BLOB NOT NULL,         -- the others, newest first, as gaps
    PRIMARY KEY (term_id, last_id)
) WITHOUT ROWID;

INSERT INTO posting_blocks (term_id, last_id, ids)
SELECT term_id, max(session_id), fk_pack(session_id)
FROM (SELECT term_id, session_id,
             (row_number() OVER (PARTITION BY term_id ORDER BY session_id) - 1) / 128 AS block
      FROM postings)
GROUP BY term_id, block;

DROP TABLE postings;

-- The (term, session) pairs as they were, for checks and for reading by hand.
CREATE VIEW postings (term_id, session_id) AS
SELECT b.term_id, x.value FROM posting_blocks b, fk_postings(b.ids, b.last_id) x;
