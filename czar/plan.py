"""The physical plan: the per-chunk query template and the merge query (DESIGN §5).

Map/reduce over chunks. Every chunk runs `chunk_template` (table names carry CHUNK_MARKER);
the czar loads all chunk rows into one result table whose columns are named qs*, then runs
`merge_sql` there, which restores the user's column names and order:

    SELECT flags, AVG(gMag) AS m FROM Object GROUP BY flags ORDER BY m
    chunk:  SELECT flags AS qsg0, SUM(gMag) AS qsa0, COUNT(gMag) AS qsa1
            FROM demo.Object___QSERV_CHUNK__ AS Object GROUP BY flags
    merge:  SELECT qsg0 AS flags, SUM(qsa0) / SUM(qsa1) AS m FROM {result}
            GROUP BY qsg0 ORDER BY m

COUNT becomes a SUM of counts (cast back to BIGINT, 0 over no rows), AVG a SUM over a
COUNT; MIN/MAX stay. ORDER BY and LIMIT are always re-applied at merge; LIMIT is pushed
into the chunk query when that cannot change the answer (no aggregation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.generators.mysql import MySQLGenerator

from czar.analysis.aggregates import aliases, select_item_expression
from czar.analysis.context import QueryContext
from qserv.catalog import CHUNK_MARKER

RESULT_PLACEHOLDER = "__QSERV_RESULT__"
SCAN_THRESHOLD = 10  # more chunks than this makes a query a "scan" rather than "interactive"


class MariaDB(MySQL):
    """sqlglot's MySQL dialect, writing only what MariaDB runs: sqlglot turns `x REGEXP p`
    (and RLIKE) into MySQL 8's REGEXP_LIKE(x, p), a function MariaDB does not have (1305)."""

    class Generator(MySQLGenerator):
        TRANSFORMS = {**MySQLGenerator.TRANSFORMS,
                      exp.RegexpLike: lambda self, e: self.binary(e, "REGEXP")}


def render(node: exp.Expr) -> str:
    return node.sql(dialect=MariaDB, identify=True)


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

    @property
    def single_job(self) -> bool:
        """One job answers the whole query. Not for plans without a direct form (a
        near-neighbour join always merges its two halves)."""
        return bool(self.direct_template) and (not self.partitioned or len(self.chunks) == 1)

    @property
    def kind(self) -> str:
        return "scan" if len(self.chunks) > SCAN_THRESHOLD else "interactive"

    def merge_for(self, result_table: str) -> str:
        return self.merge_sql.replace(RESULT_PLACEHOLDER, result_table)


class _Columns:
    """The chunk query's select list, de-duplicated by SQL text."""

    def __init__(self):
        self.items: list[exp.Expr] = []
        self._by_sql: dict[tuple[str, str], str] = {}
        self._count: dict[str, int] = {}

    def add(self, expr: exp.Expr, prefix: str) -> exp.Column:
        key = (prefix, expr.sql("mysql"))
        name = self._by_sql.get(key)
        if name is None:
            n = self._count.get(prefix, 0)
            self._count[prefix] = n + 1
            name = f"qs{prefix}{n}"
            self._by_sql[key] = name
            self.items.append(exp.alias_(expr.copy(), name, quoted=True))
        return exp.column(name, quoted=True)


def _merge_aggregate(agg: exp.AggFunc, cols: _Columns) -> exp.Expr:
    if isinstance(agg, exp.Count):
        part = cols.add(agg, "a")
        return exp.Cast(this=exp.func("COALESCE", exp.Sum(this=part), exp.Literal.number(0)),
                        to=exp.DataType.build("SIGNED", dialect="mysql"))
    if isinstance(agg, exp.Sum):
        return exp.Sum(this=cols.add(agg, "a"))
    if isinstance(agg, exp.Min):
        return exp.Min(this=cols.add(agg, "a"))
    if isinstance(agg, exp.Max):
        return exp.Max(this=cols.add(agg, "a"))
    if isinstance(agg, exp.Avg):
        total = cols.add(exp.Sum(this=agg.this.copy()), "a")
        count = cols.add(exp.Count(this=agg.this.copy()), "a")
        return exp.Div(this=exp.Sum(this=total), expression=exp.Sum(this=count))
    raise AssertionError(f"validate() lets through only splittable aggregates, got {agg}")


def _to_merge(expr: exp.Expr, cols: _Columns, group_map: dict[str, exp.Column],
              keep_aliases: set[str]) -> exp.Expr:
    """Rewrite an expression of the user's query over the result table's columns."""
    def fn(node: exp.Expr) -> exp.Expr:
        text = node.sql("mysql")
        if text in group_map:
            return group_map[text].copy()
        if isinstance(node, exp.AggFunc):
            return _merge_aggregate(node, cols)
        if isinstance(node, exp.Column):
            if not node.table and node.name.lower() in keep_aliases:
                return node  # an alias of the merge select list
            return cols.add(node, "p")
        return node
    return expr.copy().transform(fn)


