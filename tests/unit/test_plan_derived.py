"""Aggregates over a derived table complete per chunk (czar/plan_derived.py): which queries
are pushed to the chunks, and the plan they get. Rows: tests/differential/queries/39*.sql."""

from __future__ import annotations

import pytest
import sqlglot

from czar.analysis import QueryContext, analyze
from czar.plan import Shape, build_plan
from czar.plan_derived import pushable, pushed_plan
from czar.plan_phases import query_names
from tests.unit.analysis.test_passes import catalog

HISTOGRAM = ("SELECT n, COUNT(*) FROM (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) "
             "AS t GROUP BY n ORDER BY n")


def view(source_placed_by_position=0):
    v = catalog()
    v.databases["demo"].table("Source").placed_by_position = source_placed_by_position
    return v


def plan_of(sql: str, v=None, chunks=(1, 2, 3)):
    v = v or view()
    query = sqlglot.parse_one(sql, read="mysql")
    found = pushable(query, v, "demo", ["a", "b"])
    if found is None:
        return None
    inner, derived = found
    names = query_names(inner)
    ctx = QueryContext(select=inner, default_db="demo", catalog=v, output_names=names)
    inner_plan = build_plan(analyze(inner, ctx), ctx, list(chunks), merged=True)
    return pushed_plan(query, derived, inner_plan, v, "demo", ["n", "COUNT(*)"], names, False)


def test_histogram_runs_per_chunk():
    plan = plan_of(HISTOGRAM)
    assert plan.shape is Shape.MERGED and plan.chunks == [1, 2, 3]
    assert plan.chunk_template == (
        "SELECT `n` AS `qsg0`, COUNT(*) AS `qsa0` FROM (SELECT `objectId`, COUNT(*) AS `n` FROM "
        "`demo`.`Source___QSERV_CHUNK__` AS `Source` GROUP BY `objectId`) AS `t` GROUP BY `n`")
    assert plan.merge_sql == ("SELECT `qsg0` AS `n`, CAST(COALESCE(SUM(`qsa0`), 0) AS SIGNED) AS "
                              "`COUNT(*)` FROM __QSERV_RESULT__ GROUP BY `qsg0` ORDER BY `qsg0`")
    assert "`demo`.`Source` AS `Source`" in plan.shadow_sql


def test_no_chunk_gives_the_empty_plan():
    plan = plan_of(HISTOGRAM, chunks=())
    assert plan.shape is Shape.EMPTY and "`demo`.`Source` AS `Source`" in plan.empty_sql


@pytest.mark.parametrize("sql", [
    "SELECT n, COUNT(*) FROM (SELECT filterId, COUNT(*) AS n FROM Source GROUP BY filterId) AS t GROUP BY n",
    "SELECT n, COUNT(*) FROM (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId LIMIT 5) AS t GROUP BY n",
    "SELECT n, COUNT(*) FROM (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId WITH ROLLUP) AS t GROUP BY n",
    "SELECT n, GROUP_CONCAT(objectId) FROM (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) AS t GROUP BY n",
    "SELECT n, STDDEV(n) FROM (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) AS t GROUP BY n",
    "SELECT * FROM (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) AS t",
    "SELECT t.n, COUNT(*) FROM (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) AS t "
    "JOIN Filter f ON f.filterId = t.n GROUP BY t.n",
    "SELECT n, COUNT(*) FROM (SELECT o1.objectId, COUNT(*) AS n FROM Object o1, Object o2 WHERE "
    "scisql_angSep(o1.ra, o1.decl, o2.ra, o2.decl) < 0.01 GROUP BY o1.objectId) AS t GROUP BY n",
])
def test_not_pushed(sql):
    assert plan_of(sql) is None


@pytest.mark.parametrize("placed", [None, 5])
def test_not_pushed_when_a_child_key_may_span_chunks(placed):
    """Rows of Source placed by their own position (or not known): a key may be in two chunks."""
    assert plan_of(HISTOGRAM, view(placed)) is None


def test_joined_inner_grouped_by_the_director_key():
    plan = plan_of("SELECT n, COUNT(*), MAX(m) FROM (SELECT o.objectId, COUNT(s.sourceId) AS n, "
                   "MAX(s.psfFlux) AS m FROM Object o LEFT JOIN Source s ON o.objectId = s.objectId "
                   "GROUP BY o.objectId) AS t WHERE n > 0 GROUP BY n")
    assert plan is not None and "`Object___QSERV_CHUNK__`" in plan.chunk_template
    assert "WHERE `n` > 0 GROUP BY `n`" in plan.chunk_template
