"""Two-phase plans without processes (czar/plan_phases.py): which sub-queries run first, how
their rows stand in the outer query, what is refused."""

from __future__ import annotations

import datetime
import decimal

import pytest
import sqlglot

from czar.plan_phases import (MAX_VALUES, check_uncorrelated, czar_sources, find_phases, literal,
                              place_table, prepare, substitute)
from qserv.errors import QservError
from tests.unit.analysis.test_passes import catalog


def parse(sql):
    return sqlglot.parse_one(sql, read="mysql")


def run(sql, *results):
    select = parse(sql)
    for phase, rows in zip(find_phases(select), results):
        substitute(phase, rows)
    return select.sql("mysql")


def test_in_list_keeps_nulls_and_empty_is_false():
    assert run("SELECT a FROM t WHERE a IN (SELECT b FROM u)", [(1,), (None,), (3,)]) == \
        "SELECT a FROM t WHERE a IN (1, NULL, 3)"
    assert run("SELECT a FROM t WHERE NOT a IN (SELECT b FROM u)", []) == "SELECT a FROM t WHERE NOT 0"


def test_exists_and_scalar():
    assert run("SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u) AND (SELECT MAX(b) FROM u) < a",
               [(1,)], [(2.5,)]) == "SELECT a FROM t WHERE 1 AND (2.5E0) < a"
    assert run("SELECT (SELECT b FROM u) AS m FROM t", []) == "SELECT (NULL) AS m FROM t"
    with pytest.raises(QservError) as e:
        run("SELECT (SELECT b FROM u) AS m FROM t", [(1,), (2,)])
    assert e.value.code == 1242


def test_sub_query_preparation():
    exists, in_ = find_phases(parse("SELECT a FROM t WHERE EXISTS (SELECT b FROM u) AND a IN (SELECT c FROM v)"))
    assert prepare(exists).sql("mysql") == "SELECT b FROM u LIMIT 1"
    assert prepare(in_).sql("mysql") == "SELECT DISTINCT c FROM v"


def test_nested_sub_queries_are_found_when_their_query_is_planned():
    phases = find_phases(parse("SELECT a FROM t WHERE a IN (SELECT b FROM u WHERE b IN (SELECT c FROM v))"))
    assert len(phases) == 1 and len(find_phases(phases[0].select)) == 1


def test_too_many_values():
    with pytest.raises(QservError) as e:
        run("SELECT a FROM t WHERE a IN (SELECT b FROM u)", [(i,) for i in range(MAX_VALUES + 1)])
    assert e.value.code == 1235


@pytest.mark.parametrize("value, text", [
    (None, "NULL"), (7, "7"), (-2.5, "-2.5E0"), (0.1, "0.1E0"), (1e300, "1e+300"), (decimal.Decimal("1.50"), "1.50"),
    ("it's \\", "'it''s \\\\'"), (b"\x00\xff", "x'00ff'"), (datetime.date(2024, 5, 1), "'2024-05-01'"),
    (datetime.datetime(2024, 5, 1, 2, 3, 4), "'2024-05-01 02:03:04'"),
    (datetime.timedelta(hours=-1, minutes=-2), "'-1:02:00'")])
def test_literals(value, text):
    assert literal(value).sql("mysql") == text


@pytest.mark.parametrize("sql, ok", [
    ("SELECT objectId FROM Source WHERE psfFlux > 1", True),
    ("SELECT s.objectId FROM Source s WHERE s.psfFlux > 1", True),
    ("SELECT objectId FROM Source WHERE psfFlux > o.gMag", False),
    ("SELECT objectId FROM Source WHERE psfFlux > gMag", False)])
def test_correlated_sub_queries_are_refused(sql, ok):
    if ok:
        check_uncorrelated(parse(sql), catalog(), "demo")
    else:
        with pytest.raises(QservError, match="correlated"):
            check_uncorrelated(parse(sql), catalog(), "demo")


@pytest.mark.parametrize("sql, row, after", [
    # = ANY is IN, <> ALL is NOT IN (their phases give the literal lists)
    ("a = ANY (SELECT b FROM u)", None, "(a IN (SELECT b FROM u))"),
    ("a <> ALL (SELECT b FROM u)", None, "(NOT a IN (SELECT b FROM u))"),
    ("a > ANY (SELECT b FROM u)", (1, 5, 3, 3), "(a > 1)"),
    ("a > ALL (SELECT b FROM u)", (1, 5, 3, 3), "(a > 5)"),
    ("a <= SOME (SELECT b FROM u)", (1, 5, 3, 3), "(a <= 5)"),
    ("a < ALL (SELECT b FROM u)", (1, 5, 3, 2), "((a < 1) AND NULL)"),
    ("a >= ANY (SELECT b FROM u)", (1, 5, 3, 2), "((a >= 1) OR NULL)"),
    ("a > ANY (SELECT b FROM u)", (None, None, 0, 0), "0"),
    ("a > ALL (SELECT b FROM u)", (None, None, 0, 0), "1"),
    ("a < ALL (SELECT b FROM u)", (None, None, 2, 0), "((a < NULL) AND NULL)"),
    ("a = ALL (SELECT b FROM u)", (1, 5, 3, 3), "(a = 1 AND a = 5)"),
    ("a <> ANY (SELECT b FROM u)", (2, 2, 3, 2), "((a <> 2 OR a <> 2) OR NULL)"),
])
def test_quantified_comparisons(sql, row, after):
    select = parse(f"SELECT 1 FROM t WHERE {sql}")
    phases = find_phases(select)
    if row is not None:
        (phase,) = phases
        assert prepare(phase).sql("mysql") == (
            "SELECT MIN(`qs_t`.`qs_v`), MAX(`qs_t`.`qs_v`), COUNT(*), COUNT(`qs_t`.`qs_v`) FROM "
            "(SELECT b AS `qs_v` FROM u) AS qs_t")
        substitute(phase, [row], [3, 3, 8, 8])
    assert select.args["where"].this.sql("mysql").replace("IF(1, ", "").replace(", 0)", "") == after


def test_czar_sources_place_tables():
    query = parse("SELECT n, COUNT(*) FROM (SELECT x AS n FROM u) AS t GROUP BY n")
    (source,) = czar_sources(query)
    place_table(source, "qservResult", "result_1")
    assert query.sql("mysql") == "SELECT n, COUNT(*) FROM `qservResult`.`result_1` AS t GROUP BY n"
    union = parse("SELECT a FROM t UNION ALL SELECT b FROM u ORDER BY 1 LIMIT 2")
    left, right = czar_sources(union)
    place_table(left, "r", "a")
    place_table(right, "r", "b")
    assert union.sql("mysql") == "SELECT * FROM `r`.`a` UNION ALL SELECT * FROM `r`.`b` ORDER BY 1 LIMIT 2"
    assert czar_sources(parse("SELECT a FROM t")) is None
    # with a table beside them: the whole query on the czar (czar/plan_on_czar.py)
    assert czar_sources(parse("SELECT 1 FROM (SELECT a FROM u) AS x JOIN t ON 1")) is None
