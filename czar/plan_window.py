"""The physical planner, queries without aggregation: the select list passes through, ORDER BY,
LIMIT/OFFSET and DISTINCT are re-applied at merge and pushed into the chunk query where that
cannot change the answer; and the row window of a query whose chunk rows stream straight on.

    SELECT objectId, ra FROM Object ORDER BY ra DESC LIMIT 5 OFFSET 10
    chunk:  SELECT objectId AS qsc0, ra AS qsc1 FROM ... ORDER BY ra DESC LIMIT 15
    merge:  SELECT qsc0 AS objectId, qsc1 AS ra FROM {result} ORDER BY qsc1 DESC LIMIT 5 OFFSET 10

    SELECT objectId FROM Object LIMIT 3, 5     (streamed: no merge)
    -> row window (3, 5); every chunk runs the query with LIMIT 8, the czar keeps rows 4..8
"""

from __future__ import annotations

from sqlglot import exp

from czar.analysis.aggregates import aliases, select_item_expression
from czar.analysis.context import QueryContext
from czar.plan_columns import Columns, is_alias, is_position


def plan_rows(select: exp.Select, ctx: QueryContext, chunk: exp.Select, merge: exp.Select,
              cols: Columns) -> list[exp.Expr]:
    """Fill the chunk and merge queries' ORDER BY / LIMIT / DISTINCT; return the merge select
    list (the user's items under their names; a repeated item is computed once per chunk)."""
    item_exprs = [select_item_expression(i) for i in select.expressions]
    by_sql: dict[str, exp.Column] = {}
    merge_items = []
    for e, name in zip(item_exprs, ctx.output_names):
        text = e.sql("mysql")
        if text not in by_sql:
            by_sql[text] = cols.add(e, "c")
        column = by_sql[text]
        merge_items.append(exp.alias_(column.copy(), name, quoted=True))
    limit, offset = select.args.get("limit"), select.args.get("offset")
    if select.args.get("order") is not None:
        merge_order, chunk_order = _orders(select, item_exprs, by_sql, cols)
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
    return merge_items


def _orders(select: exp.Select, item_exprs: list[exp.Expr], by_sql: dict[str, exp.Column],
            cols: Columns) -> tuple[list[exp.Expr], list[exp.Expr]]:
    """(merge ORDER BY, chunk ORDER BY): a key that is not a select item travels as a hidden
    qso column."""
    alias_names = set(aliases(select))
    alias_to_expr = aliases(select)
    merge_order, chunk_order = [], []
    for o in select.args["order"].expressions:
        key = o.this
        if is_position(key):
            chunk_expr = item_exprs[int(key.this) - 1]
        elif is_alias(key, alias_names):
            chunk_expr = alias_to_expr[key.name.lower()]
        else:
            chunk_expr = key
        merge_key = by_sql.get(chunk_expr.sql("mysql")) or cols.add(chunk_expr, "o")
        merge_order.append(o.__class__(**{**o.args, "this": merge_key.copy()}))
        chunk_order.append(o.__class__(**{**o.args, "this": chunk_expr.copy()}))
    return merge_order, chunk_order


def row_window(select: exp.Select):
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


def per_chunk_limit(select: exp.Select, window: tuple[int, int | None]) -> exp.Select:
    """The user's query as each chunk must run it under a row window: no OFFSET (it applies to
    the union), at most offset + count rows."""
    skip, count = window
    select = select.copy()
    select.set("offset", None)
    select.set("limit", None if count is None else exp.Limit(expression=exp.Literal.number(skip + count)))
    return select
