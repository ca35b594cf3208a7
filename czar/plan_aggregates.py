"""The physical planner, aggregate queries: every aggregate becomes a per-chunk part and a
merge part, groups are formed again at merge, HAVING, ORDER BY, LIMIT and DISTINCT apply there.

    SELECT flags, AVG(gMag) AS m FROM Object GROUP BY flags HAVING COUNT(*) > 2 ORDER BY m
    chunk:  SELECT flags AS qsg0, SUM(gMag) AS qsa0, COUNT(gMag) AS qsa1, COUNT(*) AS qsa2
            FROM ... GROUP BY flags
    merge:  SELECT qsg0 AS flags, SUM(qsa0) / SUM(qsa1) AS m FROM {result} GROUP BY qsg0
            HAVING CAST(COALESCE(SUM(qsa2), 0) AS SIGNED) > 2 ORDER BY m

A new aggregate function is one more case of `merge_aggregate` (and its name let through by
czar/analysis/validate.py).
"""

from __future__ import annotations

from sqlglot import exp

from czar.analysis.aggregates import aliases, select_item_expression
from czar.analysis.context import QueryContext
from czar.plan_columns import RESULT_PLACEHOLDER, Columns, is_alias, is_position
from qserv.errors import not_supported


# Per-chunk moments of x (count, mean, sum of squared deviations from the chunk's mean) and
# their combination at merge (Chan et al.): with mu the overall mean,
#     M2 = sum(M2_i) + sum(n_i * (mean_i - mu)^2),  VAR_POP = M2 / N,  VAR_SAMP = M2 / (N - 1).
# No difference of large sums, so no cancellation (czar/moments.py holds the same arithmetic in
# Python, property-tested against the one-pass definition).
VARIANCES = (exp.VariancePop, exp.Variance, exp.StddevPop, exp.StddevSamp)
BITWISE = (exp.BitwiseAndAgg, exp.BitwiseOrAgg, exp.BitwiseXorAgg)


class MergeState:
    """What the merge query needs besides the chunk columns: the per-group means that the
    variance combination takes from a window over the result table (`qsm*` columns)."""

    def __init__(self, ctx: QueryContext | None = None, colocated_distinct: bool = False):
        self.ctx = ctx
        self.means: list[tuple[str, exp.Column, exp.Column]] = []   # (name, n column, mean column)
        # every DISTINCT aggregate of the query is a COUNT(DISTINCT ...) of a director key:
        # counted per chunk, summed at merge (`colocated_distinct`)
        self.colocated_distinct = colocated_distinct

    def mean_of(self, n: exp.Column, mean: exp.Column) -> exp.Column:
        """The column holding the overall mean of x in each row's group (one per x)."""
        for name, n_, mean_ in self.means:
            if (n_.name, mean_.name) == (n.name, mean.name):
                return exp.column(name, quoted=True)
        name = f"qsm{len(self.means)}"
        self.means.append((name, n, mean))
        return exp.column(name, quoted=True)


def merge_aggregate(agg: exp.AggFunc, cols: Columns, state: MergeState | None = None) -> exp.Expr:
    """The merge expression of one aggregate; its per-chunk parts join the chunk select list.
    COUNT: a SUM of counts (BIGINT again, 0 over no rows); AVG: SUM over COUNT; an aggregate
    over DISTINCT values: the chunks group by those values (qsd* columns), the merge takes the
    same aggregate over the distinct values again."""
    if isinstance(agg.this, exp.Distinct) and state is not None and state.colocated_distinct:
        part = cols.add(agg, "a")   # COUNT(DISTINCT key ...) per chunk: no value in two chunks
        return exp.Cast(this=exp.func("COALESCE", exp.Sum(this=part), exp.Literal.number(0)),
                        to=exp.DataType.build("SIGNED", dialect="mysql"))
    if isinstance(agg.this, exp.Distinct):
        values = [cols.add(e, "d") for e in agg.this.expressions]
        return agg.__class__(this=exp.Distinct(expressions=values))
    if isinstance(agg, exp.Count):
        part = cols.add(agg, "a")
        return exp.Cast(this=exp.func("COALESCE", exp.Sum(this=part), exp.Literal.number(0)),
                        to=exp.DataType.build("SIGNED", dialect="mysql"))
    if isinstance(agg, (exp.Sum, exp.Min, exp.Max) + BITWISE):
        return agg.__class__(this=cols.add(agg, "a"))
    if isinstance(agg, exp.Avg):
        total = cols.add(exp.Sum(this=agg.this.copy()), "a")
        count = cols.add(exp.Count(this=agg.this.copy()), "a")
        return exp.Div(this=exp.Sum(this=total), expression=exp.Sum(this=count))
    if isinstance(agg, VARIANCES) and state is not None:
        return _merge_variance(agg, cols, state)
    raise AssertionError(f"validate() lets through only splittable aggregates, got {agg}")


