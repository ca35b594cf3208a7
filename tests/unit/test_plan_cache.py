"""The plan cache (czar/plan_cache.py) against the full path, on the in-memory demo catalog:
whatever it answers from a learned shape must be exactly what analysing and planning the
statement itself gives; what it cannot reuse soundly it must not cache."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot

from czar.analysis import QueryContext, analyze
from czar.engine import ShadowResult
from czar.plan import build_plan
from czar.plan_cache import PlanCache, shape_of
from tests.unit.analysis.test_passes import FIXTURES, catalog, default_names, read_cases

DIFFERENTIAL = Path(__file__).parent.parent / "differential" / "queries"


def shadow_for(sql: str) -> ShadowResult:
    names = default_names(sqlglot.parse_one(sql, read="mysql"))
    return ShadowResult([(n, 253) for n in names], [False] * len(names))


def full_path(sql: str, db: str = "demo"):
    select = sqlglot.parse_one(sql, read="mysql")
    ctx = QueryContext(select=select, default_db=db, catalog=catalog(),
                       output_names=shadow_for(sql).names)
    select = analyze(select, ctx)
    return build_plan(select, ctx, None), ctx


def learned(sql: str, db: str = "demo") -> PlanCache:
    cache = PlanCache()
    for _ in range(3):  # shape seen, variant seen, planned
        cache.learn(sql, db, shadow_for(sql), catalog())
    return cache


def corpus() -> list[str]:
    queries = [c.query for c in read_cases(FIXTURES / "plan.sql", with_output=False)]
    for path in sorted(DIFFERENTIAL.glob("*.sql")):
        text = "\n".join(ln for ln in path.read_text().splitlines() if not ln.strip().startswith("--"))
        queries.append(text.strip())
    return queries


def other_numbers(sql: str, bump: int) -> str:
    """The same text with every number shifted (integers stay integers)."""
    shape, numbers = shape_of(sql)
    values = iter(str(int(n) + bump) if n.isdigit() else n for n in numbers)
    return re.sub(r"\?", lambda _: next(values), shape)


def test_shape_keeps_quoted_text_and_words():
    assert shape_of("SELECT a1, 'x 5', `t 7` FROM T_12 WHERE b = 5 AND c IN (1.5, 2e3)") == \
        ("SELECT a1, 'x 5', `t 7` FROM T_12 WHERE b = ? AND c IN (?, ?)", ["5", "1.5", "2e3"])
    assert shape_of("SELECT 1e5x, 0x1F FROM T") == ("SELECT 1e5x, 0x1F FROM T", [])


@pytest.mark.parametrize("sql", ["SELECT 1 -- c", "SELECT /*+ x */ 1", "SELECT @a", "SELECT ?",
                                 "SELECT 1; SELECT 2", "SELECT 'unterminated", "SELECT 1 # c"])
def test_not_candidates(sql):
    assert shape_of(sql) is None


@pytest.mark.parametrize("sql", corpus())
def test_cached_plan_equals_full_path_for_other_numbers(sql):
    """For every corpus query that can be cached, a variant with other numbers gets from the
    cache the very plan and director-index look-ups that the full path makes for it."""
    try:
        full_path(sql)
    except Exception:
        pytest.skip("not planned by the full path on the in-memory catalog")
    cache = learned(sql)
    for bump in (0, 1, 1000):
        variant = other_numbers(sql, bump)
        hit = cache.lookup(variant, "demo")
        if hit is None:
            continue
        expected, ctx = full_path(variant)
        lookups = hit.entry.index_lookups(hit.numbers)
        assert lookups == ctx.index_lookups
        got = hit.entry.plan(hit.numbers, [])
        for field in ("direct_template", "chunk_template", "shadow_sql", "merge_sql", "empty_sql",
                      "partitioned", "streamable"):
            assert getattr(got, field) == getattr(expected, field), field
        assert hit.entry.restriction == (frozenset(ctx.chunk_restriction)
                                         if ctx.chunk_restriction is not None else None)


def test_point_lookup_is_learned_on_third_sighting_with_objectid_as_parameter():
    cache = PlanCache()
    sql = "SELECT * FROM Object WHERE objectId = 4203"
    for i in range(3):
        assert cache.lookup(sql, "demo") is None
        cache.learn(sql, "demo", shadow_for(sql), catalog())
    hit = cache.lookup("SELECT * FROM Object WHERE objectId = 77", "demo")
    assert hit is not None
    [lookup] = hit.entry.index_lookups(hit.numbers)
    assert lookup.values == [77]
    assert "= 77" in hit.entry.plan(hit.numbers, [5]).direct_template
    assert cache.lookup("SELECT * FROM Object WHERE objectId = 77", "sky2") is None  # other db


def test_non_integer_key_value_is_left_to_the_full_path():
    sql = "SELECT * FROM Object WHERE objectId = 4203"
    hit = learned(sql).lookup("SELECT * FROM Object WHERE objectId = 42.5", "demo")
    assert hit is not None and hit.entry.index_lookups(hit.numbers) is None


@pytest.mark.parametrize("sql, variant", [
    ("SELECT objectId FROM Object WHERE objectId > 5 LIMIT 3", "SELECT objectId FROM Object WHERE objectId > 5 LIMIT 4"),
    ("SELECT objectId FROM Object ORDER BY 1", "SELECT objectId FROM Object ORDER BY 2"),
    ("SELECT objectId + 1 FROM Object WHERE objectId = 3", "SELECT objectId + 2 FROM Object WHERE objectId = 3"),
    ("SELECT objectId FROM Object WHERE qserv_areaspec_circle(1, 2, 0.1)",
     "SELECT objectId FROM Object WHERE qserv_areaspec_circle(1, 3, 0.1)"),
    ("SELECT objectId FROM Object WHERE objectId = -5", "SELECT objectId FROM Object WHERE objectId = -6"),
])
def test_numbers_outside_where_comparisons_are_part_of_the_key(sql, variant):
    cache = learned(sql)
    assert cache.lookup(sql, "demo") is not None
    assert cache.lookup(variant, "demo") is None


def test_other_variant_of_a_shape_is_planned_only_when_it_repeats():
    cache = learned("SELECT objectId FROM Object WHERE qserv_areaspec_circle(1, 2, 0.1)")
    other = "SELECT objectId FROM Object WHERE qserv_areaspec_circle(5, 2, 0.1)"
    cache.learn(other, "demo", shadow_for(other), catalog())
    assert cache.lookup(other, "demo") is None
    cache.learn(other, "demo", shadow_for(other), catalog())
    assert cache.lookup(other, "demo") is not None