def _chunk_tables(select: exp.Select, ctx: QueryContext, marker: str | None,
                  overlap_for=None) -> exp.Select:
    """Qualify every table with its database; partitioned ones get their chunk name (the
    `overlap_for` table ref gets its overlap table's name instead)."""
    select = select.copy()
    by_id = {}
    for ref in ctx.tables:
        by_id[(ref.node.name, ref.node.alias, ref.node.db)] = ref
    from czar.analysis.resolve_tables import from_tables
    for table in from_tables(select):
        assert isinstance(table, exp.Table)   # resolve_tables refused any other source
        ref = by_id[(table.name, table.alias, table.db)]
        if not table.alias:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name, quoted=True)))
        name = table.name
        if ref is overlap_for and marker is not None:
            name = ref.spec.overlap_table(marker)
        elif ref.partitioned and marker is not None:
            name = f"{table.name}_{marker}"
        table.set("this", exp.to_identifier(name, quoted=True))
        table.set("db", exp.to_identifier(ref.db, quoted=True))
    return select


def build_plan(select: exp.Select, ctx: QueryContext, chunks: list[int] | None = None) -> QueryPlan:
    """The plan for visiting `chunks` (None: unknown yet, build every form). When a single job
    answers (one chunk, or replicated tables only), only the direct form is built: rendering
    SQL is most of the czar's work for a point query."""
    partitioned = bool(ctx.partitioned_tables)
    if ctx.neighbour_join is not None:
        return _build_neighbour_plan(select, ctx, chunks)
    # Nothing to combine across chunks: the union of the per-chunk answers is the answer (and
    # a LIMIT only cuts it: the czar keeps the window, czar/engine.py).
    streamable = not ctx.is_aggregate and not any(select.args.get(k) for k in ("order", "distinct"))
    window = _row_window(select) if streamable else None
    if window is False:
        streamable, window = False, None
    direct = render(_chunk_tables(_per_chunk_limit(select, window) if window else select, ctx,
                                  CHUNK_MARKER))
    if chunks is not None and (not partitioned or len(chunks) == 1):
        return QueryPlan(database=ctx.database, direct_template=direct, chunk_template="",
                         shadow_sql="", merge_sql="", chunks=list(chunks) if partitioned else [],
                         partitioned=partitioned, row_window=window)
    plan, _ = _build_map_reduce(select, ctx)
    plan.direct_template = direct
    plan.streamable = streamable
    plan.row_window = window
    if chunks is not None:
        plan.chunks = list(chunks)
    return plan


def _row_window(select: exp.Select):
    """(offset, count) of a LIMIT/OFFSET of literal integers, None without one, False when
    they are not plain integers (the merge path then applies them)."""
    limit, offset = select.args.get("limit"), select.args.get("offset")
    if limit is None and offset is None:
        return None

    def integer(clause) -> int:
        value = clause.expression
        if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit():
            return int(value.this)
        raise ValueError(value)
    try:
        return (integer(offset) if offset is not None else 0,
                integer(limit) if limit is not None else None)
    except ValueError:
        return False


def _per_chunk_limit(select: exp.Select, window: tuple[int, int | None]) -> exp.Select:
    """The user's query as each chunk must run it under a row window: no OFFSET (it applies to
    the union), at most offset + count rows."""
    skip, count = window
    select = select.copy()
    select.set("offset", None)
    select.set("limit", None if count is None else exp.Limit(expression=exp.Literal.number(skip + count)))
    return select


def _build_neighbour_plan(select: exp.Select, ctx: QueryContext, chunks: list[int] | None) -> QueryPlan:
    """A near-neighbour join runs in two halves per chunk: partners from the chunk itself and
    partners from its overlap table; both halves' rows (or partial aggregates) go to the
    merge, so it always takes the map/reduce form, even for a single chunk."""
    plan, chunk_select = _build_map_reduce(select, ctx)
    overlap_half = render(_chunk_tables(chunk_select, ctx, CHUNK_MARKER,
                                        overlap_for=ctx.neighbour_join.partner))
    plan.chunk_template = f"({plan.chunk_template}) UNION ALL ({overlap_half})"
    if chunks is not None:
        plan.chunks = list(chunks)
    return plan


