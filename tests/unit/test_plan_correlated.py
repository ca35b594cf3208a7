"""Correlated sub-queries without processes: which ones run inside the chunk query
(czar/plan_correlated.py), and the plan of last resort that reads the tables into the czar
(czar/plan_on_czar.py)."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from czar.analysis import QueryContext, analyze
from czar.dialect import render
from czar.plan import build_plan
from czar.plan_correlated import NotColocated, fill, outer_references, set_aside
from czar.plan_on_czar import table_sources
from czar.plan_phases import default_names, find_phases, place_table
from qserv.errors import QservError
from tests.unit.analysis.test_passes import catalog as passes_catalog


def catalog():
    """The passes' catalog (demo's Source placed with its directors, as the ingest of the demo
    data reports), but sky2's Source with rows that may be placed by their own position."""
    view = passes_catalog()
    view.databases["sky2"].table("Source").placed_by_position = None
    return view


def correlated(sql: str):
    select = sqlglot.parse_one(sql, read="mysql")
    return select, [p for p in find_phases(select) if outer_references(p.select, catalog(), "demo")]


def chunk_plan(sql: str):
    select, phases = correlated(sql)
    taken = set_aside(select, phases, catalog(), "demo")
    ctx = QueryContext(select=select, default_db="demo", catalog=catalog(),
                       output_names=default_names(select))
    plan = build_plan(analyze(select, ctx), ctx, list(range(16)))
    fill(plan, taken)
    return plan


@pytest.mark.parametrize("sql, inside", [
    ("SELECT o.objectId FROM Object o WHERE EXISTS (SELECT 1 FROM Source s "
     "WHERE s.objectId = o.objectId AND s.psfFlux > 1)",
     "(EXISTS(SELECT 1 FROM `demo`.`Source___QSERV_CHUNK__` AS `s` WHERE `s`.`objectId` = "
     "`o`.`objectId` AND `s`.`psfFlux` > 1))"),
    # tied through the IN itself: both keys NOT NULL
    ("SELECT o.objectId FROM Object o WHERE o.objectId NOT IN (SELECT s.objectId FROM Source s "
     "WHERE s.filterId = o.flags)",
     "NOT (`o`.`objectId` IN (SELECT `s`.`objectId` FROM `demo`.`Source___QSERV_CHUNK__` AS `s` "
     "WHERE `s`.`filterId` = `o`.`flags`))"),
    # replicated tables only: every worker holds them whole
    ("SELECT s.sourceId, (SELECT f.filterName FROM Filter f WHERE f.filterId = s.filterId) AS b "
     "FROM Source s", "((SELECT `f`.`filterName` FROM `demo`.`Filter` AS `f` WHERE `f`.`filterId` = "
     "`s`.`filterId`)) AS `qsc1`"),
    # two inner tables, tied to each other and one of them to the outer row
    ("SELECT COUNT(*) FROM Object o WHERE EXISTS (SELECT 1 FROM Source s JOIN Source s2 "
     "ON s2.objectId = s.objectId WHERE s.objectId = o.objectId AND s2.filterId <> s.filterId)",
     "`demo`.`Source___QSERV_CHUNK__` AS `s2`"),
])
def test_inside_the_chunk_query(sql, inside):
    plan = chunk_plan(sql)
    assert inside in plan.chunk_template and plan.correlated == 1
    assert "QSERV_CORRELATED" not in plan.chunk_template + plan.shadow_sql + plan.merge_sql
    assert "Source`" in plan.shadow_sql or "Filter`" in plan.shadow_sql  # shadow tables there


@pytest.mark.parametrize("sql, why", [
    ("SELECT o.objectId FROM Object o WHERE o.gMag > (SELECT AVG(o2.gMag) FROM Object o2 "
     "WHERE o2.flags = o.flags)", "not tied"),
    ("SELECT o.objectId FROM Object o WHERE EXISTS (SELECT 1 FROM Source s WHERE s.psfFlux > o.gMag)",
     "not tied"),
    ("SELECT f.filterName FROM Filter f WHERE EXISTS (SELECT 1 FROM Source s WHERE s.filterId = f.filterId)",
     "not tied"),
    ("SELECT o.objectId FROM Object o WHERE EXISTS (SELECT 1 FROM Source s WHERE s.objectId = o.objectId "
     "AND s.filterId IN (SELECT filterId FROM Filter))", "sub-query inside"),
    ("SELECT o.objectId FROM Object o WHERE EXISTS (SELECT 1 FROM Source s LEFT JOIN Object o2 "
     "ON o2.objectId = s.objectId WHERE s.objectId = o.objectId)", "outer join"),
    # tied through the IN only, but an aggregate of the whole sub-query reads every chunk
    ("SELECT o.objectId FROM Object o WHERE o.objectId IN (SELECT s.objectId FROM Source s "
     "WHERE s.filterId = o.flags HAVING COUNT(*) > 1)", "not tied"),
    ("SELECT flags FROM Object o GROUP BY flags HAVING COUNT(*) > "
     "(SELECT COUNT(*) FROM Filter f WHERE f.filterId = o.flags)", "after the merge"),
    ("SELECT o.objectId FROM Object o WHERE EXISTS (SELECT 1 FROM sky2.Source s WHERE s.objectId = o.objectId)",
     "another database"),
    # sky2's Source: rows may be placed by their own position (count unknown), so one key's rows
    # may be in several chunks
    ("SELECT o.objectId FROM sky2.Object o WHERE EXISTS (SELECT 1 FROM sky2.Source s WHERE "
     "s.objectId = o.objectId)", "not tied"),
])
def test_not_colocated(sql, why):
    with pytest.raises(NotColocated, match=why):
        chunk_plan(sql)


