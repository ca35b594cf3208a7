"""Aggregates over a derived table that is complete per chunk run in the chunks too: the
derived table groups by a director key, so each of its groups lies in one chunk, and the outer
aggregate splits into per-chunk parts and a merge as over a table (czar/plan_aggregates.py):

    SELECT n, COUNT(*) FROM (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) AS t
    GROUP BY n ORDER BY n
    chunk:  SELECT n AS qsg0, COUNT(*) AS qsa0 FROM (SELECT objectId, COUNT(*) AS n
            FROM demo.Source_<c> AS Source GROUP BY objectId) AS t GROUP BY n
    merge:  SELECT qsg0 AS n, CAST(COALESCE(SUM(qsa0), 0) AS SIGNED) AS `COUNT(*)`
            FROM {result} GROUP BY qsg0 ORDER BY n

Why: planned on the czar (czar/plan_phases.py czar_sources) the derived table's groups, one
row per object, went from every chunk into a czar table, were grouped again there and copied
into a second table before the histogram ran over it; now each chunk sends its histogram.

Exact when every row of one key value is in one chunk (TableSpec.keys_colocated): a group of
the derived table then never spans chunks. The inner query must group by such a key and have
no LIMIT, ROLLUP, window, sub-query or derived table of its own; the outer query must be one
aggregate over that one derived table using functions that split (COUNT, SUM, MIN, MAX, AVG,
BIT_*, and their DISTINCT forms). Anything else keeps the czar plan (`pushable` is None).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from czar.analysis.aggregates import aggregates, resolve_group_key
from czar.analysis.context import QueryContext
from czar.analysis.near_neighbour import near_neighbour
from czar.analysis.resolve_tables import from_tables, resolve_tables
from czar.dialect import render
from czar.plan import QueryPlan, Shape
from czar.plan_aggregates import BITWISE, plan_aggregation
from czar.plan_columns import RESULT_PLACEHOLDER, Columns
from qserv.errors import QservError

DERIVED_MARKER = "__QSERV_DERIVED__"
SPLITTING = (exp.Count, exp.Sum, exp.Min, exp.Max, exp.Avg) + BITWISE


@dataclass
class DerivedContext(QueryContext):
    """The outer query's context: its one "table" is the derived table, whose columns are
    the inner select list's names."""

    derived_columns: set[str] = field(default_factory=set)

    def is_table_column(self, name: str) -> bool:
        return name.lower() in self.derived_columns

    def table_for_column(self, column: exp.Column):
        return None


def pushable(query: exp.Query, catalog, default_db: str | None,
             names: list[str]) -> tuple[exp.Select, exp.Subquery] | None:
    """(the inner SELECT, a copy to plan; the derived table node) when `query` is an aggregate
    over one derived table complete per chunk (module docstring), else None."""
    if not isinstance(query, exp.Select) or query.args.get("joins"):
        return None
    sources = from_tables(query)
    if len(sources) != 1 or not isinstance(sources[0], exp.Subquery):
        return None
    derived = sources[0]
    inner = derived.this
    alias = derived.args.get("alias")
    if not isinstance(inner, exp.Select) or not derived.alias or (alias and alias.columns):
        return None
    if not _outer_splits(query, derived) or not _complete_per_chunk(inner, catalog, default_db):
        return None
    return inner.copy(), derived


def _outside(query: exp.Select, derived: exp.Subquery):
    """The nodes of `query` not inside the derived table."""
    inside = {id(n) for n in derived.walk()}
    return (n for n in query.walk() if id(n) not in inside)


def _outer_splits(query: exp.Select, derived: exp.Subquery) -> bool:
    if any(isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star))
           for item in query.expressions):
        return False
    aggregated = False
    for node in _outside(query, derived):
        if isinstance(node, (exp.Window, exp.Anonymous, exp.Subquery, exp.Table)) and node is not derived:
            return False
        if isinstance(node, exp.AggFunc):
            if not isinstance(node, SPLITTING):
                return False
            aggregated = True
    return aggregated or query.args.get("group") is not None


