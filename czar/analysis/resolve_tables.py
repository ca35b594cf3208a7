"""Pass 1 (resolve_tables): resolve the tables of FROM/JOIN against the catalog.

    SELECT ra FROM Object            (default database demo)
    -> tables = [demo.Object (director)], database = demo
"""

from __future__ import annotations

from sqlglot import exp

from czar.analysis.context import QueryContext, TableRef
from qserv.errors import ER_BAD_DB_ERROR, ER_NO_DB_ERROR, ER_NO_SUCH_TABLE, QservError, not_supported


def from_tables(select: exp.Select) -> list[exp.Expr]:
    """The sources of the top-level FROM clause and its joins, in order."""
    sources = []
    from_ = select.args.get("from_")
    if from_ is not None:
        sources.append(from_.this)
        sources.extend(from_.expressions or [])
    for join in select.args.get("joins") or []:
        sources.append(join.this)
    return sources


def resolve_tables(select: exp.Select, ctx: QueryContext) -> exp.Select:
    for source in from_tables(select):
        if not isinstance(source, exp.Table):
            raise not_supported("sub-queries or derived tables in FROM",
                                "name the tables directly")
        db = source.db or ctx.default_db
        if not db:
            raise QservError(ER_NO_DB_ERROR, "No database selected")
        if ctx.catalog.database(db) is None:
            raise QservError(ER_BAD_DB_ERROR, f"Unknown database '{db}'")
        spec = ctx.catalog.table(db, source.name)
        if spec is None:
            raise QservError(ER_NO_SUCH_TABLE, f"Table '{db}.{source.name}' doesn't exist")
        ctx.tables.append(TableRef(source, ctx.catalog.database(db).name, spec))
    dbs = {t.db.lower() for t in ctx.partitioned_tables}
    if len(dbs) > 1:
        raise not_supported("joins of partitioned tables from different databases")
    ctx.database = ctx.partitioned_tables[0].db if ctx.partitioned_tables else ctx.tables[0].db
    return select
