"""Loads table data sent by the czar-side loader into the worker's MariaDB.

The bytes arrive over gRPC (no shared filesystem), are spooled to a local file and bulk-loaded
with `LOAD DATA INFILE`. Input format (what `qserv load` sends): CSV with every non-NULL
value in double quotes (`""` inside), and the bare word NULL for NULL.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncmy

from qserv.catalog import LOAD_FORMAT



async def load_file(pool: asyncmy.Pool, path: Path, database: str, table: str,
                    columns: list[str]) -> int:
    cols = ", ".join(f"`{c}`" for c in columns)
    sql = (f"LOAD DATA INFILE '{path}' INTO TABLE `{database}`.`{table}` "
           f"{LOAD_FORMAT} ({cols})")
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            await cur.execute(sql)
            rows = cur.rowcount
            await cur.execute("SHOW WARNINGS LIMIT 5")
            warnings = await cur.fetchall()
    bad = [w for w in warnings if w[0] in ("Warning", "Error")]
    if bad:
        raise ValueError(f"LOAD DATA into {database}.{table} reported: "
                         + "; ".join(f"{w[1]} {w[2]}" for w in bad))
    return rows


def spool_path(directory: Path) -> Path:
    return Path(directory) / f"load-{uuid.uuid4().hex}.csv"
