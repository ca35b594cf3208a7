"""Pass 3 (validate): refuse, by name, what cannot be evaluated chunk by chunk.

MariaDB has already accepted the statement (the czar runs it on the empty shadow tables
first), so everything here is valid SQL that Qserv cannot distribute correctly. Each error
names the construct, so the user knows what to change.

    SELECT @x := ra FROM Object        -> 1235 ... user variables
    SELECT MEDIAN(ra) FROM Object      -> 1235 ... the aggregate MEDIAN()

It also decides what must run on the czar over the rows of all chunks (ctx.on_czar):

    SELECT flags, GROUP_CONCAT(name ORDER BY name) FROM Object GROUP BY flags
    -> on_czar = "GROUP_CONCAT()"
"""

from __future__ import annotations

from sqlglot import exp

from czar.analysis.context import QueryContext, TableRef, conjuncts
from qserv.catalog import DIRECTOR
from qserv.errors import not_supported

# Aggregates we know how to split into a per-chunk part and a merge part (czar/plan_aggregates.py),
# also over DISTINCT values.
SPLITTABLE = (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.VariancePop, exp.Variance,
              exp.StddevPop, exp.StddevSamp, exp.BitwiseAndAgg, exp.BitwiseOrAgg, exp.BitwiseXorAgg)
# Aggregates that need all the rows of a group at once: the chunks send the rows, the czar
# aggregates them (the result-size limit applies to those rows).
ON_CZAR = (exp.GroupConcat,)
# MariaDB aggregates that sqlglot parses as plain (anonymous) functions: also on the czar.
OTHER_AGGREGATES = {"JSON_ARRAYAGG", "JSON_OBJECTAGG"}


def validate(select: exp.Select, ctx: QueryContext) -> exp.Select:
    grouped = bool(select.args.get("group")) or any(
        isinstance(n, exp.AggFunc) and not isinstance(n.parent, exp.Window) for n in select.walk())
    if grouped and select.find(exp.Window):
        ctx.on_czar = "window functions over groups"
    for node in select.walk():
        if isinstance(node, (exp.Subquery, exp.Exists)) or (
                isinstance(node, exp.Select) and node is not select):
            # those outside FROM run first (czar/plan_phases.py): any left here is not handled
            raise not_supported("sub-queries", "rewrite as a join or run two queries")
        if isinstance(node, (exp.Parameter, exp.Placeholder)) or (
                isinstance(node, exp.PropertyEQ)):
            raise not_supported("user variables")
        if isinstance(node, exp.Window):
            _check_window(node, select, ctx)
        elif isinstance(node, exp.Anonymous) and node.name.upper() in OTHER_AGGREGATES:
            ctx.on_czar = ctx.on_czar or f"{node.name.upper()}()"
        elif isinstance(node, exp.AggFunc) and not isinstance(node.parent, exp.Window):
            _check_aggregate(node, ctx)
    if select.args.get("windows"):
        raise not_supported("named windows (WINDOW w AS ...)", "write the window in OVER (...)")
    if ctx.on_czar and ctx.neighbour_join is not None:
        raise not_supported(f"{ctx.on_czar} in a near-neighbour join")
    if select.args.get("locks"):
        raise not_supported("locking reads (FOR UPDATE / LOCK IN SHARE MODE)")
    if select.args.get("into"):
        raise not_supported("SELECT ... INTO")
    for join in select.args.get("joins") or []:
        if join.args.get("kind", "").upper() == "NATURAL" or join.method.upper() == "NATURAL":
            raise not_supported("NATURAL JOIN", "use JOIN ... ON")
    check_outer_joins(select, ctx)
    check_chunk_local_joins(select, ctx)
    return select


