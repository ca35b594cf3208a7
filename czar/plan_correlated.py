"""Correlated sub-queries: run inside each chunk query where the rows they read live in the
outer row's chunk, else (czar/plan_on_czar.py) on the czar over the tables' rows.

A director and its children share chunks by the director key, so a sub-query tied to the outer
row by that key reads only rows of the outer row's chunk: it stays in the chunk query, its
tables renamed to the chunk's (a sub-query over replicated tables only reads whole tables that
every worker holds: it stays too).

    SELECT o.objectId FROM Object o
    WHERE NOT EXISTS (SELECT 1 FROM Source s WHERE s.objectId = o.objectId AND s.filterId = 3)
    chunk: SELECT `o`.`objectId` FROM `demo`.`Object_<c>` AS `o` WHERE NOT EXISTS
           (SELECT 1 FROM `demo`.`Source_<c>` AS `s` WHERE `s`.`objectId` = `o`.`objectId` AND ...)

Tied means: the director-key equalities of the sub-query's WHERE (and of its inner joins' ON)
connect every partitioned table of the sub-query with a director key of the outer query. For
`x IN (SELECT y ...)`, x an outer director key and y an inner one, both NOT NULL, also ties
(a row elsewhere has another y, which changes neither IN nor NOT IN).

Before the analysis passes run, each such sub-query is put aside and a marker call
`qserv_correlated_<n>()` stands in its place (the passes and the planner see an opaque scalar);
once the plan is built, the marker's text in the chunk templates becomes the sub-query over the
chunk's tables, in the shadow forms over the shadow tables. A marker that ends in the merge query
(a sub-query in HAVING, or a query the czar runs whole) is not co-located: `NotColocated`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from czar.analysis.context import QueryContext, conjuncts
from czar.analysis.resolve_tables import from_tables, resolve_tables
from czar.analysis.scisql import scisql
from czar.analysis.spatial import AREASPEC
from czar.catalog_cache import CatalogView
from czar.dialect import render
from czar.plan_columns import chunk_tables
from czar.plan_phases import _walk_outside_subqueries
from qserv.catalog import CHUNK_MARKER

MARKER = "qserv_correlated_"


class NotColocated(Exception):
    """A correlated sub-query that cannot run inside the chunk query (the message says why)."""


@dataclass
class Source:
    """A table of a FROM clause, resolved against the catalog."""

    alias: str        # lower-case name columns use
    db: str
    spec: object      # qserv.catalog.TableSpec

    def has(self, column: str) -> bool:
        return column.lower() in {c.lower() for c in self.spec.column_names} or (
            self.spec.partitioned and column.lower() in ("chunkid", "subchunkid"))

    def key(self, column: str) -> bool:
        """A director key whose rows of one value are all in one chunk (not a child with rows
        placed by their own position: TableSpec.keys_colocated)."""
        return self.spec.partitioned and self.spec.keys_colocated and \
            column.lower() == (self.spec.director_key or "").lower()

    def not_null(self, column: str) -> bool:
        return any(c.name.lower() == column.lower() and "NOT NULL" in c.type.upper()
                   for c in self.spec.columns)


def sources_of(select: exp.Select, catalog: CatalogView, default_db: str | None) -> list[Source] | None:
    """The FROM tables of `select` (not of its sub-queries); None when one is not a catalog
    table (a derived table, an unknown name)."""
    nodes = from_tables(select)
    if not all(isinstance(node, exp.Table) for node in nodes):
        return None
    return resolve(nodes, catalog, default_db)


def resolve(nodes: list[exp.Table], catalog: CatalogView, default_db: str | None) -> list[Source] | None:
    """Tables resolved against the catalog; None when one is not there."""
    found = []
    for node in nodes:
        db = node.db or default_db or ""
        spec = catalog.table(db, node.name)
        database = catalog.database(db)
        if spec is None or database is None:
            return None
        found.append(Source((node.alias or node.name).lower(), database.name, spec))
    return found


def owner(column: exp.Column, tables: list[Source]) -> Source | None | bool:
    """The table of `tables` a column names: the Source, None (none of them), False (more than
    one: ambiguous)."""
    if column.table:
        return next((t for t in tables if t.alias == column.table.lower()), None)
    owners = [t for t in tables if t.has(column.name)]
    if len(owners) > 1:
        return False
    return owners[0] if owners else None


def own_columns(select: exp.Select):
    """The columns of `select` at its own level (not inside its sub-queries)."""
    for node in _walk_outside_subqueries(select):
        if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
            yield node


def outer_references(inner: exp.Select, catalog: CatalogView, default_db: str | None) -> list[exp.Column]:
    """The columns of a sub-query (at its own level) that name none of its own tables or
    select-list aliases: they refer to an enclosing query. [] when its FROM holds a derived
    table (such a sub-query is planned on its own, and refused there if it refers out)."""
    tables = sources_of(inner, catalog, default_db)
    if tables is None:
        return []
    aliases = {i.alias.lower() for i in inner.expressions if isinstance(i, exp.Alias)}
    refs = []
    for column in own_columns(inner):
        if column.table:
            if owner(column, tables) is None:
                refs.append(column)
        elif owner(column, tables) is None and column.name.lower() not in aliases:
            refs.append(column)
    return refs


def refers_out(inner: exp.Select, catalog: CatalogView, default_db: str | None) -> bool:
    """Whether a sub-query, with its own sub-queries, names a column of an enclosing query:
    `outer_references`, or a column of a sub-query inside it that none of the tables defined
    within it has (a reference two levels out). Names that may be a derived table's columns
    count as inside."""
    if outer_references(inner, catalog, default_db):
        return True
    aliases, names, known = set(), set(), True
    for select in inner.find_all(exp.Select):
        names |= {i.alias.lower() for i in select.expressions if isinstance(i, exp.Alias)}
        for source in from_tables(select):
            aliases.add(source.alias_or_name.lower())
            spec = catalog.table(source.db or default_db or "", source.name) \
                if isinstance(source, exp.Table) else None
            if spec is None:
                known = False
                continue
            names |= {c.lower() for c in spec.column_names} | {"chunkid", "subchunkid"}
    for column in inner.find_all(exp.Column):
        if isinstance(column.this, exp.Star):
            continue
        if column.table and column.table.lower() not in aliases:
            return True
        if not column.table and known and column.name.lower() not in names:
            return True
    return False


@dataclass
class Colocated:
    """A correlated sub-query set aside from the outer query for the chunk queries."""

    marker: str          # the marker call's text as rendered (QSERV_CORRELATED_0())
    node: exp.Expr       # the sub-query's form as written (an Exists, an In, a Subquery, ...)
    inner: exp.Select    # its SELECT, inside `node`
    ctx: QueryContext    # the sub-query's own tables, resolved

    def text(self, marker: str | None) -> str:
        """The form with the sub-query's tables named for one chunk (`marker` CHUNK_MARKER) or
        the shadow tables (None)."""
        node = self.node.copy()
        inner = next(n for n in node.walk() if isinstance(n, exp.Select))
        inner.replace(chunk_tables(inner, self.ctx, marker))
        return "(" + render(node) + ")"


def inner_select(node: exp.Expr) -> exp.Select:
    return next(n for n in node.walk() if isinstance(n, exp.Select))


def set_aside(select: exp.Select, phases, catalog: CatalogView, default_db: str | None) -> list[Colocated]:
    """Put every correlated sub-query of `phases` (plan_phases.Phase, whose `node` is in
    `select`) aside, a marker in its place; NotColocated (nothing changed) when one cannot run
    inside the chunk query."""
    outer = sources_of(select, catalog, default_db)
    if outer is None:
        raise NotColocated("the outer query reads a derived table")
    outer_dbs = {t.db.lower() for t in outer if t.spec.partitioned} or {t.db.lower() for t in outer}
    plans = [(phase, _check(phase, outer, outer_dbs, catalog, default_db)) for phase in phases]
    taken = []
    for n, (phase, ctx) in enumerate(plans):
        marker = exp.Anonymous(this=f"{MARKER}{n}", expressions=[])
        node = phase.node
        taken.append(Colocated(render(marker), node, phase.select, ctx))
        node.replace(marker)
    return taken


def _check(phase, outer: list[Source], outer_dbs: set[str], catalog: CatalogView,
           default_db: str | None) -> QueryContext:
    inner = phase.select
    if any(isinstance(n, (exp.Subquery, exp.Exists)) or (isinstance(n, exp.Select) and n is not inner)
           for n in inner.walk()):
        raise NotColocated("a sub-query inside the correlated sub-query")
    if any(isinstance(n, exp.Anonymous) and AREASPEC.match(n.name) for n in inner.walk()):
        raise NotColocated("a spatial restrictor inside the sub-query")
    if any(isinstance(n, (exp.Parameter, exp.Placeholder, exp.PropertyEQ)) for n in inner.walk()):
        raise NotColocated("user variables inside the sub-query")
    tables = sources_of(inner, catalog, default_db)
    if tables is None:
        raise NotColocated("a derived table inside the sub-query")
    if {t.db.lower() for t in tables} - outer_dbs:
        raise NotColocated("the sub-query reads another database")
    for join in inner.args.get("joins") or []:
        if (join.side or "") or (join.kind or "").upper() not in ("", "INNER", "CROSS"):
            raise NotColocated("an outer join inside the sub-query")
    aliases = {i.alias.lower() for i in inner.expressions if isinstance(i, exp.Alias)}
    for column in own_columns(inner):
        mine = owner(column, tables)
        if mine is None and not column.table and column.name.lower() in aliases:
            continue
        if mine is False or (mine is None and not owner(column, outer)):
            raise NotColocated(f"the column {column.sql('mysql')} of the sub-query")
    parted = [t for t in tables if t.spec.partitioned]
    if parted:
        _check_tied(phase, inner, tables, outer, parted)
    ctx = QueryContext(select=inner, default_db=default_db, catalog=catalog)
    resolve_tables(inner, ctx)
    scisql(inner, ctx)
    return ctx


class KeyGroups:
    """The tables of a query grouped by the director-key equalities of its WHERE and ON
    (a union-find over `names`; `key_of(column)` names the group of a column that is a
    director key, None for any other column)."""

    def __init__(self, names, inner: exp.Select, key_of):
        self.parent = {n: n for n in names}
        conditions = [inner.args.get("where")] + [j.args.get("on") for j in inner.args.get("joins") or []]
        for cond in filter(None, conditions):
            for eq in conjuncts(cond):
                if isinstance(eq, exp.EQ):
                    a, b = key_of(eq.left), key_of(eq.right)
                    if a is not None and b is not None:
                        self.union(a, b)

    def find(self, x):
        while self.parent[x] != x:
            x = self.parent[x]
        return x

    def union(self, a, b) -> None:
        self.parent[self.find(a)] = self.find(b)


def _check_tied(phase, inner: exp.Select, tables: list[Source], outer: list[Source],
                parted: list[Source]) -> None:
    """NotColocated unless director-key equalities tie every partitioned table of the
    sub-query to an outer director key."""
    def key_of(column) -> str | None:
        """'' for an outer director key, an inner table's alias for its key, else None."""
        if not isinstance(column, exp.Column):
            return None
        mine = owner(column, tables)
        if mine:
            return mine.alias if mine.key(column.name) else None
        if mine is None:
            theirs = owner(column, outer)
            if theirs and theirs.key(column.name):
                return ""
        return None

    groups = KeyGroups([t.alias for t in parted] + [""], inner, key_of)  # "": the outer row's chunk
    find = groups.find
    # the IN itself ties when each inner row stands alone (no aggregate, HAVING, LIMIT or
    # window: those would read rows of other chunks that the equality does not exclude)
    alone = not any(inner.args.get(k) for k in ("group", "having", "limit", "offset")) and not any(
        isinstance(n, (exp.AggFunc, exp.Window)) for n in inner.walk())
    if phase.kind == "in" and len(inner.expressions) == 1 and alone:
        x = phase.node.this
        y = inner.expressions[0].unalias() if isinstance(inner.expressions[0], exp.Alias) \
            else inner.expressions[0]
        if key_of(x) == "" and isinstance(y, exp.Column) and key_of(y):
            xt, yt = owner(x, outer), owner(y, tables)
            if xt.not_null(x.name) and yt.not_null(y.name):
                groups.union(key_of(y), "")
    loose = [t.alias for t in parted if find(t.alias) != find("")]
    if loose:
        raise NotColocated(f"the sub-query's table {loose[0]} is not tied to the outer row by the "
                           "director key")


def fill(plan, taken: list[Colocated]) -> None:
    """The sub-queries in place of their markers in a built plan (czar/plan.py's QueryPlan);
    NotColocated when a marker is in the merge query (the czar would run it)."""
    if not taken:
        return
    if any(c.marker in (plan.merge_sql or "") for c in taken):
        raise NotColocated("the sub-query is evaluated after the merge (HAVING, or a query the "
                           "czar runs over the chunks' rows)")
    for attr, marker in (("chunk_template", CHUNK_MARKER), ("direct_template", CHUNK_MARKER),
                         ("shadow_sql", None), ("empty_sql", None)):
        text = getattr(plan, attr)
        for c in taken:
            if text and c.marker in text:
                text = text.replace(c.marker, c.text(marker))
        setattr(plan, attr, text)
    plan.correlated = len(taken)
