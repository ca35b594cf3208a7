"""Pass 6 (scisql): scisql function calls become inline SQL (qserv/scisql.py has the formulas).

Workers are plain MariaDB. The scisql functions exist there as stored functions, but a stored
function call costs MariaDB far more than the same expression inline (benchmarks/bench_scisql:
4-11x for angSep, 28-390x for the point-in-region tests), so chunk queries carry the formulas:

    SELECT scisql_angSep(ra, decl, 10, 5) FROM Object
    -> SELECT (IF(ra IS NULL OR ... , NULL, DEGREES(2 * ASIN(SQRT(...))))) FROM Object

A top-level `scisql_s2PtIn*(...) = 1` of WHERE whose region arguments are valid literals
becomes the bare test (NULL and 0 both reject a row there). scisql_s2PtInCPoly needs literal
vertices (its edge planes are computed here); a wrong vertex count is error 1064.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from czar.analysis.context import QueryContext
from czar.analysis.context import conjuncts
from czar.analysis.spatial import POINT_IN, literal_value, point_in_call, shadow_text
from czar.dialect import render
from qserv import scisql as defs
from qserv.errors import ER_PARSE_ERROR, QservError, not_supported
from qserv.regions import MAX_POLY_VERTICES, RegionError, make_region

ER_SP_WRONG_NO_OF_ARGS = 1318

NAMES = {n.lower(): n for n in defs.FUNCTIONS}
CPOLY = "scisql_s2ptincpoly"


def _sql(node: exp.Expr) -> str:
    return "(" + render(node) + ")"


def _parse(text: str) -> exp.Expr:
    return exp.Paren(this=sqlglot.parse_one(text, read="mysql"))


def _cpoly_vertices(call: exp.Anonymous) -> list[tuple[float, float]]:
    args = call.expressions[2:]
    if len(args) < 6 or len(args) % 2 or len(args) > 2 * MAX_POLY_VERTICES:
        raise QservError(ER_PARSE_ERROR, f"scisql_s2PtInCPoly takes a position and 3 to "
                                         f"{MAX_POLY_VERTICES} vertices (ra, dec pairs), got "
                                         f"{len(call.expressions)} arguments")
    values = [literal_value(a) for a in args]
    if any(v is None for v in values):
        raise not_supported("scisql_s2PtInCPoly with vertices that are not numeric literals")
    return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]


def _valid_region(call: exp.Anonymous) -> bool:
    values = [literal_value(a) for a in call.expressions[2:]]
    if any(v is None for v in values):
        return False
    try:
        make_region(POINT_IN[call.name.lower()], values, name=call.name)
    except RegionError:
        return False
    return True


def _inline(call: exp.Anonymous, where_true: bool, database: str | None = None) -> exp.Expr:
    name = call.name.lower()
    if name == CPOLY:
        vertices = _cpoly_vertices(call)
        if len(call.expressions) < 2:
            raise QservError(ER_PARSE_ERROR, "scisql_s2PtInCPoly needs a position")
        ra, dec = (_sql(a) for a in call.expressions[:2])
        try:
            return _parse(defs.cpoly_inline(ra, dec, vertices, where_true=where_true))
        except RegionError as e:
            raise QservError(ER_PARSE_ERROR, str(e)) from None
    canonical = NAMES[name]
    params = defs.FUNCTIONS[canonical][0]
    if len(call.expressions) != len(params):
        # MariaDB's own error for a stored function called with the wrong count (it finds it
        # only when a row calls the function, so the shadows' empty tables cannot tell)
        raise QservError(ER_SP_WRONG_NO_OF_ARGS, f"Incorrect number of arguments for FUNCTION "
                                                 f"{database}.{call.name}; expected {len(params)}, "
                                                 f"got {len(call.expressions)}")
    return _parse(defs.inline(canonical, [_sql(a) for a in call.expressions], where_true=where_true))


def no_from_text(sql: str, qualify: str | None = None) -> tuple[str, dict[int, str]]:
    """A SELECT without FROM for the czar's MariaDB: scisql_s2PtInCPoly (variadic, so no stored
    function) becomes its inline test; (text, {select-item index: its text as typed}) so that
    the columns keep MariaDB's names for the client's text.

        SELECT scisql_s2PtInCPoly(1.3, 3.2, 0, 0, 5, 0, 5, 5, 0, 5)
        -> SELECT CASE WHEN (1.3) IS NULL ... END     column named as typed
    """
    def replace(call_text: str) -> str:
        try:
            call = sqlglot.parse_one(call_text, read="mysql")
        except sqlglot.errors.ParseError:
            return call_text
        if isinstance(call, exp.Anonymous) and call.name.lower() == CPOLY:
            return _sql(_inline(call, where_true=False))
        return call_text  # a restrictor: MariaDB's own error (1305) for it

    return shadow_text(sql, replace, qualify)


def _is_scisql(node: exp.Expr) -> bool:
    return isinstance(node, exp.Anonymous) and (node.name.lower() in NAMES or node.name.lower() == CPOLY)


def scisql(select: exp.Select, ctx: QueryContext) -> exp.Select:
    where = select.args.get("where")
    if where is not None:
        terms, changed = [], False
        for term in conjuncts(where):
            call = point_in_call(term)
            if call is not None and not any(_is_scisql(n) for n in call.expressions) and \
                    (call.name.lower() == CPOLY or _valid_region(call)):
                terms.append(_inline(call, where_true=True, database=ctx.default_db))
                changed = True
            else:
                terms.append(term)
        if changed:
            where.set("this", exp.and_(*terms))

    def fn(node):
        return _inline(node, where_true=False, database=ctx.default_db) if _is_scisql(node) else node

    for key in ("expressions", "where", "group", "having", "order", "joins"):
        value = select.args.get(key)
        if value is None or not any(_is_scisql(n) for v in (value if isinstance(value, list) else [value])
                                    for n in v.walk()):
            continue  # nothing to inline: no copy (a long IN list made copying the czar's main cost)
        if isinstance(value, list):
            select.set(key, [v.transform(fn) for v in value])
        else:
            select.set(key, value.transform(fn))
    return select