def check_outer_joins(select: exp.Select, ctx: QueryContext) -> None:
    """An outer join runs per chunk when every row of its preserved side lives in one chunk
    and its partners in the same chunk:

        Object o LEFT JOIN Source s ON o.objectId = s.objectId     per chunk (co-located)
        Object o LEFT JOIN Filter f ON ...                          per chunk (f is whole)
        Filter f LEFT JOIN Object o ON ...                          1235: every chunk would
                                                                    repeat f's unmatched rows
    """
    joined = {id(j.this) for j in select.args.get("joins") or []}
    seen = [t for t in ctx.tables if id(t.node) not in joined]   # the FROM list
    for join in select.args.get("joins") or []:
        ref = next((t for t in ctx.tables if t.node is join.this), None)
        side = (join.side or "").upper()
        if ref is None or side not in ("LEFT", "RIGHT"):
            seen += [ref] if ref is not None else []
            continue
        left_parts = [t for t in seen if t.partitioned]
        preserved_whole = not left_parts if side == "LEFT" else not ref.partitioned
        nullable_parted = ref.partitioned if side == "LEFT" else bool(left_parts)
        if nullable_parted and preserved_whole and (left_parts or ref.partitioned):
            raise not_supported(f"{side} OUTER JOIN with a replicated table on the preserved side "
                                "and a partitioned table on the other",
                                "put the partitioned table on the preserved side")
        if ref.partitioned and left_parts and not _joined_on_key(join, ref, left_parts, ctx):
            raise not_supported(f"{side} OUTER JOIN between partitioned tables other than on the "
                                "director key", "join on the director key (o.objectId = s.objectId)")
        seen.append(ref)


def _key_ref(col: exp.Expr, ctx: QueryContext) -> TableRef | None:
    """The partitioned table whose director key column `col` is, else None."""
    if not isinstance(col, exp.Column):
        return None
    ref = ctx.table_for_column(col)
    if ref is not None and ref.partitioned and col.name.lower() == director_key_of(ref).lower():
        return ref
    return None


def _joined_on_key(join: exp.Join, ref: TableRef, others: list[TableRef], ctx: QueryContext) -> bool:
    """Whether the join's own condition equates `ref`'s director key with one of `others`'."""
    using = [u.name.lower() for u in join.args.get("using") or []]
    if director_key_of(ref).lower() in using and any(director_key_of(o).lower() in using for o in others):
        return True
    for eq in conjuncts(join.args.get("on")):
        if isinstance(eq, exp.EQ):
            a, b = _key_ref(eq.left, ctx), _key_ref(eq.right, ctx)
            if (a is ref and b in others) or (b is ref and a in others):
                return True
    return False


def _check_aggregate(node: exp.AggFunc, ctx: QueryContext) -> None:
    name = node.sql("mysql").split("(")[0].upper()
    if isinstance(node, ON_CZAR):
        ctx.on_czar = ctx.on_czar or f"{name}()"
    elif not isinstance(node, SPLITTABLE):
        raise not_supported(f"the aggregate {name}()",
                            "supported are COUNT, SUM, AVG, MIN, MAX, STDDEV/VARIANCE and their "
                            "_POP/_SAMP forms, BIT_AND/OR/XOR, GROUP_CONCAT, JSON_ARRAYAGG")


def _check_window(node: exp.Window, select: exp.Select, ctx: QueryContext) -> None:
    """A window whose PARTITION BY holds a director key sees all its rows in one chunk (a
    child lives in its director's chunk): it runs per chunk. Any other runs on the czar over
    the rows of all chunks."""
    if node.args.get("over") is None or isinstance(node.this, exp.Window):
        return
    keys = [p for p in node.args.get("partition_by") or [] if isinstance(p, exp.Column)]
    per_chunk = ctx.neighbour_join is None and any(
        (ref := ctx.table_for_column(k)) is not None and ref.partitioned
        and k.name.lower() == director_key_of(ref).lower() for k in keys)
    if not per_chunk:
        ctx.on_czar = ctx.on_czar or "window functions not partitioned by the director key"


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

    conditions = [select.args.get("where")] + [j.args.get("on") for j in select.args.get("joins") or []]
    for cond in filter(None, conditions):
        for eq in conjuncts(cond):
            if not isinstance(eq, exp.EQ):
                continue
            a, b = _key_ref(eq.left, ctx), _key_ref(eq.right, ctx)
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
