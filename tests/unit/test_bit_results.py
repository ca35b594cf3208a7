"""BIT values cannot travel through OUTFILE (MariaDB writes them raw, unescaped): a result
with a BIT column gets a clear 1235 unless the few-rows path (rows over the connection)
carries it. Never a row cut at a 0x09 or 0x0A byte."""

from __future__ import annotations

import asyncio

import pytest

from czar.engine import MYSQL_TYPE_BIT, QueryEngine, ShadowResult
from czar.plan import QueryPlan
from qserv.errors import ER_NOT_SUPPORTED_YET, QservError

DOUBLE = 5


def _plan(chunks, few_rows=False) -> QueryPlan:
    plan = QueryPlan(database="demo", chunk_template="SELECT 1", shadow_sql="", merge_sql="",
                     chunks=chunks, direct_template="SELECT v FROM t")
    plan.few_rows = few_rows
    return plan


def _execute(plan, types):
    engine = object.__new__(QueryEngine)  # execute() looks at the plan before any I/O
    shadow = ShadowResult([(f"c{i}", t) + (None,) * 5 for i, t in enumerate(types)], [False] * len(types))
    return asyncio.run(engine.execute(plan, shadow))


@pytest.mark.parametrize("plan", [_plan([1, 2, 3]), _plan([7]), _plan([1, 2], few_rows=True)])
def test_bit_column_over_outfile_is_refused(plan):
    with pytest.raises(QservError) as e:
        _execute(plan, [DOUBLE, MYSQL_TYPE_BIT])
    assert e.value.code == ER_NOT_SUPPORTED_YET and "BIT" in e.value.message
    assert "col + 0" in e.value.message


def test_few_rows_single_job_passes_the_guard():
    """The guard lets it through: the engine then needs its dispatcher (absent here)."""
    with pytest.raises(AttributeError):
        _execute(_plan([7], few_rows=True), [MYSQL_TYPE_BIT])
