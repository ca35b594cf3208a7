"""The physical plan: its shape, the per-chunk query template and the merge query (DESIGN §5).

Map/reduce over chunks. Every chunk runs `chunk_template` (table names carry CHUNK_MARKER);
the czar loads all chunk rows into one result table whose columns are named qs*, then runs
`merge_sql` there, which restores the user's column names and order:

    SELECT flags, AVG(gMag) AS m FROM Object GROUP BY flags ORDER BY m
    chunk:  SELECT flags AS qsg0, SUM(gMag) AS qsa0, COUNT(gMag) AS qsa1
            FROM demo.Object___QSERV_CHUNK__ AS Object GROUP BY flags
    merge:  SELECT qsg0 AS flags, SUM(qsa0) / SUM(qsa1) AS m FROM {result}
            GROUP BY qsg0 ORDER BY m

The planner is split by concern: aggregates (czar/plan_aggregates.py), the rows of a query
without aggregation with its ORDER BY / LIMIT window (czar/plan_window.py), the chunk select
list and table names (czar/plan_columns.py). Every plan has one `Shape`, and the engine
(czar/engine.py, `QueryEngine.execute`) runs each shape its own way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sqlglot import exp

from czar.analysis.context import QueryContext
from czar.dialect import render
from czar.plan_aggregates import plan_aggregation
from czar.plan_columns import RESULT_PLACEHOLDER, Columns, chunk_tables
from czar.plan_window import per_chunk_limit, plan_rows, row_window
from qserv.catalog import CHUNK_MARKER

SCAN_THRESHOLD = 10  # more chunks than this makes a query a "scan" rather than "interactive"


class Shape(enum.Enum):
    """How a plan runs (QueryEngine.execute switches on it). Multi-phase shapes join here."""

    EMPTY = "empty"                    # no chunk to visit: the czar answers over no rows
    SINGLE_JOB = "single job"          # one job answers: the user's query as is, no merge
    STREAMED = "streamed"              # every chunk's rows go straight to the client
    MERGED = "merged"                  # chunk results into a czar table, a merge query there
    NEAR_NEIGHBOUR = "near-neighbour"  # merged, each chunk joined with its overlap too
    ON_CZAR = "on the czar"            # sources (derived tables, UNION sides) into czar tables,
                                       # the query over them on the czar
    TWO_PHASE = "two-phase"            # sub-queries first, their rows then stand in the outer
                                       # query, which is planned then (czar/plan_phases.py)


@dataclass
class QueryPlan:
    database: str
    chunk_template: str          # per-chunk SQL, table names carry CHUNK_MARKER
    shadow_sql: str              # the same SELECT over the czar's empty shadow tables (typing)
    merge_sql: str               # over RESULT_PLACEHOLDER
    chunks: list[int] = field(default_factory=list)  # [] -> one job (replicated tables only)
    partitioned: bool = True
    pruned_by: list[str] = field(default_factory=list)  # why fewer than all chunks (EXPLAIN)
    # The user's whole query over one chunk's tables: when a single job answers the query
    # (one chunk, or replicated tables only) it runs as is and needs no merge.
    direct_template: str = ""
    # No aggregation, ORDER BY or DISTINCT: every job's rows go straight to the client.
    streamable: bool = False
    # A LIMIT/OFFSET on such a query: (rows to skip, rows to send, None: all). The direct
    # template then asks every chunk for skip + send rows and the czar keeps the window.
    row_window: tuple[int, int | None] | None = None
    # A director-index look-up names the rows: few enough for the worker to fetch them over
    # its connection and send them in one message (no OUTFILE).
    few_rows: bool = False
    # `SET SESSION ...` of the client's session variables that change answers (sql_mode,
    # time_zone...; czar/session_state.py): every connection that runs this plan's SQL (chunk
    # queries, the merge) runs it first. '' for the server's defaults.
    session_sql: str = ""
    # The user's query over the czar's empty shadow tables: the answer when no chunk holds a
    # row it could select (a region or look-up that touches no chunk).
    empty_sql: str = ""
    # Why the chunks send rows and the merge runs the whole query (ctx.on_czar), for EXPLAIN.
    on_czar: str = ""
    # TWO_PHASE: the sub-queries (plan_phases.Phase, each with its own plan) and the outer
    # query with them still in place, planned once their rows are in it.
    phases: list = field(default_factory=list)
    outer: exp.Select | None = None
    default_db: str | None = None
    output_names: list[str] = field(default_factory=list)
    # Correlated sub-queries that run inside each chunk query (czar/plan_correlated.py).
    correlated: int = 0
    # Planned to load its rows into a czar table (a sub-query's plan): always merged.
    merged: bool = False
    # Each chunk's own keys of a long `key IN (...)` list, the text for ARG_MARKER in the
    # templates (czar/chunk_keys.py); None: the templates carry no marker.
    chunk_args: dict[int, str] | None = None
    # How it runs; None: derived from the fields above (`choose_shape`) when built.
    shape: Shape | None = None

    def __post_init__(self):
        if self.shape is None:
            self.shape = choose_shape(self)

    @property
    def single_job(self) -> bool:
        return self.shape is Shape.SINGLE_JOB

    @property
    def kind(self) -> str:
        return "scan" if len(self.chunks) > SCAN_THRESHOLD else "interactive"

    def merge_for(self, result_table: str) -> str:
        return self.merge_sql.replace(RESULT_PLACEHOLDER, result_table)


def choose_shape(plan: QueryPlan, chunks_known: bool = True) -> Shape:
    """The shape of a single-phase plan from its forms and chunks. A plan without a direct
    form (a near-neighbour join: its two halves always merge) never runs as a single job."""
    if chunks_known and plan.partitioned and not plan.chunks and plan.empty_sql:
        return Shape.EMPTY
    if plan.direct_template and (not plan.partitioned or len(plan.chunks) == 1):
        return Shape.SINGLE_JOB
    if plan.streamable and plan.direct_template:
        return Shape.STREAMED
    return Shape.MERGED


def build_plan(select: exp.Select, ctx: QueryContext, chunks: list[int] | None = None,
               merged: bool = False) -> QueryPlan:
    """The plan for visiting `chunks` (None: unknown yet, build every form). When a single job
    answers (one chunk, or replicated tables only), only the direct form is built: rendering
    SQL is most of the czar's work for a point query. `merged`: the rows must end in the
    czar's result table (a sub-query's plan), so the map/reduce form whatever the chunks."""
    partitioned = bool(ctx.partitioned_tables)
    if partitioned and chunks == []:
        return QueryPlan(database=ctx.database, chunk_template="", shadow_sql="", merge_sql="",
                         empty_sql=render(chunk_tables(select, ctx, None)), shape=Shape.EMPTY)
    if ctx.neighbour_join is not None:
        return _build_neighbour_plan(select, ctx, chunks)
    # Nothing to combine across chunks: the union of the per-chunk answers is the answer (and
    # a LIMIT only cuts it: the czar keeps the window, czar/engine.py).
    streamable = not ctx.is_aggregate and not ctx.on_czar and not any(select.args.get(k) for k in ("order", "distinct"))
    window = row_window(select) if streamable else None
    if window is False:
        streamable, window = False, None
    direct = render(chunk_tables(per_chunk_limit(select, window) if window else select, ctx,
                                 CHUNK_MARKER))
    if chunks is not None and (not partitioned or len(chunks) == 1) and not merged:
        return QueryPlan(database=ctx.database, direct_template=direct, chunk_template="",
                         shadow_sql="", merge_sql="", chunks=list(chunks) if partitioned else [],
                         partitioned=partitioned, row_window=window, shape=Shape.SINGLE_JOB)
    plan, _ = _build_map_reduce(select, ctx)
    plan.direct_template = direct
    plan.streamable = streamable
    plan.row_window = window
    if partitioned:  # a cached plan may meet no chunk (czar/plan_cache.py)
        plan.empty_sql = render(chunk_tables(select, ctx, None))
    if chunks is not None:
        plan.chunks = list(chunks)
    plan.shape = Shape.MERGED if merged else choose_shape(plan, chunks_known=chunks is not None)
    plan.merged = merged
    return plan


def _build_neighbour_plan(select: exp.Select, ctx: QueryContext, chunks: list[int] | None) -> QueryPlan:
    """A near-neighbour join runs in two halves per chunk: partners from the chunk itself and
    partners from its overlap table; both halves' rows (or partial aggregates) go to the
    merge, so it always takes the map/reduce form, even for a single chunk."""
    plan, chunk_select = _build_map_reduce(select, ctx)
    overlap_half = render(chunk_tables(chunk_select, ctx, CHUNK_MARKER,
                                       overlap_for=ctx.neighbour_join.partner))
    plan.chunk_template = f"({plan.chunk_template}) UNION ALL ({overlap_half})"
    if chunks is not None:
        plan.chunks = list(chunks)
    plan.shape = Shape.NEAR_NEIGHBOUR
    return plan


def _build_map_reduce(select: exp.Select, ctx: QueryContext) -> tuple[QueryPlan, exp.Select]:
    """The map/reduce plan, and the per-chunk SELECT it renders (tables not yet renamed)."""
    cols = Columns()
    chunk = select.copy()
    for key in ("group", "having", "order", "limit", "offset", "distinct"):
        chunk.set(key, None)
    merge = exp.Select()
    if ctx.is_aggregate or ctx.on_czar:
        merge_items = plan_aggregation(select, ctx, chunk, merge, cols, raw=bool(ctx.on_czar))
    else:
        merge_items = plan_rows(select, ctx, chunk, merge, cols)
        merge.set("from_", exp.From(this=exp.to_table(RESULT_PLACEHOLDER)))
    if not cols.items:  # the merge needs only the number of rows (COUNT(*) on the czar)
        cols.add(exp.Literal.number(1), "x")
    chunk.set("expressions", cols.items)
    merge.set("expressions", merge_items)
    plan = QueryPlan(
        database=ctx.database,
        chunk_template=render(chunk_tables(chunk, ctx, CHUNK_MARKER)),
        shadow_sql=render(chunk_tables(chunk, ctx, None)),
        merge_sql=render(merge).replace(f"`{RESULT_PLACEHOLDER}`", RESULT_PLACEHOLDER),
        partitioned=bool(ctx.partitioned_tables),
        shape=Shape.MERGED,
        on_czar=ctx.on_czar,
    )
    return plan, chunk
