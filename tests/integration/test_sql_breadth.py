"""Issue 18 through the czar, beyond the differential corpus (which compares rows): EXPLAIN of
every phase, the empty shape, and the refusals and errors of what is not distributed."""

from __future__ import annotations

import pymysql
import pytest

from qserv.mariadb import MariaDBServer
from tests.conftest import query


def explain(conn, sql) -> dict[str, str]:
    return dict(query(conn, "EXPLAIN " + sql)[1])


def test_explain_shows_every_phase(czar):
    plan = explain(czar, "SELECT COUNT(*) FROM Object WHERE objectId IN "
                         "(SELECT objectId FROM Source WHERE psfFlux > 400)")
    assert plan["shape"] == "two-phase"
    assert plan["phase 1"].startswith("in sub-query: SELECT")
    assert plan["phase 1 shape"] == "merged" and "__QSERV_CHUNK__" in plan["phase 1 chunk_query"]
    assert plan["phase 2"].startswith("outer query")
    union = explain(czar, "SELECT objectId FROM Object WHERE flags = 1 UNION "
                          "SELECT n FROM (SELECT COUNT(*) AS n FROM Source) AS t")
    assert union["shape"] == "on the czar"
    assert union["phase 2 shape"] == "on the czar" and union["phase 2 phase 1 shape"] == "merged"
    assert union["phase 3"].startswith("on the czar")


def test_empty_plan_explained_and_answered(czar):
    sql = "SELECT COUNT(*), AVG(gMag) FROM Object WHERE objectId IN (900000000001, 900000000002)"
    plan = explain(czar, sql)
    assert plan["shape"] == "empty" and plan["chunks"] == "0"
    assert query(czar, sql)[1] == [(0, None)]


@pytest.mark.parametrize("sql, code, text", [
    ("SELECT objectId FROM Object o WHERE EXISTS (SELECT 1 FROM Source s WHERE s.objectId = o.objectId)",
     1235, "correlated"),
    ("SELECT objectId FROM Object WHERE gMag > ANY (SELECT psfFlux FROM Source)", 1235, "ANY"),
    ("SELECT o.objectId FROM Object o JOIN (SELECT objectId FROM Source) AS s ON o.objectId = s.objectId",
     1235, "derived tables joined with tables"),
    ("SELECT objectId FROM Object WHERE gMag > (SELECT psfFlux FROM Source)", 1242, "more than 1 row"),
    ("SELECT f.filterName, o.objectId FROM Filter f LEFT JOIN Object o ON o.flags = f.filterId",
     1235, "preserved side"),
    ("SELECT objectId, ROW_NUMBER() OVER w FROM Object WINDOW w AS (ORDER BY ra)", 1235, "named windows"),
])
def test_refused_by_name(czar, sql, code, text):
    with pytest.raises(pymysql.err.MySQLError) as info:
        query(czar, sql)
    assert info.value.args[0] == code, info.value.args
    assert text.lower() in str(info.value.args[1]).lower()
    assert query(czar, "SELECT COUNT(*) FROM Filter")[1] == [(6,)]  # still usable


def test_no_result_tables_left_behind(czar, demo_cluster):
    """The czar tables of every phase are gone once the rows are read (or the query failed)."""
    root = MariaDBServer.for_czar(demo_cluster).connect()

    def tables():
        return set(query(root, "SELECT TABLE_NAME FROM information_schema.TABLES "
                               "WHERE TABLE_SCHEMA = 'qservResult'")[1])
    before = tables()
    query(czar, "SELECT n, COUNT(*) FROM (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) AS t "
                "GROUP BY n UNION SELECT 1, 2")
    query(czar, "SELECT COUNT(*) FROM Object WHERE objectId IN (SELECT objectId FROM Source WHERE psfFlux > 400)")
    with pytest.raises(pymysql.err.MySQLError):
        query(czar, "SELECT objectId FROM Object WHERE gMag > (SELECT psfFlux FROM Source)")
    assert tables() <= before
    root.close()
