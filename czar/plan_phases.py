"""Two-phase plans: a sub-query that does not refer to the outer query runs first, through
the planner like any query; its rows then stand in the outer query as literals, and the outer
query is planned (so an `IN` list on a director key becomes a director-index look-up).

    SELECT * FROM Object WHERE objectId IN (SELECT objectId FROM Source WHERE psfFlux > 900)
    phase 1: SELECT objectId FROM Source WHERE psfFlux > 900           -> 13, 29, 4203
    phase 2: SELECT * FROM Object WHERE objectId IN (13, 29, 4203)     (director index)

`x IN (sub)` / `x NOT IN (sub)` become literal lists (NULLs kept, so NOT IN answers as MariaDB
does); an empty result makes `IN` false. `EXISTS (sub)` becomes 1 or 0 (the sub-query stops
at its first row). A scalar `(sub)` becomes its value (NULL without rows, error 1242 with more
than one). `x > ANY (sub)` and the other quantified comparisons: czar/plan_quantified.py.
Correlated sub-queries stay in the outer query (czar/plan_correlated.py).
"""

from __future__ import annotations

import datetime
import decimal
from dataclasses import dataclass

from sqlglot import exp

from czar import plan_quantified as quantified
from czar.catalog_cache import CatalogView
from qserv.errors import QservError, not_supported

ER_SUBQUERY_NO_1_ROW = 1242
MAX_VALUES = 20_000          # rows of an IN sub-query that may stand in the outer query
MAX_LITERAL_BYTES = 2 << 20  # and the size of their text


@dataclass
class Phase:
    """One sub-query to run before the outer query: `node` is where its result goes."""

    kind: str                 # "in", "exists" or "scalar"
    node: exp.Expr            # the In / Exists / Subquery node in the outer query
    select: exp.Query         # the sub-query (a SELECT; a source may be a set operation)
    plan: object = None       # its QueryPlan (czar/plan.py), set by the engine
    names: list[str] | None = None  # its columns' names (None: its select list's)

    @property
    def row_limit(self) -> int:
        return {"in": MAX_VALUES, "exists": 1, "scalar": 2, "any": 1, "all": 1}[self.kind]


def find_phases(select: exp.Select) -> list[Phase]:
    """The sub-queries of `select` outside FROM, outermost first (their own sub-queries are
    found when they are planned); 1235 for the forms not handled."""
    phases = []
    quantified.as_in(select)
    for node in _walk_outside_subqueries(select):
        if quantified.quantifier(node) is not None:
            kind = "all" if isinstance(node.expression, exp.All) else "any"
            phases.append(Phase(kind, node, _inner_select(node.expression.this)))
        elif isinstance(node, (exp.Any, exp.All)) and isinstance(node.this, (exp.Subquery, exp.Select)):
            if quantified.quantifier(node.parent) is None:
                raise not_supported("ANY / ALL / SOME (sub-query) other than compared with a value")
        elif isinstance(node, exp.In) and node.args.get("query") is not None:
            inner = _inner_select(node.args["query"])
            phases.append(Phase("in", node, inner))
        elif isinstance(node, exp.Exists):
            phases.append(Phase("exists", node, _inner_select(node.this)))
        elif isinstance(node, exp.Subquery) and not isinstance(node.parent, (exp.In, exp.From, exp.Join,
                                                                              exp.Any, exp.All)):
            phases.append(Phase("scalar", node, _inner_select(node)))
    return phases


def _walk_outside_subqueries(select: exp.Select):
    """Nodes of `select` itself: not inside a sub-query (yielding the sub-query's own node)."""
    stack = [select]
    while stack:
        node = stack.pop()
        yield node
        if node is not select and isinstance(node, (exp.Subquery, exp.Exists, exp.Select)):
            continue
        if isinstance(node, exp.In) and node.args.get("query") is not None:
            stack.append(node.this)
            continue
        for child in reversed(list(node.iter_expressions())):   # in order, left to right
            if isinstance(child, exp.Join) and child.args.get("on") is not None:
                stack.append(child.args["on"])  # its condition (the source is FROM's)
            if isinstance(child, (exp.From, exp.Join)):
                continue  # FROM sources: derived tables are czar_sources'
            stack.append(child)


def _inner_select(node: exp.Expr) -> exp.Select:
    inner = node.this if isinstance(node, exp.Subquery) else node
    if not isinstance(inner, exp.Select):
        raise not_supported("UNION / INTERSECT / EXCEPT inside a sub-query")
    return inner