def _merge_variance(agg: exp.AggFunc, cols: Columns, state: MergeState) -> exp.Expr:
    x = agg.this
    n = cols.add(exp.Count(this=x.copy()), "a")
    # x + 0E0: a DOUBLE without fixed decimals, so that the result table keeps every digit
    # (VAR_POP of an INT has 4 decimals: a column created from it would round to them)
    as_double = exp.Add(this=x.copy(), expression=exp.Literal.number("0E0"))
    mean = cols.add(exp.Avg(this=as_double), "a")
    m2 = cols.add(exp.Mul(this=exp.VariancePop(this=as_double.copy()), expression=exp.Count(this=x.copy())), "a")
    mu = state.mean_of(n, mean)
    spread = exp.Mul(this=n.copy(), expression=exp.Pow(
        this=exp.Paren(this=exp.Sub(this=mean.copy(), expression=mu)), expression=exp.Literal.number(2)))
    total = exp.Paren(this=exp.Add(this=exp.Sum(this=m2), expression=exp.Sum(this=spread)))
    sample = isinstance(agg, (exp.Variance, exp.StddevSamp))
    count: exp.Expr = exp.Sum(this=n.copy())
    if sample:
        count = exp.Sub(this=count, expression=exp.Literal.number(1))
    variance = exp.Div(this=total, expression=exp.func("NULLIF", count, exp.Literal.number(0)))
    result = exp.func("SQRT", variance) if isinstance(agg, (exp.StddevPop, exp.StddevSamp)) else variance
    decimals = fixed_decimals(x, state.ctx)
    if decimals is not None and decimals + 4 < NOT_FIXED:
        # MariaDB gives a variance of x the decimals of x plus 4 (an INT's: 4) and prints its
        # value with that many digits; the combination is a plain DOUBLE: round it the same way
        result = exp.func("ROUND", result, exp.Literal.number(decimals + 4))
    return result


NOT_FIXED = 31  # MariaDB's decimals of a floating-point value printed with all its digits
INTEGER_TYPES = ("TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "BIGINT", "BOOL", "BOOLEAN", "BIT", "YEAR")


def fixed_decimals(x: exp.Expr, ctx: QueryContext | None) -> int | None:
    """The decimals MariaDB gives expression `x` when fixed (integers 0, DECIMAL(p, s) s),
    None when floating or not known here (then the value is left as computed)."""
    if isinstance(x, exp.Paren) or isinstance(x, exp.Neg):
        return fixed_decimals(x.this, ctx)
    if isinstance(x, exp.Literal) and not x.is_string:
        text = x.this.lower()
        return None if "e" in text else len(text.partition(".")[2])
    if isinstance(x, exp.Column) and ctx is not None:
        ref = ctx.table_for_column(x)
        spec = next((c for c in ref.spec.columns if c.name.lower() == x.name.lower()), None) if ref else None
        if spec is None:
            return None
        kind = spec.type.upper().split("(")[0].split()[0]
        if kind in INTEGER_TYPES:
            return 0
        if kind in ("DECIMAL", "NUMERIC", "DEC", "FIXED"):
            inside = spec.type.partition("(")[2].partition(")")[0].split(",")
            return int(inside[1]) if len(inside) > 1 else 0
        return None
    if isinstance(x, (exp.Add, exp.Sub, exp.Mul)):
        a, b = fixed_decimals(x.this, ctx), fixed_decimals(x.expression, ctx)
        if a is None or b is None:
            return None
        return a + b if isinstance(x, exp.Mul) else max(a, b)
    return None


def colocated_distinct(select: exp.Select, ctx: QueryContext) -> bool:
    """Whether every DISTINCT aggregate of `select` is a COUNT(DISTINCT ...) naming a director
    key of a partitioned table (a director's own key, or a child's key of its director). All
    rows with one key value live in one chunk (a child row in its director's chunk; a child
    with rows placed by their own position is not counted so: TableSpec.keys_colocated), so the
    distinct values of different chunks never meet: per-chunk counts summed are the count,
    and no chunk sends its distinct values. Not with a near-neighbour join (its overlap half
    sees rows of other chunks), nor WITH ROLLUP (a value in two groups of one chunk would be
    counted twice in the super-aggregate row), nor beside other DISTINCT aggregates (their
    values group the chunk rows, which would split the counts)."""
    if ctx.neighbour_join is not None:
        return False
    group = select.args.get("group")
    if group is not None and group.args.get("rollup"):
        return False
    found = False
    for node in select.find_all(exp.Distinct):
        if not isinstance(node.parent, exp.AggFunc):
            continue
        if not isinstance(node.parent, exp.Count) or not any(_is_director_key(e, ctx) for e in node.expressions):
            return False
        found = True
    return found


def _is_director_key(node: exp.Expr, ctx: QueryContext) -> bool:
    if not isinstance(node, exp.Column):
        return False
    ref = ctx.table_for_column(node)
    return (ref is not None and ref.partitioned and ref.spec.keys_colocated
            and node.name.lower() == ref.spec.director_key.lower())


def merge_source(state: MergeState, group_columns: list[exp.Column], result: exp.Expr) -> exp.Expr:
    """The merge query's FROM: the result table, or, when variances combine, the result table
    with each group's overall mean beside every row (a window over the group's columns)."""
    if not state.means:
        return result
    partition = [c.copy() for c in group_columns]
    items: list[exp.Expr] = [exp.Star()]
    for name, n, mean in state.means:
        def over(e):
            return exp.Window(this=exp.Sum(this=e), partition_by=[p.copy() for p in partition] or None)
        weighted = exp.Mul(this=n.copy(), expression=mean.copy())
        items.append(exp.alias_(exp.Div(this=over(weighted), expression=exp.func("NULLIF", over(n.copy()), exp.Literal.number(0))),
                                name, quoted=True))
    inner = exp.select(*items).from_(result)
    return exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("qs_r", quoted=True)))


