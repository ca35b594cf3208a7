"""Query analysis: the logical passes over a user's SELECT, in the order they run.

Each pass is `pass_(select, ctx) -> select` and may raise QservError with a MySQL code;
one module per pass (its docstring: "Pass <n> (<name>)", n its place below, and an example),
one fixture file of cases per pass under tests/unit/analysis/. The physical side (chunk
query, merge query) is czar/plan.py; neither imports the other's modules late: the SQL
dialect both write is czar/dialect.py.
"""

from __future__ import annotations

from sqlglot import exp

from czar.analysis.aggregates import aggregates
from czar.analysis.context import QueryContext, TableRef
from czar.analysis.director_index import director_index
from czar.analysis.near_neighbour import near_neighbour
from czar.analysis.expand_stars import expand_stars
from czar.analysis.resolve_tables import resolve_tables
from czar.analysis.scisql import scisql
from czar.analysis.spatial import spatial
from czar.analysis.validate import validate

PASSES = (
    resolve_tables,
    near_neighbour,
    validate,
    spatial,
    director_index,
    scisql,
    expand_stars,
    aggregates,
)


def analyze(select: exp.Select, ctx: QueryContext) -> exp.Select:
    for pass_ in PASSES:
        select = pass_(select, ctx)
    return select


__all__ = ["PASSES", "analyze", "QueryContext", "TableRef"]
