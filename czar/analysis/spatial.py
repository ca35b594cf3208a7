"""Pass 4 (spatial): spatial restrictors and region pruning (DESIGN §3, §5).

A `qserv_areaspec_box/circle/ellipse/poly(...)` call ANDed at the top level of WHERE (any
letter case) is removed; the region it names restricts the chunks to visit, and every
director table in FROM (but a near-neighbour join's partner) gets the exact per-row test on its
own position columns:

    SELECT objectId FROM Object WHERE qserv_areaspec_circle(10, 5, 0.5) AND flags = 1
    -> SELECT objectId FROM Object WHERE scisql_s2PtInCircle(Object.ra, Object.decl, 10.0, 5.0, 0.5) = 1
       AND flags = 1                       chunks: those the circle touches

A top-level `scisql_s2PtInBox/Circle/Ellipse/CPoly(ra, dec, <literals>) = 1` on a director's
position columns prunes the same way (the query is left as it is).

Child tables (Source) may declare position columns of their own (TableSpec.ra/dec). Their rows
live in their director's chunk, not always the chunk of their own position, but never farther
than the table's `position_margin` from it (measured by the partitioner). So a region test on a
child's own columns prunes with the region widened by that margin, and a restrictor on a child
table alone (no director in FROM) gets the exact test on the child's columns:

    SELECT sourceId FROM Source WHERE qserv_areaspec_circle(10, 5, 0.5)
    -> SELECT sourceId FROM Source WHERE scisql_s2PtInCircle(Source.ra, Source.decl, 10.0, 5.0, 0.5) = 1
                                       chunks: those within 0.5 deg + margin of (10, 5)

A child without position columns, or whose margin is unknown, keeps error 1235 for restrictors.

Arguments must be numeric literals; a wrong count, a non-literal, radius <= 0, |dec| > 90,
... is error 1064 (ER_PARSE_ERROR, as the original Qserv reports a bad restrictor) with a
message that names the function and the problem. A restrictor anywhere else (under OR, in the
select list) is 1235.
"""

from __future__ import annotations

import re

from sqlglot import exp
from sqlglot.tokens import TokenType
from sqlglot.dialects.mysql import MySQL

from czar.analysis.context import QueryContext, conjuncts
from qserv.catalog import CHILD, DIRECTOR
from qserv.errors import ER_PARSE_ERROR, QservError, not_supported
from qserv.geometry import Chunker
from qserv.regions import RegionError, make_region

AREASPEC = re.compile(r"^qserv_areaspec_(box|circle|ellipse|poly)$", re.IGNORECASE)
POINT_IN = {"scisql_s2ptinbox": "box", "scisql_s2ptincircle": "circle",
            "scisql_s2ptinellipse": "ellipse", "scisql_s2ptincpoly": "poly"}


def literal_value(node: exp.Expr) -> float | None:
    """The number a numeric literal (possibly negated or parenthesized) stands for."""
    sign = 1.0
    while isinstance(node, (exp.Neg, exp.Paren)):
        if isinstance(node, exp.Neg):
            sign = -sign
        node = node.this
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return sign * float(node.this)
        except ValueError:
            return None
    return None


def literal_args(call: exp.Expr, name: str, skip: int = 0) -> list[float]:
    values = []
    for i, arg in enumerate(call.expressions[skip:], skip + 1):
        v = literal_value(arg)
        if v is None:
            raise QservError(ER_PARSE_ERROR, f"{name}: argument {i} must be a numeric literal, "
                                             f"got {arg.sql('mysql')}")
        values.append(v)
    return values


def _is_areaspec(node: exp.Expr) -> bool:
    return isinstance(node, exp.Anonymous) and bool(AREASPEC.match(node.name))


def _describe(name: str, args: list[float]) -> str:
    return f"{name.lower()}({', '.join(f'{a:g}' for a in args)})"


def _one_literal(node: exp.Expr) -> bool:
    return literal_value(node) == 1.0


def point_in_call(term: exp.Expr) -> exp.Anonymous | None:
    """The scisql point-in-region call of a term `f(...) = 1` (or `1 = f(...)`)."""
    if not isinstance(term, exp.EQ):
        return None
    for call, other in ((term.this, term.expression), (term.expression, term.this)):
        if isinstance(call, exp.Anonymous) and call.name.lower() in POINT_IN and _one_literal(other):
            return call
    return None


def chunker_of(ctx: QueryContext) -> Chunker:
    spec = ctx.catalog.database(ctx.database)
    return Chunker(spec.chunk_order, spec.subchunk_bits)


def _areaspec_equals_one(term: exp.Expr) -> exp.Expr | None:
    """`qserv_areaspec_*(...) = 1` and `1 = qserv_areaspec_*(...)` mean the restrictor itself
    (the original accepts both; case01 query 1006)."""
    if isinstance(term, exp.EQ):
        for call, other in ((term.left, term.right), (term.right, term.left)):
            if _is_areaspec(call) and isinstance(other, exp.Literal) and not other.is_string \
                    and other.this == "1":
                return call
    return None


