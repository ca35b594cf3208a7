"""The Qserv dialect through the czar: EXPLAIN <select>, region pruning seen in EXPLAIN, bad
restrictor arguments, and the scisql functions installed everywhere (the shadow validates
calls to them; the oracle and the workers evaluate them)."""

from __future__ import annotations

import pymysql
import pytest

from tests.conftest import query


def explain(conn, sql) -> dict[str, str]:
    names, rows = query(conn, "EXPLAIN " + sql)
    assert names == ["item", "value"]
    return dict(rows)


def test_explain_without_pruning(czar):
    plan = explain(czar, "SELECT flags, COUNT(*) FROM Object GROUP BY flags")
    n_all = int(plan["chunks"])
    assert n_all > 20
    assert plan["database"] == "demo"
    assert plan["class"] == "scan"
    assert "more" in plan["chunk_ids"]  # abbreviated
    assert "__QSERV_CHUNK__" in plan["chunk_query"] and "GROUP BY" in plan["chunk_query"]
    assert "SUM(" in plan["merge_query"]
    assert plan["pruned_by"].startswith("nothing")


def test_explain_shows_region_pruning(czar):
    full = int(explain(czar, "SELECT objectId FROM Object")["chunks"])
    plan = explain(czar, "SELECT objectId FROM Object WHERE qserv_areaspec_circle(1, 1, 0.5)")
    assert 0 < int(plan["chunks"]) < full / 5
    assert "qserv_areaspec_circle(1, 1, 0.5)" in plan["pruned_by"]
    assert plan["class"] == "interactive"
    ids = [int(x) for x in plan["chunk_ids"].split(", ")]
    assert len(ids) == int(plan["chunks"])
    # the exact test reached the chunk query, inline (no stored-function call on workers)
    assert "qserv_areaspec" not in plan["chunk_query"].lower()
    assert "scisql_" not in plan["chunk_query"].lower() and "ASIN" not in plan["chunk_query"]
    plan2 = explain(czar, "SELECT objectId FROM Object WHERE scisql_s2PtInCircle(ra, decl, 1, 1, 0.5) = 1")
    assert plan2["chunk_ids"] == plan["chunk_ids"]
    assert "scisql_s2ptincircle" in plan2["pruned_by"]


def test_explain_runs_nothing_and_checks_like_select(czar):
    with pytest.raises(pymysql.err.MySQLError) as info:
        query(czar, "EXPLAIN SELECT nope FROM Object")
    assert info.value.args[0] == 1054
    assert dict(query(czar, "EXPLAIN SELECT * FROM Filter")[1])["chunks"].startswith("0")


@pytest.mark.parametrize("sql, code, text", [
    ("SELECT objectId FROM Object WHERE qserv_areaspec_circle(1, 1)", 1064, "takes 3"),
    ("SELECT objectId FROM Object WHERE qserv_areaspec_circle(1, 1, 0)", 1064, "radius"),
    ("SELECT objectId FROM Object WHERE qserv_areaspec_circle(1, 1, -0.5)", 1064, "radius"),
    ("SELECT objectId FROM Object WHERE qserv_areaspec_box(0, -95, 1, 1)", 1064, "declination"),
    ("SELECT objectId FROM Object WHERE qserv_areaspec_box(0, 0, 1)", 1064, "takes 4"),
    ("SELECT objectId FROM Object WHERE qserv_areaspec_circle(ra, 1, 1)", 1064, "numeric literal"),
    ("SELECT objectId FROM Object WHERE qserv_areaspec_ellipse(1, 1, 10, 20, 0)", 1064, "semiMinor"),
    ("SELECT objectId FROM Object WHERE qserv_areaspec_poly(0, 0, 1, 0)", 1064, "even number"),
    ("SELECT objectId FROM Object WHERE qserv_areaspec_circle(1, 1, 1) OR flags = 2", 1235, "top level"),
    # (Source has positions of its own: tests/differential/test_child_regions.py)
    ("SELECT filterName FROM Filter WHERE qserv_areaspec_circle(1, 1, 1)", 1235, "director"),
    ("SELECT objectId FROM Object WHERE scisql_angSep(ra, decl, 1) < 1", 1318, "scisql_angSep"),
    ("SELECT objectId FROM Object WHERE scisql_s2PtInCPoly(ra, decl, 0, 0, 1, 1) = 1", 1064, "vertices"),
    ("EXPLAIN SELECT objectId FROM Object WHERE qserv_areaspec_circle(1, 1, 0)", 1064, "radius"),
])
def test_bad_dialect_arguments(czar, sql, code, text):
    with pytest.raises(pymysql.err.MySQLError) as info:
        query(czar, sql)
    assert info.value.args[0] == code, info.value.args
    assert text.lower() in str(info.value.args[1]).lower()
    assert query(czar, "SELECT COUNT(*) FROM Filter")[1] == [(6,)]  # still usable


