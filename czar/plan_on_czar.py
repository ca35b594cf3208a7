"""The whole query on the czar, over the rows of its tables: the plan of last resort for what
the chunks cannot answer alone (a correlated sub-query not tied to the outer row's chunk, a
derived table joined with tables). Exact by construction: the czar's MariaDB runs the user's
query as written, over tables holding the rows it reads; bounded by the result-size limit.

Every table of the query (and of its sub-queries) becomes a source (plan_phases.Phase) that
runs first through the planner into a czar table, with the conditions of WHERE that name that
table alone (a spatial restrictor: every director table of its FROM) and only the columns
the query names; a derived table is a source as it is.

    SELECT o.objectId FROM Object o WHERE o.flags = 3
      AND o.gMag > (SELECT AVG(o2.gMag) FROM Object o2 WHERE o2.extendedness = o.extendedness)
    source 1: SELECT objectId, gMag, flags, extendedness FROM Object AS o WHERE o.flags = 3
    source 2: SELECT objectId, gMag, flags, extendedness FROM Object AS o2
    on the czar: SELECT o.objectId FROM result_1 AS o WHERE o.gMag > (SELECT AVG(o2.gMag)
                 FROM result_2 AS o2 WHERE o2.extendedness = o.extendedness)
"""

from __future__ import annotations

from sqlglot import exp

from czar.analysis.context import conjuncts
from czar.analysis.resolve_tables import from_tables
from czar.analysis.scisql import _inline, _is_scisql
from czar.analysis.spatial import AREASPEC
from czar.catalog_cache import CatalogView
from czar.plan_correlated import Source, owner, resolve
from czar.plan_phases import Phase, _inner_query
from qserv.catalog import CHILD, DIRECTOR
from qserv.errors import not_supported


def table_sources(query: exp.Select, catalog: CatalogView, default_db: str | None) -> list[Phase]:
    """The sources of `query` run on the czar (changes `query`: the pushed conditions leave
    it; each source's `node` is still in it, for plan_phases.place_table)."""
    pushed: dict[int, list] = {}
    selects = list(_selects(query))
    for select in selects:
        pushed.update(_push_down(select, catalog, default_db))
    names = _named_columns(query)  # what the query on the czar still names
    sources = []
    for select in selects:
        for node in from_tables(select):
            if isinstance(node, exp.Subquery):
                sources.append(Phase("table", node, _inner_query(node.this)))
            elif isinstance(node, exp.Table):
                sources.append(_table_source(node, pushed.get(id(node), []), names, catalog, default_db))
            else:
                raise not_supported(f"this source in FROM ({node.key})")
    for node in list(query.walk()):
        if isinstance(node, exp.Anonymous) and AREASPEC.match(node.name):
            raise not_supported(f"{node.name.lower()} in a query the czar runs over the tables' rows "
                                "other than ANDed at the top of WHERE")
    for node in list(query.find_all(exp.Anonymous)):
        # scisql calls left for the czar as inline SQL (its session has no default database
        # for the stored functions)
        if _is_scisql(node) and node.parent is not None:
            node.replace(_inline(node, where_true=False, database=default_db))
    return sources


def _selects(query: exp.Expr):
    """`query` and every SELECT of its sub-queries, not inside derived tables (those are
    sources planned on their own)."""
    stack = [query]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.Select):
            yield node
        for child in node.iter_expressions():
            if isinstance(child, exp.Subquery) and isinstance(child.parent, (exp.From, exp.Join)):
                continue
            stack.append(child)


def _named_columns(query: exp.Expr) -> set[str] | None:
    """Lower-case names of every column the query names; None when it selects a `*`."""
    names = set()
    for node in query.walk():
        if isinstance(node, exp.Star) or (isinstance(node, exp.Column) and isinstance(node.this, exp.Star)):
            if not isinstance(node.parent, exp.Count):
                return None
        elif isinstance(node, exp.Column):
            names.add(node.name.lower())
        elif isinstance(node, exp.Join):
            if "NATURAL" in (node.method or "").upper() or "NATURAL" in (node.kind or "").upper():
                return None  # joined on every common column: keep them all
            names |= {u.name.lower() for u in node.args.get("using") or []}
    return names