def spatial(select: exp.Select, ctx: QueryContext) -> exp.Select:
    where = select.args.get("where")
    top = [_areaspec_equals_one(t) or t for t in conjuncts(where)]
    top_ids = {id(t) for t in top}
    for node in select.walk():
        if _is_areaspec(node) and id(node) not in top_ids:
            raise not_supported(f"{node.name.lower()} other than ANDed at the top level of WHERE")
    restrictors = [t for t in top if _is_areaspec(t)]
    if restrictors:
        restricted = _restricted_tables(ctx, restrictors[0].name.lower())
        margin = max(_margin(r) for r in restricted)
        terms: list[exp.Expr] = []
        added: set[int] = set()
        for term in top:
            if not _is_areaspec(term):
                terms.append(term)
                continue
            kind = AREASPEC.match(term.name).group(1).lower()
            name = f"qserv_areaspec_{kind}"
            args = literal_args(term, name)
            try:
                region = make_region(kind, args, name=name)
                chunks = region.chunks(chunker_of(ctx), margin)
            except RegionError as e:
                raise QservError(ER_PARSE_ERROR, str(e)) from None
            ctx.restrict_chunks(chunks, _reason(_describe(name, args), restricted, margin))
            for d in restricted:
                terms.append(region.predicate(exp.column(d.spec.ra, d.qualifier),
                                              exp.column(d.spec.dec, d.qualifier)))
                added.add(id(terms[-1]))
        select.set("where", exp.Where(this=exp.and_(*terms)) if terms else None)
        top = [t for t in terms if id(t) not in added]
    for term in top:
        call = point_in_call(term)
        if call is None or len(call.expressions) < 2:
            continue
        ra, dec = call.expressions[0], call.expressions[1]
        if not (isinstance(ra, exp.Column) and isinstance(dec, exp.Column)):
            continue
        ref = ctx.table_for_column(ra)
        if ref is None or ref is not ctx.table_for_column(dec) or not _prunes_on(ref) \
                or ra.name.lower() != ref.spec.ra.lower() or dec.name.lower() != ref.spec.dec.lower():
            continue
        if ctx.neighbour_join is not None and ref is ctx.neighbour_join.partner:
            continue  # near-neighbour partners also come from other chunks' overlap
        args = [literal_value(a) for a in call.expressions[2:]]
        if any(a is None for a in args):
            continue
        try:
            region = make_region(POINT_IN[call.name.lower()], args, name=call.name)
            chunks = region.chunks(chunker_of(ctx), _margin(ref))
        except RegionError:
            continue  # scisql answers NULL (no row) for such arguments: nothing to prune on
        ctx.restrict_chunks(chunks, _reason(_describe(call.name, args), [ref], _margin(ref)))
    return select


def _prunes_on(ref) -> bool:
    """Whether a region test on this table's own position columns can prune chunks: a
    director's rows are in the chunk of their position; a child's within its known
    `position_margin` of it."""
    spec = ref.spec
    return spec.role == DIRECTOR or (spec.role == CHILD and spec.has_position
                                     and spec.position_margin is not None)


def _margin(ref) -> float:
    """How far (degrees) a row of this table may lie from the chunk it is in."""
    if ref.spec.role == CHILD and ref.spec.position_margin is not None:
        return ref.spec.position_margin
    return 0.0


def _reason(region: str, tables, margin: float) -> str:
    """What EXPLAIN says pruned the chunks: the region, and for a child table the margin the
    region was widened by."""
    if margin <= 0 and all(t.spec.role == DIRECTOR for t in tables):
        return f"region {region}"
    on = ", ".join(f"{t.spec.name}.{t.spec.ra}/{t.spec.dec}" for t in tables)
    return f"region {region} on {on} widened by {margin:.6g} deg (child position margin)"


def _restricted_tables(ctx: QueryContext, name: str) -> list:
    """The tables a restrictor applies its exact test to: the director tables in FROM (but a
    near-neighbour join's partner: its rows pair with the restricted ones from anywhere within
    the radius, also outside the region, as the original restricts the first table); without a
    director, the child tables, each of which must have its own position columns and a known
    position margin (else 1235: a guessed margin could lose rows)."""
    partner = ctx.neighbour_join.partner if ctx.neighbour_join is not None else None
    candidates = [r for r in ctx.tables if r is not partner]
    directors = [r for r in candidates if r.spec.role == DIRECTOR]
    if directors:
        return directors
    children = [r for r in candidates if r.spec.role == CHILD]
    if not children:
        raise not_supported(f"{name} without a director table in FROM",
                            "spatial restrictors filter on a director table's position columns")
    for r in children:
        if not r.spec.has_position:
            raise not_supported(f"{name} on child table {r.spec.name} without position columns",
                                f"declare its own ra/dec columns in the catalog spec, or join "
                                f"{r.spec.director_table} and restrict that")
        if r.spec.position_margin is None:
            raise not_supported(f"{name} on child table {r.spec.name}: its position margin is "
                                "unknown", "ingest it from a partitioner output (which measures "
                                "it) or declare position_margin in the catalog spec")
    return children


