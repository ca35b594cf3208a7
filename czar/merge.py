"""The merge step: rows from all chunk jobs go into `qservResult.result_<id>` in the czar's
MariaDB (bulk `LOAD DATA INFILE` of the workers' TSV), and the merge query runs there.
"""

from __future__ import annotations

import contextlib

import asyncmy

from qserv.errors import ER_TOO_BIG_RESULT, QservError
from qserv.metadata import RESULT_DB


class ResultTable:
    def __init__(self, pool: asyncmy.Pool, query_id: str, max_rows: int, session_sql: str = ""):
        self.pool = pool
        self.name = f"`{RESULT_DB}`.`result_{query_id}`"
        self.max_rows = max_rows
        self.rows = 0
        self.session_sql = session_sql  # see QueryPlan.session_sql

    @contextlib.asynccontextmanager
    async def _cursor(self):
        """A cursor with the client's session settings (types and values of the chunk query
        depend on them); such a connection is closed after use, never handed to another."""
        async with self.pool.acquire() as conn:
            try:
                async with conn.cursor() as cur:
                    if self.session_sql:
                        await cur.execute(self.session_sql)
                    yield cur
            finally:
                if self.session_sql:
                    conn.close()

    async def create(self, shadow_sql: str) -> None:
        """Same columns and types as the chunk query: run it, with no rows, on the shadows."""
        async with self._cursor() as cur:
            await cur.execute(f"CREATE TABLE {self.name} ENGINE=MyISAM "
                              f"SELECT * FROM ({shadow_sql}) AS qs_chunk LIMIT 0")

    async def load(self, path: str) -> int:
        """Append one job's rows (MariaDB's OUTFILE text format is LOAD DATA's default);
        fails once the table holds more than `max_rows` rows."""
        async with self._cursor() as cur:
            await cur.execute(f"LOAD DATA INFILE '{path}' INTO TABLE {self.name} CHARACTER SET binary")
            self.rows += cur.rowcount
        if self.rows > self.max_rows:
            raise QservError(ER_TOO_BIG_RESULT, f"the query collects more than {self.max_rows} rows "
                             "before the final merge; add a restriction (WHERE, LIMIT) or raise "
                             "max_result_rows in the cluster config")
        return cur.rowcount

    async def drop(self) -> None:
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(f"DROP TABLE IF EXISTS {self.name}")
