"""Pass 7 (expand_stars): replace `*` and `t.*` by the tables' own columns, in MariaDB's order.

Needed because the per-chunk query must name every column (the internal `chunkId` and
`subChunkId` never appear: they are not part of the user's schema).

    SELECT * FROM Object o JOIN Filter f ON ...   ->  SELECT o.objectId, o.ra, ..., f.filterId, ...
"""

from __future__ import annotations

from sqlglot import exp

from czar.analysis.context import QueryContext
from qserv.errors import not_supported


def expand_stars(select: exp.Select, ctx: QueryContext) -> exp.Select:
    items = []
    for item in select.expressions:
        if isinstance(item, exp.Star):
            refs = ctx.tables
        elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
            refs = [t for t in ctx.tables if t.qualifier.lower() == item.table.lower()]
        else:
            items.append(item)
            continue
        if any(j.args.get("using") for j in select.args.get("joins") or []):
            raise not_supported("SELECT * with JOIN ... USING", "list the columns")
        for ref in refs:
            items.extend(exp.column(c, table=ref.qualifier, quoted=True) for c in ref.spec.column_names)
    select.set("expressions", items)
    return select