def check_uncorrelated(inner: exp.Select, catalog: CatalogView, default_db: str | None) -> None:
    """1235 when the sub-query names a column of the outer query (a correlated sub-query):
    every column must belong to one of its own FROM tables."""
    from czar.analysis.resolve_tables import from_tables
    names, columns = set(), set()
    for source in from_tables(inner):
        if not isinstance(source, exp.Table):
            return  # a derived table inside: refused when the sub-query is planned
        names |= {source.name.lower(), (source.alias or source.name).lower()}
        spec = catalog.table(source.db or default_db or "", source.name)
        if spec is not None:
            columns |= {c.lower() for c in spec.column_names} | {"chunkid", "subchunkid"}
    aliases = {i.alias.lower() for i in inner.expressions if isinstance(i, exp.Alias)}
    for column in _walk_outside_subqueries(inner):
        if not isinstance(column, exp.Column) or isinstance(column.this, exp.Star):
            continue
        if column.table and column.table.lower() not in names:
            raise not_supported(f"correlated sub-queries (the sub-query names {column.sql('mysql')})",
                                "join the tables instead")
        if not column.table and column.name.lower() not in columns | aliases:
            raise not_supported(f"correlated sub-queries (the sub-query names {column.name})",
                                "join the tables instead")


def prepare(phase: Phase) -> exp.Query:
    """The sub-query as it runs: EXISTS needs one row only, IN each value once."""
    inner = phase.select.copy()
    if phase.kind == "exists":
        inner.set("limit", exp.Limit(expression=exp.Literal.number(1)))
    elif phase.kind == "in":
        inner.set("distinct", exp.Distinct())
    elif phase.kind in ("any", "all"):
        return quantified.summary(inner)
    return inner


def default_names(select: exp.Query) -> list[str]:
    """Column names for a sub-query's result (only its values matter): the alias, the
    column's name, else the expression's text."""
    names = []
    for item in select.expressions:
        if isinstance(item, exp.Alias):
            names.append(item.alias)
        elif isinstance(item, exp.Column):
            names.append(item.name)
        else:
            names.append(item.sql("mysql"))
    return names


def substitute(phase: Phase, rows: list[tuple], types: list[int] | None = None) -> None:
    """Put a sub-query's rows in its place in the outer query (`types`: the MySQL type codes
    of its columns, which a scalar sub-query's value keeps)."""
    if phase.kind == "exists":
        phase.node.replace(exp.Literal.number(1 if rows else 0))
        return
    if phase.kind in ("any", "all"):
        quantified.substitute(phase.node, rows[0], lambda v, t: typed(literal(v), t), types)
        return
    if phase.kind == "scalar":
        if len(rows) > 1:
            raise QservError(ER_SUBQUERY_NO_1_ROW, "Subquery returns more than 1 row")
        value = literal(rows[0][0] if rows else None)
        phase.node.replace(exp.Paren(this=typed(value, types[0] if types else None)))
        return
    if len(rows) > MAX_VALUES:
        raise not_supported(f"IN sub-queries with more than {MAX_VALUES} rows",
                            "narrow the sub-query, or join the tables")
    if not rows:
        phase.node.replace(exp.Literal.number(0))  # x IN (no rows) is false, even for NULL x
        return
    values = [literal(row[0]) for row in rows]
    if sum(_text_bytes(v) for v in values) > MAX_LITERAL_BYTES:
        raise not_supported("IN sub-queries whose values exceed 2 MB of SQL text")
    phase.node.set("query", None)
    phase.node.set("expressions", values)


def _text_bytes(value: exp.Expr) -> int:
    """The length of a literal's SQL text (a number's without rendering it: 10,000 renders
    were most of the czar's time for an IN sub-query of 10,000 ids)."""
    if isinstance(value, exp.Literal) and not value.is_string:
        return len(value.this)
    return len(value.sql("mysql"))


# MySQL type codes -> the CAST that gives a literal that type where a bare literal would not
# (a BIGINT COUNT(*) of 5 reads as INT; a NULL has a type of its own)
CASTS = {246: "DECIMAL(65, 30)", 5: "DOUBLE", 4: "FLOAT", 10: "DATE", 12: "DATETIME",
         7: "DATETIME", 11: "TIME", 253: "CHAR", 254: "CHAR"}


def typed(value: exp.Expr, type_code: int | None) -> exp.Expr:
    """A scalar sub-query's value with the sub-query's column type: MariaDB types the column
    of `(SELECT COUNT(*) ...)` BIGINT, of a sub-query without rows by its column."""
    if type_code in (1, 2, 3, 9, 8):
        # IF(1, v, <an INT or a BIGINT>) is v with that type (a CAST AS SIGNED of a short
        # value is an INT in MariaDB)
        exemplar = "9223372036854775807" if type_code == 8 else "0"
        return exp.If(this=exp.Literal.number(1), true=value, false=exp.Literal.number(exemplar))
    if type_code in (5, 246, 253, 254) and not isinstance(value, exp.Null):
        return value                          # the literal has that type already
    if type_code in CASTS:
        return exp.Cast(this=value, to=exp.DataType.build(CASTS[type_code], dialect="mysql"))
    return value