def test_restrictor_function_names_are_case_insensitive(czar):
    a = query(czar, "SELECT COUNT(*) FROM Object WHERE qserv_areaspec_box(359, -1, 1, 1)")[1]
    b = query(czar, "SELECT COUNT(*) FROM Object WHERE Qserv_AreaSpec_Box(359, -1, 1, 1)")[1]
    assert a == b and a[0][0] > 0


def test_scisql_functions_exist_on_the_oracle(oracle_conn):
    names = {r[0] for r in query(oracle_conn, "SELECT ROUTINE_NAME FROM information_schema.ROUTINES "
                                              "WHERE ROUTINE_SCHEMA = 'demo'")[1]}
    assert {"scisql_angSep", "scisql_s2PtInBox", "scisql_s2PtInCircle", "scisql_s2PtInEllipse",
            "scisql_fluxToAbMag", "scisql_fluxToAbMagSigma", "scisql_abMagToFlux",
            "scisql_s2PtInCPolyStr"} <= names
    rows = query(oracle_conn, "SELECT scisql_angSep(0, 0, 1, 0), scisql_angSep(0, 90, 180, 90), "
                              "scisql_angSep(0, 91, 0, 0), scisql_s2PtInCircle(NULL, 0, 0, 0, 1), "
                              "scisql_s2PtInCircle(0, 0, 0, 0, -1), scisql_s2PtInBox(359.5, 0, 359, -1, 1, 1), "
                              "scisql_fluxToAbMag(0), scisql_abMagToFlux(-48.6)")[1][0]
    assert rows[0] == pytest.approx(1.0) and rows[1] == pytest.approx(0.0, abs=1e-12)
    assert rows[2] is None and rows[3] == 0 and rows[4] is None and rows[5] == 1
    assert rows[6] is None and rows[7] == pytest.approx(1.0)


NO_DATABASE_QUERIES = [
    "SELECT COUNT(*) FROM demo.Object WHERE scisql_s2PtInBox(ra, decl, 0, 0, 4, 4) = 1",
    "SELECT objectId, scisql_angSep(ra, decl, 1, 1) FROM demo.Object "
    "WHERE qserv_areaspec_circle(1, 1, 0.3) ORDER BY objectId",
    "SELECT scisql_fluxToAbMag(1e-3), SCISQL_FLUXTOABMAG(2e-3) AS m, 1 + 1",
    "SELECT ROUND(scisql_angSep(AVG(ra), AVG(decl), 0, 0), 6) FROM demo.Object "
    "WHERE qserv_areaspec_box(0, 0, 3, 3)",
    "SELECT COUNT(*) FROM demo.Object WHERE scisql_s2PtInCPoly(ra, decl, 0, 0, 3, 0, 3, 3, 0, 3) = 1",
    "SELECT o.objectId, scisql_angSep(o.ra, o.decl, s.ra, s.decl) AS sep FROM demo.Object o "
    "JOIN demo.Source s ON s.objectId = o.objectId WHERE qserv_areaspec_circle(1, 1, 0.2) "
    "ORDER BY sep DESC, o.objectId LIMIT 5",
]


@pytest.mark.parametrize("sql", NO_DATABASE_QUERIES)
def test_scisql_functions_without_a_current_database(demo_cluster, czar, sql):
    """Qserv's scisql functions are global UDFs; ours are stored functions of each catalog
    database. A session without a current database gets the same rows and column names as
    one in `demo` (it got 1305 FUNCTION scisql_... does not exist)."""
    from tests.conftest import czar_connect
    bare = czar_connect(demo_cluster, database=None)
    try:
        got = query(bare, sql)
    finally:
        bare.close()
    expected = query(czar, sql)
    assert got == expected
    assert expected[1], "the query must return rows"


def test_no_current_database_still_refuses_unqualified_tables(demo_cluster):
    from tests.conftest import czar_connect
    bare = czar_connect(demo_cluster, database=None)
    try:
        with pytest.raises(pymysql.MySQLError) as e:
            query(bare, "SELECT scisql_angSep(ra, decl, 0, 0) FROM Object LIMIT 1")
        assert e.value.args[0] == 1046
    finally:
        bare.close()
