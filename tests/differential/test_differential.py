"""Every query of tests/differential/queries/*.sql through the czar and through one plain
MariaDB holding the same rows: same column names, same rows.

File markup: `-- ordered` compares rows in order (the query's ORDER BY fixes it);
otherwise rows are compared as multisets. One query per file. `-- oracle: <sql>` gives the
reference's own text when the dialect differs (qserv_areaspec_* becomes the scisql test the
original Qserv adds; the variadic scisql_s2PtInCPoly becomes scisql_s2PtInCPolyStr).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import assert_same_result, query

QUERIES = sorted((Path(__file__).parent / "queries").glob("*.sql"))


def oracle_text(text: str, sql: str) -> str:
    """The reference's SQL: the `-- oracle:` line when there is one, else the query itself."""
    return next((line.strip()[len("-- oracle:"):].strip() for line in text.splitlines()
                 if line.strip().startswith("-- oracle:")), sql)


@pytest.mark.parametrize("path", QUERIES, ids=[p.stem for p in QUERIES])
def test_same_answer_as_single_mariadb(path, czar, oracle_conn):
    text = path.read_text()
    ordered = "-- ordered" in text
    sql = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--")).strip()
    expected = query(oracle_conn, oracle_text(text, sql))
    got = query(czar, sql)
    assert_same_result(got, expected, ordered)


def test_corpus_is_large_enough():
    assert len(QUERIES) >= 40
