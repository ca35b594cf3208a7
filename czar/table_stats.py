"""Honest table sizes in the czar's metadata answers: `information_schema.TABLES` and
`SHOW TABLE STATUS` say how many rows and bytes a table holds on the workers.

Why: the czar answers metadata statements from its own MariaDB, where every user table is
an empty shadow (czar/frontend.py), so TABLE_ROWS was 0 for a table of a billion rows. The
sizes are kept in `qservMeta.table_stats` (recorded at publish and on demand:
czar/ingest/stats.py); here they take the place of the shadow's.

- A SELECT over information_schema.TABLES reads a derived table instead: the same columns
  in the same order, with TABLE_ROWS, AVG_ROW_LENGTH, DATA_LENGTH and INDEX_LENGTH taken
  from the recorded sizes where there are some. WHERE, ORDER BY and aggregates over them
  then see the real values.

      SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'demo'
      -> ... FROM (SELECT T.TABLE_CATALOG, ..., CAST(COALESCE(S.`rows`, T.TABLE_ROWS) AS
         UNSIGNED) AS TABLE_ROWS, ... FROM information_schema.TABLES T LEFT JOIN
         qservMeta.table_stats S ON ...) AS TABLES WHERE TABLE_SCHEMA = 'demo'

- SHOW TABLE STATUS lists the shadows as MariaDB does, then each row's Rows,
  Avg_row_length, Data_length and Index_length are replaced by the recorded ones. With a
  WHERE (which could test those columns against the shadow's zeros) it is refused (1235)
  and information_schema.TABLES is named instead.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from qserv.errors import ER_NOT_SUPPORTED_YET
from qserv.metadata import META_DB

SIZES = {"TABLE_ROWS": "S.`rows`", "DATA_LENGTH": "S.data_bytes", "INDEX_LENGTH": "S.index_bytes",
         "AVG_ROW_LENGTH": "IF(S.`rows` > 0, S.data_bytes DIV S.`rows`, 0)"}
SHOW_COLUMNS = {"Rows": 0, "Avg_row_length": 3, "Data_length": 1, "Index_length": 2}
_columns: list[str] | None = None       # information_schema.TABLES's, in order (per process)


class Refused(Exception):
    """A statement this module will not answer; `code` and message for the client."""

    def __init__(self, message: str, code: int = ER_NOT_SUPPORTED_YET):
        super().__init__(message)
        self.code = code


def reads_tables_view(expression: exp.Expression) -> bool:
    return any(_is_tables_view(t) for t in expression.find_all(exp.Table))


def _is_tables_view(t: exp.Table) -> bool:
    return t.db.lower() == "information_schema" and t.name.lower() == "tables"


async def _table_columns(cur) -> list[str]:
    global _columns
    if _columns is None:
        await cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA "
                          "= 'information_schema' AND TABLE_NAME = 'TABLES' ORDER BY ORDINAL_POSITION")
        _columns = [r[0] for r in await cur.fetchall()]
    return _columns


def derived_tables_view(columns: list[str]) -> str:
    """information_schema.TABLES with the recorded sizes, as a SELECT (same columns, order)."""
    items = []
    for c in columns:
        if c.upper() in SIZES:
            items.append(f"CAST(COALESCE({SIZES[c.upper()]}, T.`{c}`) AS UNSIGNED) AS `{c}`")
        else:
            items.append(f"T.`{c}`")
    return (f"SELECT {', '.join(items)} FROM information_schema.TABLES T LEFT JOIN "
            f"{META_DB}.table_stats S ON S.db = T.TABLE_SCHEMA AND S.tbl = T.TABLE_NAME")


async def with_real_sizes(cur, expression: exp.Expression, dialect) -> str:
    """The query's text with every information_schema.TABLES read as the derived view."""
    view = sqlglot.parse_one(derived_tables_view(await _table_columns(cur)), read="mysql")
    tree = expression.copy()
    for t in list(tree.find_all(exp.Table)):
        if _is_tables_view(t):
            alias = t.alias or t.name
            t.replace(exp.Subquery(this=view.copy(), alias=exp.TableAlias(
                this=exp.to_identifier(alias))))
    return tree.sql(dialect=dialect)


def check_show_status(expression: exp.Show) -> None:
    if expression.args.get("where") is not None:
        raise Refused("SHOW TABLE STATUS ... WHERE is not supported (the sizes of Qserv's "
                      "tables are on the workers): select from information_schema.TABLES instead")


async def patch_show_status(cur, rows: list, names: list[str], database: str) -> list:
    """SHOW TABLE STATUS rows of `database` with the recorded sizes in place of the shadows'."""
    await cur.execute(f"SELECT tbl, `rows`, data_bytes, index_bytes FROM {META_DB}.table_stats "
                      "WHERE db = %s", (database,))
    sizes = {r[0]: r[1:] for r in await cur.fetchall()}
    where = {n: names.index(n) for n in SHOW_COLUMNS if n in names}
    out = []
    for row in rows:
        size = sizes.get(row[0])
        if size is not None:
            row = list(row)
            rows_, data, index = size
            values = {"Rows": rows_, "Data_length": data, "Index_length": index,
                      "Avg_row_length": data // rows_ if rows_ else 0}
            for n, i in where.items():
                row[i] = values[n]
            row = tuple(row)
        out.append(row)
    return out
