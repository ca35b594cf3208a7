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
from czar.plan_columns import Columns, is_alias, is_position


def merge_aggregate(agg: exp.AggFunc, cols: Columns) -> exp.Expr:
    """The merge expression of one aggregate; its per-chunk parts join the chunk select list.
    COUNT: a SUM of counts (BIGINT again, 0 over no rows); AVG: SUM over COUNT."""
    if isinstance(agg, exp.Count):
        part = cols.add(agg, "a")
        return exp.Cast(this=exp.func("COALESCE", exp.Sum(this=part), exp.Literal.number(0)),
                        to=exp.DataType.build("SIGNED", dialect="mysql"))
    if isinstance(agg, (exp.Sum, exp.Min, exp.Max)):
        return agg.__class__(this=cols.add(agg, "a"))
    if isinstance(agg, exp.Avg):
        total = cols.add(exp.Sum(this=agg.this.copy()), "a")
        count = cols.add(exp.Count(this=agg.this.copy()), "a")
        return exp.Div(this=exp.Sum(this=total), expression=exp.Sum(this=count))
    raise AssertionError(f"validate() lets through only splittable aggregates, got {agg}")


def to_merge(expr: exp.Expr, cols: Columns, group_map: dict[str, exp.Column],
             keep_aliases: set[str]) -> exp.Expr:
    """Rewrite an expression of the user's query over the result table's columns."""
    def fn(node: exp.Expr) -> exp.Expr:
        text = node.sql("mysql")
        if text in group_map:
            return group_map[text].copy()
        if isinstance(node, exp.AggFunc):
            return merge_aggregate(node, cols)
        if isinstance(node, exp.Column):
            if not node.table and node.name.lower() in keep_aliases:
                return node  # an alias of the merge select list
            return cols.add(node, "p")
        return node
    return expr.copy().transform(fn)


def plan_aggregation(select: exp.Select, ctx: QueryContext, chunk: exp.Select, merge: exp.Select,
                     cols: Columns) -> list[exp.Expr]:
    """Fill the chunk query's GROUP BY and the merge query's clauses; return the merge
    select list (the user's items under their names)."""
    group_map: dict[str, exp.Column] = {}
    for group_key in ctx.group_keys:
        group_map[group_key.sql("mysql")] = cols.add(group_key, "g")
    merge_items = [exp.alias_(to_merge(select_item_expression(item), cols, group_map, set()),
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
        merge.set("having", exp.Having(this=to_merge(having.this, cols, group_map, alias_names)))
    order = select.args.get("order")
    if order is not None:
        # A bare alias sorts by the select item; inside an expression MariaDB takes a name
        # that is also a table column as the column, so only pure aliases stay aliases.
        pure_aliases = {a for a in alias_names if not ctx.is_table_column(a)}
        merge.set("order", exp.Order(expressions=[
            o.copy() if is_position(o.this) or is_alias(o.this, alias_names)
            else o.__class__(**{**o.args, "this": to_merge(o.this, cols, group_map, pure_aliases)})
            for o in order.expressions]))
    for key in ("limit", "offset"):
        if select.args.get(key) is not None:
            merge.set(key, select.args[key].copy())
    if select.args.get("distinct"):
        merge.set("distinct", exp.Distinct())
    chunk.set("group", exp.Group(expressions=[k.copy() for k in ctx.group_keys]) if ctx.group_keys else None)
    return merge_items
