"""Pass 8 (aggregates): find out whether the query aggregates, and resolve its GROUP BY keys.

GROUP BY may name a select position or an alias; MariaDB looks a bare name up among the
FROM tables' columns first, then among the select aliases. Keys are resolved here to plain
expressions so the planner can compute them on the workers.

    SELECT flags AS f, COUNT(*) FROM Object GROUP BY 1     -> group_keys = [flags]
"""

from __future__ import annotations

from sqlglot import exp

from czar.analysis.context import QueryContext


def select_item_expression(item: exp.Expr) -> exp.Expr:
    return item.this if isinstance(item, exp.Alias) else item


def aliases(select: exp.Select) -> dict[str, exp.Expr]:
    return {item.alias.lower(): item.this for item in select.expressions if isinstance(item, exp.Alias)}


def resolve_group_key(key: exp.Expr, select: exp.Select, ctx: QueryContext) -> exp.Expr:
    if isinstance(key, exp.Literal) and not key.is_string:
        return select_item_expression(select.expressions[int(key.this) - 1]).copy()
    if isinstance(key, exp.Column) and not key.table and not ctx.is_table_column(key.name):
        found = aliases(select).get(key.name.lower())
        if found is not None:
            return found.copy()
    return key


def aggregates(select: exp.Select, ctx: QueryContext) -> exp.Select:
    group = select.args.get("group")
    keys = [resolve_group_key(k, select, ctx) for k in (group.expressions if group else [])]
    ctx.group_keys = keys
    order = select.args.get("order")
    has_agg = any(_aggregates_in(item) for item in select.expressions) or bool(
        select.args.get("having")) or any(_aggregates_in(o) for o in (order.expressions if order else []))
    ctx.is_aggregate = bool(keys) or has_agg
    return select


def _aggregates_in(node: exp.Expr) -> bool:
    """Whether `node` aggregates rows: an aggregate function not applied as a window
    (`SUM(x) OVER (...)` is not one), or an aggregate sqlglot does not know by name."""
    for found in node.find_all(exp.AggFunc, exp.Anonymous):
        if isinstance(found, exp.Anonymous):
            if found.name.upper() in ("JSON_ARRAYAGG", "JSON_OBJECTAGG"):
                return True
        elif not isinstance(found.parent, exp.Window):
            return True
    return False