def test_on_czar_sources_push_conditions_down():
    select = sqlglot.parse_one(
        "SELECT o.objectId FROM Object o WHERE o.flags = 3 AND qserv_areaspec_box(0, 0, 1, 1) AND "
        "o.gMag > (SELECT AVG(o2.gMag) FROM Object o2 WHERE o2.extendedness = o.extendedness "
        "AND o2.gMag > 1)", read="mysql")
    first, second = table_sources(select, catalog(), "demo")
    assert render(first.select) == ("SELECT `o`.`objectId`, `o`.`gMag`, `o`.`extendedness` FROM "
                                    "`demo`.`Object` AS `o` WHERE `o`.`flags` = 3 AND "
                                    "QSERV_AREASPEC_BOX(0, 0, 1, 1)")
    assert first.names == ["objectId", "gMag", "extendedness"]
    assert render(second.select).endswith("AS `o2` WHERE `o2`.`gMag` > 1")
    place_table(first, "qservResult", "result_a")
    place_table(second, "qservResult", "result_b")
    assert render(select) == (
        "SELECT `o`.`objectId` FROM `qservResult`.`result_a` AS `o` WHERE `o`.`gMag` > (SELECT "
        "AVG(`o2`.`gMag`) FROM `qservResult`.`result_b` AS `o2` WHERE `o2`.`extendedness` = "
        "`o`.`extendedness`)")


def test_on_czar_keeps_conditions_past_outer_joins():
    select = sqlglot.parse_one("SELECT f.filterName, t.n FROM Filter f LEFT JOIN (SELECT filterId, "
                               "COUNT(*) AS n FROM Source GROUP BY filterId) AS t ON t.filterId = "
                               "f.filterId WHERE f.photClam > 5000", read="mysql")
    table, derived = table_sources(select, catalog(), "demo")
    assert table.select.args.get("where") is None and isinstance(derived.node, exp.Subquery)
    assert "`photClam` > 5000" in render(select)
    with pytest.raises(QservError, match="spatial restrictors"):
        table_sources(sqlglot.parse_one(
            "SELECT 1 FROM Object o LEFT JOIN (SELECT objectId FROM Source) s ON s.objectId = o.objectId "
            "WHERE qserv_areaspec_box(0, 0, 1, 1)", read="mysql"), catalog(), "demo")


@pytest.mark.parametrize("sql, out", [
    ("SELECT 1 FROM Source s WHERE s.psfFlux > 1", False),
    ("SELECT 1 FROM Source s WHERE s.objectId = o.objectId", True),
    ("SELECT 1 FROM Source WHERE psfFlux > gMag", True),
    # two levels out: the sub-query inside names the outermost query's table
    ("SELECT 1 FROM Filter f WHERE f.filterId IN (SELECT s.filterId FROM Source s WHERE s.objectId = o.objectId)",
     True),
    # inside only: the inner sub-query names its parent's table
    ("SELECT 1 FROM Source s WHERE EXISTS (SELECT 1 FROM Filter f WHERE f.filterId = s.filterId)", False),
])
def test_refers_out(sql, out):
    from czar.plan_correlated import refers_out
    assert refers_out(sqlglot.parse_one(sql, read="mysql"), catalog(), "demo") is out


def test_on_czar_keeps_join_columns():
    """USING names a column no Column node names; NATURAL joins on every common column."""
    using = sqlglot.parse_one("SELECT f.filterName FROM Filter f JOIN (SELECT filterId, COUNT(*) AS n "
                              "FROM Source GROUP BY filterId) AS t USING (filterId)", read="mysql")
    assert table_sources(using, catalog(), "demo")[0].names == ["filterId", "filterName"]
    natural = sqlglot.parse_one("SELECT t.n FROM Filter f NATURAL JOIN (SELECT filterId, COUNT(*) AS n "
                                "FROM Source GROUP BY filterId) AS t", read="mysql")
    assert table_sources(natural, catalog(), "demo")[0].names == ["filterId", "filterName", "photClam"]


def test_on_czar_refuses_restrictor_over_two_directors():
    """A near-neighbour join restricts one side only: not pushed to both."""
    with pytest.raises(QservError, match="several director tables"):
        table_sources(sqlglot.parse_one(
            "SELECT o1.objectId FROM Object o1, Object o2 WHERE qserv_areaspec_box(0, 0, 1, 1) AND "
            "scisql_angSep(o1.ra, o1.decl, o2.ra, o2.decl) < 0.01 AND o1.gMag > (SELECT AVG(o3.gMag) "
            "FROM Object o3 WHERE o3.flags = o1.flags)", read="mysql"), catalog(), "demo")