def _table_source(node: exp.Table, conditions: list[exp.Expr], names: set[str] | None,
                  catalog: CatalogView, default_db: str | None) -> Phase:
    db = node.db or default_db or ""
    spec = catalog.table(db, node.name)
    if spec is None:
        raise not_supported(f"the table {node.sql('mysql')} here")
    columns = [c for c in spec.column_names if names is None or c.lower() in names] \
        or spec.column_names[:1]
    table = exp.table_(node.name, db=catalog.database(db).name,
                       alias=node.alias or node.name, quoted=True)
    select = exp.select(*[exp.column(c, table=node.alias or node.name, quoted=True) for c in columns]
                        ).from_(table)
    if conditions:
        select.set("where", exp.Where(this=exp.and_(*[c.copy() for c in conditions])))
    phase = Phase("table", node, select)
    phase.names = columns
    return phase


def _push_down(select: exp.Select, catalog: CatalogView, default_db: str | None) -> dict[int, list]:
    """The conditions of `select`'s WHERE that name one table of its FROM alone, by table node
    id (taken out of the WHERE). None pushed past an outer join (a condition on its nullable
    side filters after the join)."""
    where = select.args.get("where")
    nodes = [n for n in from_tables(select) if isinstance(n, exp.Table)]
    tables = resolve(nodes, catalog, default_db)  # derived tables' columns are never pushed
    if where is None or tables is None:
        _check_areaspec(where)
        return {}
    if any(j.side or (j.kind or "").upper() not in ("", "INNER", "CROSS")
           for j in select.args.get("joins") or []):
        _check_areaspec(where)
        return {}
    by_alias = {t.alias: n for t, n in zip(tables, nodes)}
    pushed: dict[int, list] = {}
    kept = []
    for term in conjuncts(where):
        targets = _targets(term, tables)
        if targets is None:
            kept.append(term)
            continue
        for t in targets:
            pushed.setdefault(id(by_alias[t.alias]), []).append(term)
    if len(kept) != len(conjuncts(where)):
        select.set("where", exp.Where(this=exp.and_(*kept, copy=False)) if kept else None)
    return pushed


def _targets(term: exp.Expr, tables: list[Source]) -> list[Source] | None:
    """The tables a WHERE term may be pushed to, None when it stays on the czar."""
    if _is_areaspec(term):
        # as czar/analysis/spatial.py restricts: the directors, else the child tables (whose
        # own source query then gets the exact test on their position columns, or 1235)
        directors = [t for t in tables if t.spec.role == DIRECTOR]
        if len(directors) > 1:  # a near-neighbour join restricts one side only
            raise not_supported(f"{_areaspec_call(term).name.lower()} with several director tables "
                                "in a query the czar runs over the tables' rows")
        return directors or [t for t in tables if t.spec.role == CHILD] or None
    if any(isinstance(n, (exp.Subquery, exp.Exists, exp.Select, exp.AggFunc, exp.Window,
                          exp.Parameter, exp.Placeholder, exp.PropertyEQ)) for n in term.walk()):
        return None
    if any(isinstance(n, exp.Anonymous) and n.name.lower() in ("rand", "uuid", "sleep")
           for n in term.walk()) or any(isinstance(n, exp.Rand) for n in term.walk()):
        return None
    found = set()
    for column in term.find_all(exp.Column):
        table = owner(column, tables)
        if not table:
            return None  # an outer query's column, or ambiguous
        found.add(table.alias)
    if len(found) != 1:
        return None
    return [t for t in tables if t.alias in found]


def _areaspec_call(term: exp.Expr) -> exp.Anonymous | None:
    if isinstance(term, exp.Anonymous) and AREASPEC.match(term.name):
        return term
    if isinstance(term, exp.EQ):
        for a, b in ((term.left, term.right), (term.right, term.left)):
            if isinstance(a, exp.Anonymous) and AREASPEC.match(a.name) and isinstance(b, exp.Literal):
                return a
    return None


def _is_areaspec(term: exp.Expr) -> bool:
    return _areaspec_call(term) is not None


def _check_areaspec(where) -> None:
    if where is not None and any(_is_areaspec(t) for t in conjuncts(where)):
        raise not_supported("spatial restrictors in a query with outer joins or derived tables that "
                            "the czar runs over the tables' rows", "restrict inside the derived table")
