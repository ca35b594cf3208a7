"""Pass 2 (near_neighbour): near-neighbour joins of a director table with itself.

    SELECT o1.objectId, o2.objectId FROM Object o1, Object o2
    WHERE scisql_angSep(o1.ra, o1.decl, o2.ra, o2.decl) < 0.001

Rows of `o1` are taken from one chunk; their partners `o2` from the same chunk AND from its
overlap table (`ObjectFullOverlap_<chunk>`: rows of other chunks lying within the database's
overlap of this chunk). Every pair is then found exactly once, in the chunk of its `o1` row,
as long as the radius is no larger than the overlap; a larger radius is refused. The pass
records the join (the planner builds the two halves) and adds a declination window
`o2.decl BETWEEN o1.decl - r AND o1.decl + r`, always implied by the distance test, so that
MariaDB can use an index on the declination instead of comparing every pair.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from czar.analysis.context import QueryContext, TableRef, conjuncts
from qserv.catalog import DIRECTOR
from qserv.errors import ER_NOT_SUPPORTED_YET, QservError, not_supported


@dataclass
class NeighbourJoin:
    owner: TableRef    # its rows come from the chunk itself
    partner: TableRef  # from the chunk and from the chunk's overlap
    radius: float      # degrees


def _literal_number(node: exp.Expr) -> float | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        return float(node.this)
    return None


def _angsep_bound(term: exp.Expr):
    """(angSep call, radius) for `scisql_angSep(...) < r` / `<=` (either side), else None."""
    if isinstance(term, (exp.LT, exp.LTE)):
        call, bound = term.left, term.right
    elif isinstance(term, (exp.GT, exp.GTE)):
        call, bound = term.right, term.left
    else:
        return None
    if isinstance(call, exp.Anonymous) and call.name.lower() == "scisql_angsep":
        radius = _literal_number(bound)
        if radius is not None:
            return call, radius
    return None


def _position_of(col: exp.Expr, axis: str, ctx: QueryContext) -> TableRef | None:
    """The director whose partitioning position column (`axis` = ra|dec) `col` is."""
    if not isinstance(col, exp.Column):
        return None
    ref = ctx.table_for_column(col)
    if ref is None or ref.spec.role != DIRECTOR:
        return None
    return ref if col.name.lower() == getattr(ref.spec, axis).lower() else None


def near_neighbour(select: exp.Select, ctx: QueryContext) -> exp.Select:
    directors = [t for t in ctx.partitioned_tables if t.spec.role == DIRECTOR]
    if len(directors) < 2:
        return select
    conditions = [select.args.get("where")] + [j.args.get("on") for j in select.args.get("joins") or []]
    for term in (t for cond in conditions for t in conjuncts(cond)):
        found = _angsep_bound(term)
        if found is None:
            continue
        call, radius = found
        args = call.expressions
        if len(args) != 4:
            continue
        a = _position_of(args[0], "ra", ctx), _position_of(args[1], "dec", ctx)
        b = _position_of(args[2], "ra", ctx), _position_of(args[3], "dec", ctx)
        if a[0] is None or a[0] is not a[1] or b[0] is None or b[0] is not b[1] or a[0] is b[0]:
            continue
        if len(ctx.partitioned_tables) != 2:
            raise not_supported("near-neighbour joins with other partitioned tables",
                                "join exactly two instances of the director table")
        owner, partner = a[0], b[0]
        if _key_restricted(select, partner, ctx) and not _key_restricted(select, owner, ctx):
            # The pairs are symmetric: let the table whose objects are named own the chunk,
            # so that the director index can prune (a partner may lie in another chunk).
            owner, partner = partner, owner
        if owner.spec.name.lower() != partner.spec.name.lower():
            raise not_supported("near-neighbour joins of two different director tables")
        overlap = _overlap(ctx.catalog.database(owner.db), owner.spec)
        if radius > overlap:
            raise QservError(ER_NOT_SUPPORTED_YET,
                             f"near-neighbour radius {radius} deg is larger than the overlap of "
                             f"{owner.db}.{owner.spec.name} ({overlap} deg): pairs farther apart "
                             "than the overlap cannot be found chunk by chunk")
        ctx.neighbour_join = NeighbourJoin(owner, partner, radius)
        _add_dec_window(select, owner, partner, radius)
        return select
    return select


def _key_restricted(select: exp.Select, ref: TableRef, ctx: QueryContext) -> bool:
    """Whether WHERE restricts `ref`'s director key at the top level (=, IN, BETWEEN)."""
    for term in conjuncts(select.args.get("where")):
        if isinstance(term, exp.EQ):
            cols = [term.left, term.right]
        elif isinstance(term, (exp.In, exp.Between)):
            cols = [term.this]
        else:
            continue
        for col in cols:
            if isinstance(col, exp.Column) and ctx.table_for_column(col) is ref \
                    and col.name.lower() == ref.spec.director_key.lower():
                return True
    return False


def _overlap(db, table) -> float:
    """The overlap radius (degrees) of a director table: its own setting, else its database's."""
    own = getattr(table, "overlap", None)
    return db.overlap_deg if own is None else float(own)


def _add_dec_window(select: exp.Select, owner: TableRef, partner: TableRef, radius: float) -> None:
    own = exp.column(owner.spec.dec, table=owner.qualifier, quoted=True)
    other = exp.column(partner.spec.dec, table=partner.qualifier, quoted=True)
    r = exp.Literal.number(repr(radius))
    window = exp.Between(this=other, low=exp.Sub(this=own, expression=r),
                         high=exp.Add(this=own.copy(), expression=r.copy()))
    where = select.args.get("where")
    select.set("where", exp.Where(this=exp.And(this=where.this, expression=window) if where else window))
