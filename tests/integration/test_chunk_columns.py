"""chunkId and subChunkId: never shown by SELECT *, but usable when named explicitly.
(The oracle has no such columns, so these are checked here rather than differentially.)"""

from __future__ import annotations

from tests.conftest import query


def test_star_hides_chunk_columns(czar, oracle_conn):
    names, _ = query(czar, "SELECT * FROM Object ORDER BY objectId LIMIT 1")
    assert "chunkId" not in names and "subChunkId" not in names
    assert names == query(oracle_conn, "SELECT * FROM Object ORDER BY objectId LIMIT 1")[0]
    names, _ = query(czar, "SELECT o.*, s.sourceId FROM Object o JOIN Source s "
                           "ON o.objectId = s.objectId ORDER BY s.sourceId LIMIT 1")
    assert "chunkId" not in names and "subChunkId" not in names


def test_chunk_id_named_explicitly(czar):
    names, rows = query(czar, "SELECT objectId, chunkId, subChunkId FROM Object "
                              "ORDER BY objectId LIMIT 50")
    assert names == ["objectId", "chunkId", "subChunkId"]
    assert len(rows) == 50
    assert all(isinstance(r[1], int) and isinstance(r[2], int) for r in rows)


def test_group_by_chunk_id_covers_all_rows(czar, oracle_conn):
    _, rows = query(czar, "SELECT chunkId, COUNT(*) FROM Object GROUP BY chunkId")
    total = query(oracle_conn, "SELECT COUNT(*) FROM Object")[1][0][0]
    assert len(rows) > 1
    assert sum(r[1] for r in rows) == total
    assert len({r[0] for r in rows}) == len(rows)


def test_where_on_chunk_id(czar):
    _, rows = query(czar, "SELECT chunkId, COUNT(*) FROM Object GROUP BY chunkId ORDER BY chunkId")
    chunk, n = rows[0]
    assert query(czar, f"SELECT COUNT(*) FROM Object WHERE chunkId = {chunk}")[1] == [(n,)]
    _, sub = query(czar, f"SELECT DISTINCT subChunkId FROM Object WHERE chunkId = {chunk}")
    assert all(0 <= s[0] < 4 ** 3 for s in sub)  # subchunk_bits = 3 in the demo


def test_child_rows_share_director_chunk(czar):
    _, rows = query(czar, "SELECT COUNT(*) FROM Object o JOIN Source s ON o.objectId = s.objectId "
                          "WHERE o.chunkId <> s.chunkId")
    assert rows == [(0,)]
