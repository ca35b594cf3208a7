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


def test_explain_correlated_in_chunk_query(czar):
    """A correlated sub-query tied by the director key runs inside each chunk query."""
    plan = explain(czar, "SELECT o.objectId FROM Object o WHERE NOT EXISTS "
                         "(SELECT 1 FROM Source s WHERE s.objectId = o.objectId AND s.filterId = 3)")
    assert plan["shape"] in ("merged", "streamed") and plan["correlated"].startswith("1 correlated sub-query runs")
    assert "NOT (EXISTS(SELECT 1 FROM `demo`.`Source___QSERV_CHUNK__` AS `s`" in plan["chunk_query"]
    plan = explain(czar, "SELECT s.sourceId, (SELECT f.filterName FROM Filter f WHERE f.filterId = "
                         "s.filterId) AS band FROM Source s")
    assert "(SELECT `f`.`filterName` FROM `demo`.`Filter` AS `f`" in plan["chunk_query"]


def test_explain_on_czar_over_tables(czar):
    """Not tied to the chunk (or a derived table joined with a table): every table is read into
    the czar with the conditions that name it alone, and the query runs there."""
    plan = explain(czar, "SELECT o.objectId FROM Object o WHERE o.flags = 3 AND o.gMag > "
                         "(SELECT AVG(o2.gMag) FROM Object o2 WHERE o2.extendedness = o.extendedness)")
    assert plan["shape"] == "on the czar" and "correlated sub-query" in plan["execution"]
    assert plan["phase 1"].endswith("FROM `demo`.`Object` AS `o` WHERE `o`.`flags` = 3")
    assert plan["phase 1 shape"] == "merged" and plan["phase 2 shape"] == "merged"
    assert plan["phase 3"].startswith("on the czar") and "`o2`" in plan["phase 3"]
    plan = explain(czar, "SELECT f.filterName, t.n FROM Filter f JOIN (SELECT filterId, COUNT(*) AS n "
                         "FROM Source GROUP BY filterId) AS t ON t.filterId = f.filterId")
    assert "derived tables joined with tables" in plan["execution"]
    assert plan["phase 2"].startswith("table sub-query: SELECT `filterId`, COUNT(*)")


def test_explain_quantified_comparison(czar):
    """`x > ANY (sub)`: its phase computes MIN, MAX and the counts over the sub-query's rows."""
    plan = explain(czar, "SELECT COUNT(*) FROM Object WHERE gMag > ANY (SELECT psfFlux FROM Source)")
    assert plan["shape"] == "two-phase"
    assert plan["phase 1"].startswith("any sub-query (its values' MIN, MAX")
    assert plan["phase 1 shape"] == "on the czar" and plan["phase 1 phase 1 shape"] == "merged"
    assert "SELECT MIN(`qs_t`.`qs_v`), MAX(`qs_t`.`qs_v`), COUNT(*)" in plan["phase 1 phase 2"]
    assert plan["phase 2"].startswith("outer query")


def test_empty_plan_explained_and_answered(czar):
    sql = "SELECT COUNT(*), AVG(gMag) FROM Object WHERE objectId IN (900000000001, 900000000002)"
    plan = explain(czar, sql)
    assert plan["shape"] == "empty" and plan["chunks"] == "0"
    assert query(czar, sql)[1] == [(0, None)]


@pytest.mark.parametrize("sql, code, text", [
    ("SELECT objectId FROM Object WHERE gMag > (SELECT psfFlux FROM Source)", 1242, "more than 1 row"),
    # the czar would run this query over the tables' rows: the restrictor cannot go past the
    # outer join to the table it restricts
    ("SELECT o.objectId FROM Object o LEFT JOIN (SELECT flags, COUNT(*) AS c FROM Object GROUP BY flags) "
     "AS t ON t.flags = o.flags WHERE qserv_areaspec_box(0, 0, 1, 1)", 1235, "spatial restrictors in a query"),
    # a czar table would hold the total rows' NULL keys as 0 (MariaDB's CREATE ... SELECT)
    ("SELECT d.objectId, d.n FROM (SELECT objectId, COUNT(*) AS n FROM Source WHERE objectId < 60 "
     "GROUP BY objectId WITH ROLLUP) AS d", 1235, "WITH ROLLUP in a derived table"),
    ("SELECT o.flags, d.n FROM Object o JOIN (SELECT objectId, COUNT(*) AS n FROM Source "
     "GROUP BY objectId WITH ROLLUP) AS d ON d.objectId = o.objectId", 1235, "WITH ROLLUP in a derived table"),
    ("SELECT objectId FROM Object WHERE objectId IN (SELECT objectId FROM Source UNION SELECT 1)",
     1235, "UNION / INTERSECT / EXCEPT inside a sub-query"),
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
