"""Derived tables joined with tables that run inside each chunk query: a derived table whose rows
each live in one chunk behaves as a child table of its director, so the outer query is planned as
if it named one. (An aggregate over one such derived table alone: czar/plan_derived.py.)

    SELECT o.objectId, s.n FROM Object o
    JOIN (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) AS s ON s.objectId = o.objectId
    chunk: SELECT ... FROM `demo`.`Object_<c>` AS `o` JOIN (SELECT `objectId`, COUNT(*) AS `n`
           FROM `demo`.`Source_<c>` AS `Source` GROUP BY `objectId`) AS `s` ON ...

Each row lives in one chunk when the derived table selects a director key of its partitioned
tables (NOT NULL), those tables are tied to each other by director-key equalities, and, when it
aggregates, it groups by such a key (a group's rows are then all in one chunk); no LIMIT, no
window function, no sub-query inside. Over replicated tables only, it is whole on every worker:
a replicated table.

Before the analysis passes, each such derived table becomes a table `qserv_derived_<n>` of a
catalog view that holds it (a child table of the key's director, its columns those of the
derived table); once the plan is built, that table's name in the templates becomes the derived
table's query over the chunk's tables (over the shadow tables in the shadow forms). Any other
derived table: NotColocated, and the query runs on the czar (czar/plan_on_czar.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlglot import exp

from czar.analysis.context import QueryContext
from czar.analysis.resolve_tables import from_tables, resolve_tables
from czar.analysis.scisql import scisql
from czar.analysis.spatial import AREASPEC
from czar.catalog_cache import CatalogView
from czar.dialect import render
from czar.plan_columns import chunk_tables
from czar.plan_correlated import KeyGroups, NotColocated, Source, owner, sources_of
from czar.plan_phases import default_names
from qserv.catalog import CHILD, CHUNK_MARKER, DIRECTOR, REPLICATED, ColumnSpec, TableSpec

PREFIX = "qserv_derived_"


@dataclass
class Derived:
    """A derived table set aside from the outer query for the chunk queries."""

    name: str            # the stand-in table's name
    db: str
    inner: exp.Select
    ctx: QueryContext    # its own tables, resolved

    def text(self, marker: str | None) -> str:
        return "(" + render(chunk_tables(self.inner, self.ctx, marker)) + ")"


def set_aside_derived(select: exp.Select, catalog: CatalogView,
                      default_db: str | None) -> tuple[CatalogView, list[Derived]]:
    """Every derived table of `select`'s FROM replaced by a stand-in table; the catalog view
    that holds the stand-ins. NotColocated (before anything changed) when one cannot run
    inside the chunk query."""
    derived = [s for s in from_tables(select) if isinstance(s, exp.Subquery)]
    checked = [(d, *_check(d, catalog, default_db)) for d in derived]
    databases = dict(catalog.databases)
    taken = []
    for n, (node, spec, db, ctx) in enumerate(checked):
        name = f"{PREFIX}{n}"
        spec.name = name
        key = db.lower()
        databases[key] = replace(databases[key], tables=list(databases[key].tables) + [spec])
        alias = node.alias_or_name
        node.replace(exp.table_(name, db=db, alias=alias))
        taken.append(Derived(name, db, node.this, ctx))
    view = CatalogView(version=catalog.version, databases=databases, published=catalog.published,
                       placement=catalog.placement)
    return view, taken


def _check(node: exp.Subquery, catalog: CatalogView, default_db: str | None):
    inner = node.this
    if not isinstance(inner, exp.Select):
        raise NotColocated("a set operation")
    if any(isinstance(n, (exp.Subquery, exp.Exists)) or (isinstance(n, exp.Select) and n is not inner)
           for n in inner.walk()):
        raise NotColocated("a sub-query inside")
    if any(isinstance(n, exp.Anonymous) and AREASPEC.match(n.name) for n in inner.walk()):
        raise NotColocated("a spatial restrictor inside")
    if any(isinstance(n, (exp.Window, exp.Parameter, exp.Placeholder, exp.PropertyEQ))
           for n in inner.walk()):
        raise NotColocated("a window function or a user variable inside")
    if inner.args.get("limit") or inner.args.get("offset"):
        raise NotColocated("LIMIT")
    group = inner.args.get("group")
    if group is not None and any(group.args.get(k) for k in ("rollup", "cube", "grouping_sets", "totals")):
        raise NotColocated("WITH ROLLUP (its super-aggregate rows span chunks)")
    tables = sources_of(inner, catalog, default_db)
    if tables is None:
        raise NotColocated("a derived table inside")
    dbs = {t.db.lower() for t in tables}
    if len(dbs) != 1:
        raise NotColocated("tables of several databases")
    for join in inner.args.get("joins") or []:
        if (join.side or "") or (join.kind or "").upper() not in ("", "INNER", "CROSS"):
            raise NotColocated("an outer join inside")
    parted = [t for t in tables if t.spec.partitioned]
    names = _names(inner, tables)
    if not parted:
        spec = TableSpec(name="derived", role=REPLICATED, columns=[ColumnSpec(n, "TEXT NULL") for n in names])
    else:
        _check_tied(inner, tables, parted)
        key_name, key_table = _selected_key(inner, tables, names)
        grouped = bool(inner.args.get("group")) or any(
            isinstance(n, exp.AggFunc) for item in inner.expressions for n in item.walk())
        if grouped and not any(isinstance(g, exp.Column) and (t := owner(g, tables)) and t.key(g.name)
                               for g in (inner.args.get("group") or exp.Group()).expressions):
            raise NotColocated("it aggregates without grouping by the director key")
        director = key_table.spec.name if key_table.spec.role == DIRECTOR else key_table.spec.director_table
        spec = TableSpec(name="derived", role=CHILD, director_key=key_name, director_table=director,
                         columns=[ColumnSpec(n, "BIGINT NOT NULL" if n == key_name else "TEXT NULL")
                                  for n in names])
    ctx = QueryContext(select=inner, default_db=default_db, catalog=catalog)
    resolve_tables(inner, ctx)
    scisql(inner, ctx)
    return spec, tables[0].db, ctx


def _names(inner: exp.Select, tables: list[Source]) -> list[str]:
    """The derived table's column names (a `*` stands for its tables' columns)."""
    names = []
    for item, name in zip(inner.expressions, default_names(inner)):
        if isinstance(item, exp.Star):
            names += [c for t in tables for c in t.spec.column_names]
        elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
            names += [c for t in tables if t.alias == item.table.lower() for c in t.spec.column_names]
        else:
            names.append(name)
    return names


def _selected_key(inner: exp.Select, tables: list[Source], names: list[str]) -> tuple[str, Source]:
    """The name of the derived table's column that is a director key (NOT NULL), and its table."""
    for item in inner.expressions:
        column = item.this if isinstance(item, exp.Alias) else item
        if isinstance(column, exp.Column) and not isinstance(column.this, exp.Star):
            table = owner(column, tables)
            if table and table.key(column.name) and table.not_null(column.name):
                return (item.alias if isinstance(item, exp.Alias) else column.name), table
        elif isinstance(column, exp.Star) or (isinstance(column, exp.Column) and isinstance(column.this, exp.Star)):
            for table in tables:
                key = table.spec.director_key
                if table.spec.partitioned and key in names and table.not_null(key) and \
                        (isinstance(column, exp.Star) or table.alias == column.table.lower()):
                    return key, table
    raise NotColocated("it does not select a director key (NOT NULL)")


def _check_tied(inner: exp.Select, tables: list[Source], parted: list[Source]) -> None:
    def key_of(column):
        if isinstance(column, exp.Column):
            table = owner(column, tables)
            if table and table.key(column.name):
                return table.alias
        return None

    find = KeyGroups([t.alias for t in parted], inner, key_of).find
    if len({find(t.alias) for t in parted}) > 1:
        raise NotColocated("its partitioned tables are not joined on the director key")


def fill_derived(plan, taken: list[Derived]) -> None:
    """The derived tables' queries in place of their stand-ins in a built plan."""
    for attr, marker in (("chunk_template", CHUNK_MARKER), ("direct_template", CHUNK_MARKER),
                         ("shadow_sql", None), ("empty_sql", None)):
        text = getattr(plan, attr)
        if not text:
            continue
        for d in taken:
            if marker is not None:
                text = text.replace(f"`{d.db}`.`{d.name}_{marker}`", d.text(marker))
            text = text.replace(f"`{d.db}`.`{d.name}`", d.text(marker))
        setattr(plan, attr, text)
    if any(d.name in (plan.merge_sql or "") for d in taken):
        raise NotColocated("the merge names it")
