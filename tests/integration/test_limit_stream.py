"""LIMIT/OFFSET without ORDER BY streams: every chunk returns at most offset + count rows, the
czar keeps the window and stops the other jobs once it is full. Which rows come back is not
defined (as on one MariaDB), so the checks are: how many, all distinct, all real rows."""

from __future__ import annotations

import pytest

from tests.conftest import query
from tests.integration.test_dialect import explain


def _all_ids(oracle_conn) -> set[int]:
    return {r[0] for r in query(oracle_conn, "SELECT objectId FROM Object")[1]}


@pytest.mark.parametrize("sql, expected", [
    ("SELECT objectId FROM Object LIMIT 7", 7),
    ("SELECT objectId FROM Object LIMIT 3, 5", 5),
    ("SELECT objectId FROM Object LIMIT 5 OFFSET 2000", 5),
    ("SELECT objectId FROM Object LIMIT 0", 0),
    ("SELECT objectId FROM Object WHERE objectId < 0 LIMIT 5", 0),
])
def test_window_of_real_distinct_rows(czar, oracle_conn, sql, expected):
    rows = [r[0] for r in query(czar, sql)[1]]
    assert len(rows) == expected
    assert len(set(rows)) == expected
    assert set(rows) <= _all_ids(oracle_conn)


def test_window_past_the_end(czar, oracle_conn):
    total = len(_all_ids(oracle_conn))
    assert len(query(czar, f"SELECT objectId FROM Object LIMIT {total - 3}, 10")[1]) == 3
    assert query(czar, f"SELECT objectId FROM Object LIMIT {total + 5}, 10")[1] == []
    assert len(query(czar, f"SELECT objectId FROM Object LIMIT {total + 100}")[1]) == total


def test_stopped_stream_leaves_the_connection_usable(czar, oracle_conn):
    for _ in range(3):
        assert len(query(czar, "SELECT * FROM Object LIMIT 1")[1]) == 1
    assert query(czar, "SELECT COUNT(*) FROM Object")[1] == query(oracle_conn, "SELECT COUNT(*) FROM Object")[1]


def test_explain_shows_the_streamed_shape(czar):
    plan = explain(czar, "SELECT objectId FROM Object LIMIT 3, 5")
    assert plan["execution"].startswith("streamed") and "skips 3 rows, sends 5" in plan["execution"]
    assert "LIMIT 8" in plan["chunk_query"] and "OFFSET" not in plan["chunk_query"]