def literal(value) -> exp.Expr:
    """A Python value read from MariaDB as the SQL literal of the same value and kind."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Literal.number(int(value))
    if isinstance(value, int):
        return exp.Literal.number(str(value))
    if isinstance(value, float):  # a DOUBLE literal (with an exponent), not a DECIMAL one
        text = repr(abs(value))
        number = exp.Literal(this=text if "e" in text else text + "E0", is_string=False)
        return exp.Neg(this=number) if value < 0 else number
    if isinstance(value, decimal.Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, (bytes, bytearray)):
        return exp.HexString(this=bytes(value).hex())
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return exp.Literal.string(value.isoformat(sep=" ") if isinstance(value, datetime.datetime)
                                  else value.isoformat())
    if isinstance(value, datetime.timedelta):
        seconds = int(value.total_seconds())
        sign = "-" if seconds < 0 else ""
        seconds = abs(seconds)
        return exp.Literal.string(f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}")
    return exp.Literal.string(str(value))


# ---- queries over sub-query results on the czar: derived tables, UNION / INTERSECT / EXCEPT
# Each source (a derived table of FROM, a side of a set operation) runs first through the
# planner into a table of the czar's MariaDB; the query over them then runs there.
#
#     SELECT n, COUNT(*) FROM (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) AS t
#     GROUP BY n
#     phase 1: the derived table, distributed   -> qservResult.result_<id>
#     phase 2: SELECT n, COUNT(*) FROM qservResult.result_<id> AS t GROUP BY n   (on the czar)

SET_OPERATIONS = (exp.Union, exp.Intersect, exp.Except)


def czar_sources(query: exp.Query) -> list[Phase] | None:
    """The sources a query over sub-query results reads (None: not such a query, or one that
    also names tables, which only the workers hold)."""
    from czar.analysis.resolve_tables import from_tables
    if isinstance(query, SET_OPERATIONS):
        # a side without FROM (SELECT 1, 2) runs on the czar as it is
        return [Phase("table", side, side) for side in (query.left, query.right)
                if not (isinstance(side, exp.Select) and side.args.get("from_") is None)]
    if not isinstance(query, exp.Select):
        return None
    sources = from_tables(query)
    derived = [s for s in sources if isinstance(s, exp.Subquery)]
    if not derived:
        return None
    inside = {id(n) for d in derived for n in d.walk()}
    if len(derived) != len(sources) or any(id(node) not in inside for node in query.find_all(exp.Table)):
        return None  # tables named beside them: czar/plan_on_czar.py
    return [Phase("table", d, _inner_query(d.this)) for d in derived]


def check_materializable(query: exp.Query) -> None:
    """1235 for a source whose rows a czar table cannot hold as they are: MariaDB's CREATE
    TABLE ... AS SELECT ... WITH ROLLUP keeps a grouped NOT NULL column NOT NULL, so the total
    rows' NULL keys would become 0 (or '')."""
    group = query.args.get("group") if isinstance(query, exp.Select) else None
    if group is not None and any(group.args.get(k) for k in ("rollup", "cube", "grouping_sets")):
        raise not_supported("WITH ROLLUP in a derived table or a side of UNION / INTERSECT / EXCEPT",
                            "run the ROLLUP query on its own")


def has_derived_tables(query: exp.Query) -> bool:
    from czar.analysis.resolve_tables import from_tables
    return isinstance(query, exp.Select) and any(isinstance(s, exp.Subquery) for s in from_tables(query))


def _inner_query(node: exp.Expr) -> exp.Query:
    if not isinstance(node, exp.Query):
        raise not_supported(f"this source in FROM ({node.key})")
    return node


def place_table(phase: Phase, db: str, table: str) -> None:
    """Put the czar table `db`.`table` holding a source's rows in the source's place."""
    name = exp.table_(table, db=db, quoted=True)
    if isinstance(phase.node, exp.Table):  # a table read on the czar (czar/plan_on_czar.py)
        alias = phase.node.alias or phase.node.name
        name.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
        phase.node.replace(name)
    elif isinstance(phase.node, exp.Subquery):
        alias = phase.node.args.get("alias")
        name.set("alias", alias.copy() if alias is not None else None)
        phase.node.replace(name)
    else:  # a side of a set operation
        phase.node.replace(exp.select(exp.Star()).from_(name))


def query_names(query: exp.Query) -> list[str]:
    """Column names of a source: those of its (leftmost) SELECT."""
    while isinstance(query, SET_OPERATIONS):
        query = query.left
    return default_names(query)
