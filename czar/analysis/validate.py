"""Pass 3 (validate): refuse, by name, what cannot be evaluated chunk by chunk.

MariaDB has already accepted the statement (the czar runs it on the empty shadow tables
first), so everything here is valid SQL that Qserv cannot distribute correctly. Each error
names the construct, so the user knows what to change.

    SELECT @x := ra FROM Object        -> 1235 ... user variables
    SELECT COUNT(DISTINCT ra) ...      -> 1235 ... COUNT(DISTINCT ...)
"""

from __future__ import annotations

from sqlglot import exp

from czar.analysis.context import QueryContext, TableRef, conjuncts
from qserv.catalog import DIRECTOR
from qserv.errors import not_supported

# Aggregates we know how to split into a per-chunk part and a merge part.
SPLITTABLE = (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max)
# MariaDB aggregates that sqlglot parses as plain (anonymous) functions.
OTHER_AGGREGATES = {"JSON_ARRAYAGG", "JSON_OBJECTAGG", "BIT_AND", "BIT_OR", "BIT_XOR", "STD",
                    "STDDEV", "STDDEV_POP", "STDDEV_SAMP", "VARIANCE", "VAR_POP", "VAR_SAMP",
                    "GROUP_CONCAT", "JSON_AGG"}


def validate(select: exp.Select, ctx: QueryContext) -> exp.Select:
    for node in select.walk():
        if isinstance(node, (exp.Subquery, exp.Exists)) or (
                isinstance(node, exp.Select) and node is not select):
            raise not_supported("sub-queries", "rewrite as a join or run two queries")
        if isinstance(node, (exp.Parameter, exp.Placeholder)) or (
                isinstance(node, exp.PropertyEQ)):
            raise not_supported("user variables")
        if isinstance(node, exp.Window):
            raise not_supported("window functions (OVER ...)")
        if isinstance(node, exp.Anonymous) and node.name.upper() in OTHER_AGGREGATES:
            raise not_supported(f"the aggregate {node.name.upper()}()",
                                "supported are COUNT, SUM, AVG, MIN, MAX")
        if isinstance(node, exp.AggFunc):
            if not isinstance(node, SPLITTABLE):
                raise not_supported(f"the aggregate {node.sql('mysql').split('(')[0].upper()}()",
                                    "supported are COUNT, SUM, AVG, MIN, MAX")
            if isinstance(node.this, exp.Distinct):
                raise not_supported(f"{node.key.upper()}(DISTINCT ...)",
                                    "use SELECT DISTINCT in a separate query")
    if select.args.get("locks"):
        raise not_supported("locking reads (FOR UPDATE / LOCK IN SHARE MODE)")
    if select.args.get("into"):
        raise not_supported("SELECT ... INTO")
    for join in select.args.get("joins") or []:
        if join.args.get("kind", "").upper() == "NATURAL" or join.method.upper() == "NATURAL":
            raise not_supported("NATURAL JOIN", "use JOIN ... ON")
        if join.side and len(ctx.partitioned_tables) > 1:
            raise not_supported(f"{join.side.upper()} OUTER JOIN between partitioned tables")
    check_chunk_local_joins(select, ctx)
    return select


def director_key_of(ref: TableRef) -> str:
    """Director: its own key; child: the column that refers to its director's key."""
    return ref.spec.director_key


def check_chunk_local_joins(select: exp.Select, ctx: QueryContext) -> None:
    """Partitioned tables may only meet on the director key (director-child or child-child):
    the loader puts those rows in the same chunk, so each chunk can be joined alone."""
    refs = ctx.partitioned_tables
    if len(refs) < 2 or ctx.neighbour_join is not None:
        return  # a near-neighbour join is chunk-local through the overlap tables
    if sum(1 for r in refs if r.spec.role == DIRECTOR) > 1 and not _linked_all(select, ctx, refs):
        raise not_supported(
            "joins of a director table with itself other than on its key",
            "for a near-neighbour join write scisql_angSep(o1.ra, o1.decl, o2.ra, o2.decl) < r "
            "with r no larger than the overlap")
    if not _linked_all(select, ctx, refs):
        names = ", ".join(r.qualifier for r in refs)
        raise not_supported(
            f"this join of partitioned tables ({names})",
            "partitioned tables must be joined on the director key (e.g. o.objectId = s.objectId)")


def _linked_all(select: exp.Select, ctx: QueryContext, refs: list[TableRef]) -> bool:
    """True when equalities on director keys connect all partitioned tables."""
    parent = {id(r): id(r) for r in refs}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    def union(a: TableRef, b: TableRef):
        parent[find(id(a))] = find(id(b))

    def key_ref(col: exp.Expr) -> TableRef | None:
        if not isinstance(col, exp.Column):
            return None
        ref = ctx.table_for_column(col)
        if ref is not None and ref.partitioned and col.name.lower() == director_key_of(ref).lower():
            return ref
        return None

    conditions = [select.args.get("where")] + [j.args.get("on") for j in select.args.get("joins") or []]
    for cond in filter(None, conditions):
        for eq in conjuncts(cond):
            if not isinstance(eq, exp.EQ):
                continue
            a, b = key_ref(eq.left), key_ref(eq.right)
            if a is not None and b is not None:
                union(a, b)
    seen: list[TableRef] = []
    for source_ref in ctx.tables:  # JOIN ... USING (key)
        node = source_ref.node
        join = node.parent if isinstance(node.parent, exp.Join) else None
        if join is not None and source_ref.partitioned:
            using = [u.name.lower() for u in join.args.get("using") or []]
            for other in seen:
                if director_key_of(source_ref).lower() in using and \
                        director_key_of(other).lower() in using:
                    union(source_ref, other)
        if source_ref.partitioned:
            seen.append(source_ref)
    return len({find(id(r)) for r in refs}) == 1
