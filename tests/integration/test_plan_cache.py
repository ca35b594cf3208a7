"""The plan cache on a real cluster (czar/plan_cache.py): a repeated statement shape is answered
without parsing or analysis, so every answer here is checked against one MariaDB (different
numbers each time), against a catalog that changes under it (a database dropped, then loaded
again with other rows), and for MariaDB's error codes."""

from __future__ import annotations

import json
import urllib.request

import pymysql
import pytest

from qserv.catalog import DatabaseSpec
from qserv.admin.demo import generate
from qserv.admin.ingest_client import load
from tests.conftest import assert_same_result, czar_connect, query

# Each shape runs REPEAT times with other numbers: shape seen, parameters found, planned, then
# answered from the cache.
REPEAT = 6
SHAPES = [
    ("SELECT * FROM Object WHERE objectId = {a}", True),
    ("SELECT objectId, ra FROM Object WHERE objectId IN ({a}, {b}, {c})", False),
    ("SELECT * FROM Source WHERE objectId = {a}", False),
    ("SELECT o.objectId, s.sourceId FROM Object o JOIN Source s ON o.objectId = s.objectId "
     "WHERE o.objectId = {a}", False),
    ("SELECT COUNT(*) FROM Object WHERE objectId BETWEEN {a} AND {b}", False),
    ("SELECT objectId FROM Object WHERE objectId > {a} AND objectId < {b} ORDER BY objectId LIMIT 5", True),
    ("SELECT objectId, gMag FROM Object WHERE objectId = {a} OR gMag < {f}", False),
    ("SELECT COUNT(*) AS n, MIN(objectId) FROM Object WHERE ra > {f} AND decl <= {g}", False),
]


def ids(i: int) -> dict[str, str]:
    """Object ids of the demo catalog are 10 n + 3; some numbers here match none."""
    a = 13 + 10 * (37 * i % 20_000)
    return {"a": str(a), "b": str(a + 10 * (i + 1)), "c": str(a + 1), "f": f"{i * 0.75 - 2:.2f}",
            "g": str(i - 3)}


@pytest.mark.parametrize("shape, ordered", SHAPES, ids=[s[:48] for s, _ in SHAPES])
def test_repeated_shape_same_rows_as_single_mariadb(shape, ordered, czar, oracle_conn):
    for i in range(REPEAT):
        sql = shape.format(**ids(i))
        assert_same_result(query(czar, sql), query(oracle_conn, sql), ordered)


def test_same_text_repeated_with_fixed_numbers(czar, oracle_conn):
    sql = "SELECT objectId FROM Object WHERE qserv_areaspec_circle(1, 2, 0.5) ORDER BY objectId LIMIT 7"
    oracle_sql = ("SELECT objectId FROM Object WHERE scisql_s2PtInCircle(ra, decl, 1, 2, 0.5) = 1 "
                  "ORDER BY objectId LIMIT 7")
    expected = query(oracle_conn, oracle_sql)
    for _ in range(REPEAT):
        assert_same_result(query(czar, sql), expected, True)


def test_errors_keep_their_codes_when_repeated(czar):
    for i in range(REPEAT):
        for sql, code in ((f"SELECT nope FROM Object WHERE objectId = {13 + 10 * i}", 1054),
                          (f"SELECT * FROM Nope WHERE objectId = {13 + 10 * i}", 1146),
                          (f"SELECT * FROM Object WHERE objectId = {13 + 10 * i} AND", 1064)):
            with pytest.raises(pymysql.MySQLError) as e:
                query(czar, sql)
            assert e.value.args[0] == code, (sql, e.value.args)


def test_non_integer_key_value_after_learning(czar, oracle_conn):
    for i in range(REPEAT):
        query(czar, f"SELECT * FROM Object WHERE objectId = {13 + 10 * i}")
    for sql in ("SELECT * FROM Object WHERE objectId = 23.0", "SELECT * FROM Object WHERE objectId = 2.3e1",
                "SELECT * FROM Object WHERE objectId = 99999999999999999999999"):
        assert_same_result(query(czar, sql), query(oracle_conn, sql), False)


def delete_database(config, db: str) -> None:
    req = urllib.request.Request(f"http://{config.host}:{config.http_port}/ingest/database/{db}",
                                 method="DELETE")
    req.add_header("Authorization", f"Bearer {config.admin_token}")
    with urllib.request.urlopen(req, timeout=120) as r:
        json.loads(r.read())


def test_catalog_change_invalidates(demo_cluster, tmp_path):
    """A learned shape must see a dropped database go, and the rows of its new load."""
    def spec(n):
        return DatabaseSpec.read(generate(tmp_path / f"gen{n}", n_objects=n, name="cachedb",
                                          chunk_order=3, sources_per_object=1))
    load(demo_cluster, spec(500), show_progress=False)
    conn = czar_connect(demo_cluster, "cachedb")
    try:
        for i in range(REPEAT):  # 4003 exists now: object 400 of 500
            assert len(query(conn, f"SELECT * FROM Object WHERE objectId = {4003 - 10 * i}")[1]) == 1
            assert query(conn, f"SELECT COUNT(*) FROM Object WHERE objectId > {i}")[1] == [(500,)]
        delete_database(demo_cluster, "cachedb")
        with pytest.raises(pymysql.MySQLError) as e:
            query(conn, "SELECT * FROM Object WHERE objectId = 4003")
        assert e.value.args[0] in (1049, 1146), e.value.args
        load(demo_cluster, spec(300), show_progress=False)
        assert query(conn, "SELECT * FROM Object WHERE objectId = 4003")[1] == []
        assert len(query(conn, "SELECT * FROM Object WHERE objectId = 2003")[1]) == 1
        assert query(conn, "SELECT COUNT(*) FROM Object WHERE objectId > 7")[1] == [(300,)]
    finally:
        conn.close()
        delete_database(demo_cluster, "cachedb")
