"""What every part of the physical planner shares: the chunk query's select list (named qs*)
and the renaming of the user's tables to the tables of one chunk.

    Columns().add(parse("gMag + 1"), "c")  -> `qsc0`; the chunk query selects gMag + 1 AS qsc0
    chunk_tables(SELECT ra FROM Object, ctx, "__QSERV_CHUNK__")
        -> SELECT ra FROM `demo`.`Object___QSERV_CHUNK__` AS `Object`
"""

from __future__ import annotations

from sqlglot import exp

from czar.analysis.context import QueryContext, TableRef
from czar.analysis.resolve_tables import from_tables

RESULT_PLACEHOLDER = "__QSERV_RESULT__"   # the merge query's name for the result table


class Columns:
    """The chunk query's select list, de-duplicated by SQL text. The prefix says what a column
    is for: g (group key), a (aggregate part), p (plain value under an aggregate), c (a select
    item), o (a hidden sort key)."""

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


def chunk_tables(select: exp.Select, ctx: QueryContext, marker: str | None,
                 overlap_for: TableRef | None = None) -> exp.Select:
    """Qualify every table with its database; partitioned ones get their chunk name (the
    `overlap_for` table ref gets its overlap table's name instead). `marker` None: the
    czar's shadow tables (same names as the user's)."""
    select = select.copy()
    by_id = {}
    for ref in ctx.tables:
        by_id[(ref.node.name, ref.node.alias, ref.node.db)] = ref
    for table in from_tables(select):
        assert isinstance(table, exp.Table)   # resolve_tables refused any other source
        ref = by_id[(table.name, table.alias, table.db)]
        if not table.alias:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name, quoted=True)))
        name = table.name
        if ref is overlap_for and marker is not None:
            name = f"{ref.spec.name}FullOverlap_{marker}"  # TableSpec.overlap_table, for a marker
        elif ref.partitioned and marker is not None:
            name = f"{table.name}_{marker}"
        table.set("this", exp.to_identifier(name, quoted=True))
        table.set("db", exp.to_identifier(ref.db, quoted=True))
    return select


def is_position(node: exp.Expr) -> bool:
    """`ORDER BY 2`: a select-list position."""
    return isinstance(node, exp.Literal) and not node.is_string


def is_alias(node: exp.Expr, alias_names: set[str]) -> bool:
    """A bare name that is one of the select list's aliases."""
    return isinstance(node, exp.Column) and not node.table and node.name.lower() in alias_names