def _complete_per_chunk(inner: exp.Select, catalog, default_db: str | None) -> bool:
    """Whether each group of `inner` has all its rows in one chunk: it groups by a director key
    whose values do not span chunks, without LIMIT, ROLLUP, windows or nested queries."""
    group = inner.args.get("group")
    if group is None or group.args.get("rollup") or not group.expressions:
        return False
    if any(inner.args.get(k) is not None for k in ("limit", "offset")):
        return False
    if any(isinstance(n, (exp.Window, exp.Subquery, exp.Exists)) for n in inner.walk()):
        return False
    if any(not isinstance(s, exp.Table) for s in from_tables(inner)):
        return False
    probe = inner.copy()
    ctx = QueryContext(select=probe, default_db=default_db, catalog=catalog, output_names=[])
    try:
        probe = near_neighbour(resolve_tables(probe, ctx), ctx)
    except QservError:
        return False   # the czar plan reports it
    if ctx.neighbour_join is not None or not ctx.partitioned_tables:
        return False
    for key in probe.args["group"].expressions:
        key = resolve_group_key(key, probe, ctx)
        if isinstance(key, exp.Column):
            ref = ctx.table_for_column(key)
            if (ref is not None and ref.partitioned and ref.spec.keys_colocated
                    and key.name.lower() == ref.spec.director_key.lower()):
                return True
    return False


def pushed_plan(query: exp.Select, derived: exp.Subquery, inner_plan: QueryPlan, catalog,
                default_db: str | None, output_names: list[str], inner_names: list[str],
                merged: bool) -> QueryPlan | None:
    """The map/reduce plan of the whole query, the inner query's per-chunk SQL (from its own
    plan, `inner_plan`, with its chunks and per-chunk keys) in the derived table's place.
    None when the inner plan does not run as plain per-chunk SQL."""
    if inner_plan.on_czar or inner_plan.shape not in (Shape.MERGED, Shape.EMPTY) or inner_plan.phases:
        return None
    ctx = DerivedContext(select=query, default_db=default_db, catalog=catalog,
                         output_names=list(output_names), database=inner_plan.database,
                         derived_columns={n.lower() for n in inner_names})
    query = aggregates(query, ctx)
    if not ctx.is_aggregate:
        return None
    placeholder = exp.Var(this=DERIVED_MARKER)
    derived.set("this", placeholder)
    empty_sql = render(query).replace(DERIVED_MARKER, inner_plan.empty_sql)
    if inner_plan.shape is Shape.EMPTY:
        return QueryPlan(database=inner_plan.database, chunk_template="", shadow_sql="",
                         merge_sql="", empty_sql=empty_sql, shape=Shape.EMPTY, merged=merged,
                         pruned_by=list(inner_plan.pruned_by))
    cols = Columns()
    chunk = query.copy()
    for key in ("group", "having", "order", "limit", "offset", "distinct"):
        chunk.set(key, None)
    merge = exp.Select()
    merge_items = plan_aggregation(query, ctx, chunk, merge, cols)
    if not cols.items:
        cols.add(exp.Literal.number(1), "x")
    chunk.set("expressions", cols.items)
    merge.set("expressions", merge_items)
    text = render(chunk)
    return QueryPlan(
        database=inner_plan.database,
        chunk_template=text.replace(DERIVED_MARKER, inner_plan.direct_template),
        shadow_sql=text.replace(DERIVED_MARKER, inner_plan.empty_sql),
        merge_sql=render(merge).replace(f"`{RESULT_PLACEHOLDER}`", RESULT_PLACEHOLDER),
        empty_sql=empty_sql, chunks=list(inner_plan.chunks), partitioned=True,
        pruned_by=list(inner_plan.pruned_by), chunk_args=inner_plan.chunk_args,
        shape=Shape.MERGED, merged=merged)
