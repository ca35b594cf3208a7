"""Pass 5 (director_index): director-index look-ups. A top-level restriction of WHERE on the director key
(of the director table, or the key column of a child table) names the objects, and the
director index in the czar's MariaDB knows their chunks, so only those chunks are visited:

    SELECT * FROM Object WHERE objectId = 4203            -> lookup [4203]
    SELECT * FROM Source WHERE objectId IN (13, 23)        -> lookup [13, 23] (via Object)
    SELECT ... WHERE o.objectId BETWEEN 100 AND 200 AND …  -> lookup range 100..200

The pass only records the look-ups (passes are pure functions of the AST); the engine reads
the index and narrows the chunks with `ctx.restrict_chunks`. Anything else (OR, NOT IN,
non-literal values) simply does not prune: the answer is the same, only slower.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from czar.analysis.context import QueryContext, conjuncts
from qserv.catalog import CHILD


@dataclass
class IndexLookup:
    database: str
    director_table: str
    values: list[int] | None = None          # key IN values
    between: tuple[int, int] | None = None   # key BETWEEN lo AND hi
    # the `key IN (...)` term itself (a long list is split per chunk: czar/chunk_keys.py)
    node: exp.In | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        if self.values is not None:
            shown = ", ".join(map(str, self.values[:5])) + (", ..." if len(self.values) > 5 else "")
            return f"director index {self.director_table}: key IN ({shown})"
        return f"director index {self.director_table}: key BETWEEN {self.between[0]} AND {self.between[1]}"


def _int_literal(node: exp.Expr) -> int | None:
    negative = False
    if isinstance(node, exp.Neg):
        negative, node = True, node.this
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            value = int(node.this)
        except ValueError:
            return None
        return -value if negative else value
    return None


def _key_table(column: exp.Expr, ctx: QueryContext) -> tuple[str, str] | None:
    """(database, director table) when `column` is a director key, else None."""
    if not isinstance(column, exp.Column):
        return None
    ref = ctx.table_for_column(column)
    if ref is None or not ref.partitioned or column.name.lower() != ref.spec.director_key.lower():
        return None
    if not ref.spec.keys_colocated:
        return None  # rows placed by their own position: in no index, in any chunk
    if ctx.neighbour_join is not None and ref is ctx.neighbour_join.partner:
        return None  # partners come from the overlap too: their chunks do not bound the query
    director = ref.spec.director_table if ref.spec.role == CHILD else ref.spec.name
    return ref.db, director


def director_index(select: exp.Select, ctx: QueryContext) -> exp.Select:
    for term in conjuncts(select.args.get("where")):
        lookup = None
        if isinstance(term, exp.EQ):
            for col, val in ((term.left, term.right), (term.right, term.left)):
                key, value = _key_table(col, ctx), _int_literal(val)
                if key and value is not None:
                    lookup = IndexLookup(*key, values=[value])
                    break
        elif isinstance(term, exp.In) and not term.args.get("query"):
            key = _key_table(term.this, ctx)
            values = [_int_literal(v) for v in term.expressions]
            if key and values and None not in values:
                lookup = IndexLookup(*key, values=sorted(set(values)), node=term)
        elif isinstance(term, exp.Between):
            key = _key_table(term.this, ctx)
            lo, hi = _int_literal(term.args["low"]), _int_literal(term.args["high"])
            if key and lo is not None and hi is not None:
                lookup = IndexLookup(*key, between=(lo, hi))
        if lookup is not None:
            ctx.index_lookups.append(lookup)
    return select
