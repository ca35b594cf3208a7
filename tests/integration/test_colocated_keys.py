"""Issue 18 performance plans that lean on director keys living in one chunk, on a real
cluster: the catalog learns at load time that no Source row was placed by its own position
(TableSpec.placed_by_position), so COUNT(DISTINCT objectId) counts per chunk; a long IN list
sends each chunk its own keys (czar/chunk_keys.py). The differential corpus checks the rows."""

from __future__ import annotations

import pytest

from czar.chunk_keys import ARG_MARKER, PER_CHUNK_KEYS
from qserv.catalog import TableSpec
from tests.conftest import query


def explain(conn, sql) -> dict[str, str]:
    return dict(query(conn, "EXPLAIN " + sql)[1])


def test_count_distinct_of_a_child_key_counts_per_chunk(czar):
    plan = explain(czar, "SELECT COUNT(DISTINCT objectId) FROM Source")
    assert "COUNT(DISTINCT `objectId`) AS `qsa0`" in plan["chunk_query"]
    assert "SUM(`qsa0`)" in plan["merge_query"]


def test_long_in_list_sends_each_chunk_its_own_keys(czar):
    keys = [10 * i + 3 for i in range(1, 3 * PER_CHUNK_KEYS)]
    plan = explain(czar, f"SELECT COUNT(*) FROM Source WHERE objectId IN ({', '.join(map(str, keys))})")
    assert f"IN ({ARG_MARKER})" in plan["chunk_query"]
    assert "each chunk gets only its own keys" in plan["pruned_by"]
    everything = explain(czar, "SELECT COUNT(*) FROM Source")
    assert 0 < int(plan["chunks"]) <= int(everything["chunks"])
    got = query(czar, f"SELECT COUNT(*) FROM Source WHERE objectId IN ({', '.join(map(str, keys))})")
    assert got[1][0][0] > 0


@pytest.mark.parametrize("role, ra, placed, colocated", [
    ("director", "ra", None, True),
    ("child", None, None, True),      # no position of its own: a row without director is refused
    ("child", "ra", 0, True),
    ("child", "ra", 3, False),        # rows placed by position: a key may be in two chunks
    ("child", "ra", None, False),     # not known
])
def test_keys_colocated(role, ra, placed, colocated):
    spec = TableSpec(name="T", role=role, columns=[{"name": "k", "type": "BIGINT"}], ra=ra,
                     dec=ra and "dec", director_key="k",
                     director_table="D" if role == "child" else None, placed_by_position=placed)
    assert spec.keys_colocated is colocated


def test_histogram_over_a_derived_table_runs_in_the_chunks(czar):
    sql = ("SELECT n, COUNT(*) FROM (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) "
           "AS t GROUP BY n ORDER BY n")
    plan = explain(czar, sql)
    assert plan["shape"] == "merged"
    assert "FROM `demo`.`Source___QSERV_CHUNK__` AS `Source` GROUP BY `objectId`) AS `t` GROUP BY `n`" \
        in plan["chunk_query"]
    rows = query(czar, sql)[1]
    assert sum(r[1] for r in rows) == query(czar, "SELECT COUNT(DISTINCT objectId) FROM Source")[1][0][0]
