"""Per-chunk key lists (czar/chunk_keys.py): which IN lists are split, the marker in the plan,
the jobs' per-chunk texts and the worker's statements built from them."""

from __future__ import annotations

import pytest
import sqlglot

from czar.analysis import QueryContext, analyze
from czar.chunk_keys import (ARG_MARKER, PER_CHUNK_KEYS, chunk_lists, place_marker, split_lookup,
                             without_marker)
from czar.dialect import render
from czar.dispatch import make_jobs
from czar.plan import build_plan
from tests.unit.analysis.test_passes import catalog
from worker.executor import ChunkQueryError, chunk_statements

LONG = ", ".join(str(10 * i + 3) for i in range(PER_CHUNK_KEYS + 1))


def analysed(sql: str):
    select = sqlglot.parse_one(sql, read="mysql")
    ctx = QueryContext(select=select, default_db="demo", catalog=catalog(), output_names=["a", "b"])
    return analyze(select, ctx), ctx


def test_a_long_list_on_a_child_table_is_split_and_the_plan_carries_the_marker():
    select, ctx = analysed(f"SELECT COUNT(*), AVG(psfFlux) FROM Source WHERE psfFlux > 1 AND objectId IN ({LONG})")
    lookup = split_lookup(select, ctx)
    assert lookup is not None and lookup.director_table == "Object"
    assert len(lookup.values) == PER_CHUNK_KEYS + 1
    place_marker(lookup)
    plan = build_plan(select, ctx, [1, 2])
    for sql in (plan.chunk_template, plan.direct_template):
        assert f"IN ({ARG_MARKER})" in sql and "13, 23" not in sql
    assert ARG_MARKER not in without_marker(plan.shadow_sql)


def test_the_term_is_found_again_after_a_pass_rebuilt_it():
    # scisql in the select list makes the scisql pass copy the WHERE clause
    select, ctx = analysed(f"SELECT scisql_angSep(ra, decl, 0, 0), objectId FROM Object WHERE objectId IN ({LONG})")
    lookup = split_lookup(select, ctx)
    assert lookup is not None
    place_marker(lookup)
    assert f"IN ({ARG_MARKER})" in render(select)


@pytest.mark.parametrize("sql", [
    "SELECT COUNT(*) FROM Source WHERE objectId IN (13, 23, 33)",                 # short: literal form
    f"SELECT COUNT(*) FROM Source WHERE objectId IN ({LONG}) OR psfFlux > 1",     # not a conjunct
    f"SELECT COUNT(*) FROM Source WHERE objectId NOT IN ({LONG})",
    f"SELECT COUNT(*) FROM Source WHERE objectId IN ({LONG}, NULL)",
    f"SELECT COUNT(*) FROM Source WHERE sourceId IN ({LONG})",                     # not a director key
])
def test_lists_that_stay_literal(sql):
    select, ctx = analysed(sql)
    assert split_lookup(select, ctx) is None


def test_near_neighbour_joins_keep_the_literal_list():
    select, ctx = analysed(
        "SELECT COUNT(*) FROM Object o1, Object o2 WHERE scisql_angSep(o1.ra, o1.decl, o2.ra, o2.decl) < 0.01 "
        f"AND o1.objectId IN ({LONG})")
    assert split_lookup(select, ctx) is None


def test_chunk_lists_group_and_sort_the_keys():
    assert chunk_lists([(33, 2), (13, 1), (23, 2), (-3, 1)]) == {1: "-3,13", 2: "23,33"}


def test_jobs_carry_each_chunks_own_text():
    placement = {1: ["w0"], 2: ["w0"], 3: ["w1"]}
    jobs = make_jobs([1, 2, 3], placement, 8, {1: "13", 2: "23,33", 3: "43"})
    texts = {c: a for job in jobs for c, a in zip(job.chunks, job.args)}
    assert texts == {1: "13", 2: "23,33", 3: "43"}
    assert all(job.request_args()["arg_marker"] == ARG_MARKER for job in jobs)
    assert make_jobs([1], placement, 8)[0].request_args() == {}


def test_worker_statements_put_each_chunks_keys_in_its_own_query():
    template = f"SELECT x FROM T_%C% WHERE k IN ({ARG_MARKER})"
    statements = chunk_statements(template, "%C%", [1, 2], 1 << 20, ARG_MARKER, ["13", "23,-33"])
    assert statements == [("(SELECT x FROM T_1 WHERE k IN (13)) UNION ALL "
                           "(SELECT x FROM T_2 WHERE k IN (23,-33))", [1, 2])]
    split = chunk_statements(template, "%C%", list(range(10)), 80, ARG_MARKER, ["1"] * 10)
    assert len(split) > 1 and sorted(c for _, cs in split for c in cs) == list(range(10))


@pytest.mark.parametrize("args", [["13) OR (1=1"], ["1,,2"], [""], ["13", "23"]])
def test_worker_refuses_anything_but_one_list_of_integers_per_chunk(args):
    with pytest.raises(ChunkQueryError):
        chunk_statements(f"SELECT x FROM T_%C% WHERE k IN ({ARG_MARKER})", "%C%", [1], 1 << 20,
                         ARG_MARKER, args)


@pytest.mark.parametrize("placed", [None, 4])
def test_no_index_look_up_on_a_child_whose_rows_may_be_placed_by_position(placed):
    """Such rows are in no director index and in any chunk: pruning by the index (or sending
    each chunk its keys) would lose them, so the query visits every chunk."""
    view = catalog()
    view.databases["demo"].table("Source").placed_by_position = placed
    select = sqlglot.parse_one(f"SELECT COUNT(*) FROM Source WHERE objectId IN ({LONG})", read="mysql")
    ctx = QueryContext(select=select, default_db="demo", catalog=view, output_names=["a"])
    analyze(select, ctx)
    assert ctx.index_lookups == []
    ctx = QueryContext(select=select, default_db="demo", catalog=catalog(), output_names=["a"])
    analyze(select, ctx)
    assert len(ctx.index_lookups) == 1