def to_merge(expr: exp.Expr, cols: Columns, group_map: dict[str, exp.Column],
             keep_aliases: set[str], state: MergeState | None = None, raw: bool = False) -> exp.Expr:
    """Rewrite an expression of the user's query over the result table's columns. `raw`: the
    chunks send their rows, not partial aggregates: aggregates (and windows) stay as they are,
    over the columns of those rows."""
    def fn(node: exp.Expr) -> exp.Expr:
        text = node.sql("mysql")
        if text in group_map:
            return group_map[text].copy()
        if isinstance(node, exp.AggFunc) and not raw and not isinstance(node.parent, exp.Window):
            return merge_aggregate(node, cols, state)
        if isinstance(node, exp.Column):
            if not node.table and node.name.lower() in keep_aliases:
                return node  # an alias of the merge select list
            return cols.add(node, "p")
        return node
    return expr.copy().transform(fn)


def plan_aggregation(select: exp.Select, ctx: QueryContext, chunk: exp.Select, merge: exp.Select,
                     cols: Columns, raw: bool = False) -> list[exp.Expr]:
    """Fill the chunk query's GROUP BY and the merge query's clauses; return the merge
    select list (the user's items under their names). `raw` (ctx.on_czar): the chunks send
    the columns the query needs, row by row, and the whole query runs at merge."""
    state = MergeState(ctx, colocated_distinct=not raw and colocated_distinct(select, ctx))
    group_map: dict[str, exp.Column] = {}
    for group_key in ctx.group_keys:
        group_map[group_key.sql("mysql")] = cols.add(group_key, "g")
    merge_items = [exp.alias_(to_merge(select_item_expression(item), cols, group_map, set(), state, raw),
                              name, quoted=True)
                   for item, name in zip(select.expressions, ctx.output_names)]
    user_group = select.args.get("group")
    if group_map:
        # WITH ROLLUP is re-applied at merge: every aggregate's merge part (SUM of counts,
        # SUM/SUM, MIN, MAX) also rolls up the per-chunk groups correctly.
        merge.set("group", exp.Group(expressions=[c.copy() for c in group_map.values()],
                                     rollup=user_group.args.get("rollup") if user_group else None))
    alias_names = set(aliases(select))
    having = select.args.get("having")
    if having is not None:
        merge.set("having", exp.Having(this=to_merge(having.this, cols, group_map, alias_names, state, raw)))
    order = select.args.get("order")
    if order is not None:
        # A bare alias sorts by the select item; inside an expression MariaDB takes a name
        # that is also a table column as the column, so only pure aliases stay aliases.
        pure_aliases = {a for a in alias_names if not ctx.is_table_column(a)}
        merge.set("order", exp.Order(expressions=[
            o.copy() if is_position(o.this) or is_alias(o.this, alias_names)
            else o.__class__(**{**o.args, "this": to_merge(o.this, cols, group_map, pure_aliases, state, raw)})
            for o in order.expressions]))
    for key in ("limit", "offset"):
        if select.args.get(key) is not None:
            merge.set(key, select.args[key].copy())
    if select.args.get("distinct"):
        merge.set("distinct", exp.Distinct())
    distinct_values = [item.this.copy() for item in cols.items if item.alias.startswith("qsd")]
    # A numeric literal key would read as a select-list position in the chunk query: its
    # qsg alias names it there
    chunk_keys = [] if raw else [group_map[k.sql("mysql")].copy() if is_position(k) else k.copy()
                                 for k in ctx.group_keys] + distinct_values
    chunk.set("group", exp.Group(expressions=chunk_keys) if chunk_keys else None)
    if state.means and user_group is not None and user_group.args.get("rollup"):
        raise not_supported("STDDEV/VARIANCE with WITH ROLLUP")
    merge.set("from_", exp.From(this=merge_source(state, list(group_map.values()),
                                                  exp.to_table(RESULT_PLACEHOLDER))))
    return merge_items