def _build_map_reduce(select: exp.Select, ctx: QueryContext) -> tuple[QueryPlan, exp.Select]:
    """The map/reduce plan, and the per-chunk SELECT it renders (tables not yet renamed)."""
    names = ctx.output_names
    cols = _Columns()
    chunk = select.copy()
    for key in ("group", "having", "order", "limit", "offset", "distinct"):
        chunk.set(key, None)
    merge_items: list[exp.Expr] = []
    merge = exp.Select()
    alias_names = set(aliases(select))
    order = select.args.get("order")
    limit = select.args.get("limit")
    offset = select.args.get("offset")

    if ctx.is_aggregate:
        group_map: dict[str, exp.Column] = {}
        for group_key in ctx.group_keys:
            group_map[group_key.sql("mysql")] = cols.add(group_key, "g")
        for item, name in zip(select.expressions, names):
            merge_items.append(exp.alias_(_to_merge(select_item_expression(item), cols, group_map, set()),
                                          name, quoted=True))
        if group_map:
            # WITH ROLLUP is re-applied at merge: every aggregate's merge part (SUM of counts,
            # SUM/SUM, MIN, MAX) also rolls up the per-chunk groups correctly.
            user_group = select.args.get("group")
            merge.set("group", exp.Group(expressions=[c.copy() for c in group_map.values()],
                                         rollup=user_group.args.get("rollup") if user_group else None))
        chunk.set("group", exp.Group(expressions=[k.copy() for k in ctx.group_keys]) if ctx.group_keys else None)
        having = select.args.get("having")
        if having is not None:
            merge.set("having", exp.Having(this=_to_merge(having.this, cols, group_map, alias_names)))
        if order is not None:
            # A bare alias sorts by the select item; inside an expression MariaDB takes a name
            # that is also a table column as the column, so only pure aliases stay aliases.
            pure_aliases = {a for a in alias_names if not ctx.is_table_column(a)}
            merge.set("order", exp.Order(expressions=[
                o.copy() if _is_position(o.this) or _is_alias(o.this, alias_names)
                else o.__class__(**{**o.args, "this": _to_merge(o.this, cols, group_map, pure_aliases)})
                for o in order.expressions]))
        if limit is not None:
            merge.set("limit", limit.copy())
        if offset is not None:
            merge.set("offset", offset.copy())
        if select.args.get("distinct"):
            merge.set("distinct", exp.Distinct())
    else:
        item_exprs = [select_item_expression(i) for i in select.expressions]
        by_sql: dict[str, exp.Column] = {}
        for i, (e, name) in enumerate(zip(item_exprs, names)):
            column = cols.add(e, "c") if e.sql("mysql") not in by_sql else by_sql[e.sql("mysql")]
            by_sql.setdefault(e.sql("mysql"), column)
            merge_items.append(exp.alias_(column.copy(), name, quoted=True))
        alias_to_expr = aliases(select)
        if order is not None:
            merge_order, chunk_order = [], []
            for o in order.expressions:
                key = o.this
                if _is_position(key):
                    chunk_expr = item_exprs[int(key.this) - 1]
                elif _is_alias(key, alias_names):
                    chunk_expr = alias_to_expr[key.name.lower()]
                else:
                    chunk_expr = key
                merge_key = by_sql.get(chunk_expr.sql("mysql")) or cols.add(chunk_expr, "o")
                merge_order.append(o.__class__(**{**o.args, "this": merge_key.copy()}))
                chunk_order.append(o.__class__(**{**o.args, "this": chunk_expr.copy()}))
            merge.set("order", exp.Order(expressions=merge_order))
            if limit is not None:
                chunk.set("order", exp.Order(expressions=chunk_order))
        distinct = bool(select.args.get("distinct"))
        # With DISTINCT, a hidden sort column makes chunk rows (value, sort key) pairs: a
        # chunk's first n pairs may hold fewer than n distinct values, so no push-down then.
        hidden_sort = any(item.alias.startswith("qso") for item in cols.items)
        if limit is not None:
            merge.set("limit", limit.copy())
            if offset is not None:
                merge.set("offset", offset.copy())
            if not (distinct and hidden_sort):
                pushed = int(limit.expression.this) + (int(offset.expression.this) if offset is not None else 0)
                chunk.set("limit", exp.Limit(expression=exp.Literal.number(pushed)))
            else:
                chunk.set("order", None)
        if distinct:
            chunk.set("distinct", exp.Distinct())
            merge.set("distinct", exp.Distinct())

    chunk.set("expressions", cols.items)
    merge.set("expressions", merge_items)
    merge.set("from_", exp.From(this=exp.to_table(RESULT_PLACEHOLDER)))
    partitioned = bool(ctx.partitioned_tables)
    plan = QueryPlan(
        database=ctx.database,
        chunk_template=render(_chunk_tables(chunk, ctx, CHUNK_MARKER)),
        shadow_sql=render(_chunk_tables(chunk, ctx, None)),
        merge_sql=render(merge).replace(f"`{RESULT_PLACEHOLDER}`", RESULT_PLACEHOLDER),
        partitioned=partitioned,
    )
    return plan, chunk


def _is_position(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal) and not node.is_string


def _is_alias(node: exp.Expr, alias_names: set[str]) -> bool:
    return isinstance(node, exp.Column) and not node.table and node.name.lower() in alias_names
