"""Comparisons with ANY / SOME / ALL (sub-query), with MariaDB's NULL semantics.

`= ANY` is `IN` and `<> ALL` is `NOT IN`, NULLs and empty results alike: they become those
(czar/plan_phases.py runs them). The others need only four numbers of the sub-query's values,
which its phase computes on the czar over the sub-query's rows:

    x > ANY (SELECT v ...)
    phase: SELECT MIN(v), MAX(v), COUNT(*), COUNT(v) FROM (SELECT v ...) AS qs_t
    then:  no rows: FALSE (ALL: TRUE), whatever x
           else x > MIN(v), OR NULL when a v is NULL (ALL: x > MAX(v), AND NULL)

A comparison with one value is TRUE, FALSE or NULL; ANY is their OR, ALL their AND, and both
are decided by the extreme value and whether a NULL is among them. `= ALL` is `x = MIN AND
x = MAX`, `<> ANY` is `x <> MIN OR x <> MAX`.
"""

from __future__ import annotations

from sqlglot import exp

from qserv.errors import not_supported

COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
VALUE = "qs_v"


def quantifier(node: exp.Expr) -> exp.Any | exp.All | None:
    """The ANY / ALL (sub-query) operand of a comparison, else None."""
    if isinstance(node, COMPARISONS) and isinstance(node.expression, (exp.Any, exp.All)) and \
            isinstance(node.expression.this, (exp.Subquery, exp.Select)):
        return node.expression
    return None


def as_in(select: exp.Expr) -> None:
    """`x = ANY (sub)` -> `x IN (sub)`, `x <> ALL (sub)` -> `NOT x IN (sub)`, in place."""
    for node in list(select.walk()):
        q = quantifier(node)
        if q is None:
            continue
        inner = q.this if isinstance(q.this, exp.Subquery) else exp.Subquery(this=q.this)
        if isinstance(node, exp.EQ) and isinstance(q, exp.Any):
            node.replace(exp.Paren(this=exp.In(this=node.this, query=inner)))
        elif isinstance(node, exp.NEQ) and isinstance(q, exp.All):
            node.replace(exp.Paren(this=exp.Not(this=exp.In(this=node.this, query=inner))))


def inner_of(node: exp.Expr) -> exp.Select:
    q = quantifier(node)
    return q.this.this if isinstance(q.this, exp.Subquery) else q.this


def summary(query: exp.Query) -> exp.Select:
    """The query of the four numbers over the sub-query's rows."""
    if not isinstance(query, exp.Select):
        raise not_supported("a set operation (UNION, INTERSECT, EXCEPT) under ANY / SOME / ALL")
    inner = query.copy()
    item = inner.expressions[0]
    if isinstance(item, exp.Alias):
        name = item.alias
    else:
        name = VALUE
        inner.expressions[0].replace(exp.alias_(item.copy(), VALUE, quoted=True))
    value = exp.column(name, table="qs_t", quoted=True)
    return exp.select(exp.Min(this=value), exp.Max(this=value.copy()),
                      exp.Count(this=exp.Star()), exp.Count(this=value.copy())).from_(
        exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("qs_t"))))


def substitute(node: exp.Expr, row: tuple, literal, types: list[int] | None) -> None:
    """The comparison `node` in place, from the summary's row (`literal`: value -> SQL literal
    of the sub-query's type, plan_phases' literal + typed)."""
    q = quantifier(node)
    every = isinstance(q, exp.All)
    low, high, count, values = row
    if not count:
        node.replace(exp.Literal.number(1 if every else 0))
        return
    x = node.this
    lo, hi = literal(low, types[0] if types else None), literal(high, types[1] if types else None)
    if isinstance(node, (exp.EQ, exp.NEQ)):  # = ALL, <> ANY: both ends
        kind = type(node)
        test = exp.And if isinstance(node, exp.EQ) else exp.Or
        result: exp.Expr = test(this=kind(this=x.copy(), expression=lo),
                                expression=kind(this=x.copy(), expression=hi))
    else:
        upward = isinstance(node, (exp.GT, exp.GTE))
        # x > ANY: above the lowest; x > ALL: above the highest (and the reverse for <)
        bound = (hi if every else lo) if upward else (lo if every else hi)
        result = type(node)(this=x.copy(), expression=bound)
    if values < count:  # a NULL among the values: unknown where no value decides
        result = (exp.And if every else exp.Or)(this=exp.Paren(this=result), expression=exp.Null())
    node.replace(exp.Paren(this=result))