# ---- text for the czar's shadow MariaDB ------------------------------------------------------
# The shadow validates a query as typed; qserv_areaspec_* are not functions there and
# scisql_s2PtInCPoly takes a variable number of arguments, which no stored function can. For
# the shadow only, each such call is replaced by `1` (their arguments are checked by the
# passes); select items that contained one keep the name MariaDB would give them.
SHADOW_ONLY = re.compile(r"^(qserv_areaspec_\w+|scisql_s2PtInCPoly)$", re.IGNORECASE)
NAMES_SHADOW_ONLY = re.compile(r"qserv_areaspec_|scisql_s2PtInCPoly", re.IGNORECASE)
SCISQL_NAME = re.compile(r"scisql_\w", re.IGNORECASE)   # match: a name; search: in a text


def shadow_text(sql: str, replace=None, qualify: str | None = None) -> tuple[str, dict[int, str]]:
    """(text for the shadow, {select-item index: its text as typed} for the items changed).
    `replace(call_text)`: what a call becomes (default `1`). `qualify`: a database holding
    the scisql functions, for a session without a current database: the other scisql calls
    are written `db`.scisql_... there (they are stored functions of each catalog database,
    so MariaDB finds them only in a current database; Qserv's are global UDFs)."""
    if not NAMES_SHADOW_ONLY.search(sql) and not (qualify and SCISQL_NAME.search(sql)):
        return sql, {}   # nothing to replace: no tokenizing (a 10,000-id IN list took ~1 s)
    try:
        tokens = MySQL().tokenize(sql)
    except Exception:
        return sql, {}
    spans: list[tuple[int, int, str | None]] = []   # (start, end, new text; None: replace())
    i = 0
    while i < len(tokens) - 1:
        t = tokens[i]
        called = t.token_type == TokenType.VAR and tokens[i + 1].token_type == TokenType.L_PAREN
        if called and SHADOW_ONLY.match(t.text):
            depth, j = 0, i + 1
            while j < len(tokens):
                if tokens[j].token_type == TokenType.L_PAREN:
                    depth += 1
                elif tokens[j].token_type == TokenType.R_PAREN:
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j < len(tokens):
                spans.append((t.start, tokens[j].end + 1, None))
                i = j
        elif called and qualify and SCISQL_NAME.match(t.text) and \
                (i == 0 or tokens[i - 1].token_type != TokenType.DOT):
            quoted = qualify.replace("`", "``")
            spans.append((t.start, t.end + 1, f"`{quoted}`.{t.text}"))
        i += 1
    if not spans:
        return sql, {}
    names = _changed_item_names(sql, tokens, [(a, b) for a, b, _ in spans])
    out, last = [], 0
    for start, end, text in spans:
        out.append(sql[last:start])
        out.append(text if text is not None else "1" if replace is None else replace(sql[start:end]))
        last = end
    out.append(sql[last:])
    return "".join(out), names


def _changed_item_names(sql, tokens, spans) -> dict[int, str]:
    """The text as typed of each top-level select item that contains a replaced span: the name
    MariaDB gives the column when the item has no alias (the caller checks that)."""
    items, depth, start = [], 0, None
    for k, t in enumerate(tokens):
        if start is None:
            if t.token_type == TokenType.SELECT and k == 0:
                start = -1
            continue
        if start == -1:
            if t.token_type in (TokenType.DISTINCT, TokenType.ALL) or t.text.upper() in (
                    "DISTINCTROW", "HIGH_PRIORITY", "STRAIGHT_JOIN", "SQL_CALC_FOUND_ROWS",
                    "SQL_NO_CACHE", "SQL_CACHE", "SQL_SMALL_RESULT", "SQL_BIG_RESULT"):
                continue
            start = t.start
        if t.token_type in (TokenType.L_PAREN,):
            depth += 1
        elif t.token_type == TokenType.R_PAREN:
            depth -= 1
        elif depth == 0 and t.token_type in (TokenType.COMMA, TokenType.FROM):
            items.append((start, t.start))
            if t.token_type == TokenType.FROM:
                break
            start = tokens[k + 1].start if k + 1 < len(tokens) else len(sql)
    else:
        if start is not None and start != -1:  # no FROM: the last item runs to the end
            items.append((start, len(sql.rstrip().rstrip(";"))))
    names = {}
    for i, (a, b) in enumerate(items):
        if any(a <= s < b for s, _ in spans):
            names[i] = sql[a:b].strip()
    return names
