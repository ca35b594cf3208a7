"""Removing what killed queries leave behind on the czar: result tables
(`qservResult.result_<queryId>`) and the spool files of chunk jobs (`<queryId>-*.tsv` in
the czar MariaDB's outfile directory).

A query's things are removed by the query itself when it ends; what a crash (kill -9 of the
czar), a client that vanished before reading, or a bug leaves is removed here, at start and
every `cleanup_interval_s`. Never those of a running query: query ids are
`<czar run>_<n>` (czar/engine.py), so a table or file of another czar run is a leftover
(one czar per MariaDB), and one of this run is a leftover once its query holds no lease
(`QueryEngine.leases`: a merged query holds one from before it creates its table until
after it dropped it; a result that no one will read is garbage-collected with its lease).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from typing import Callable, Container

import asyncmy

from qserv.metadata import RESULT_DB

log = logging.getLogger("czar.leftovers")
QUERY_ID = r"([0-9a-f]{8})_(\d+)"
RESULT_TABLE = re.compile(rf"^result_{QUERY_ID}$")
SPOOL_FILE = re.compile(rf"^{QUERY_ID}-[^/]*\.tsv$")


class Leftovers:
    def __init__(self, pool: asyncmy.Pool, spool_dir: str | Path, run_prefix: str,
                 live: Callable[[], Container[str]]):
        self.pool = pool
        self.spool_dir = Path(spool_dir)
        self.prefix = run_prefix
        self.live = live   # query ids of the queries still running

    def _leftover(self, prefix: str, n: str, live: Container[str]) -> bool:
        return prefix != self.prefix or f"{prefix}_{n}" not in live

    async def sweep(self) -> tuple[int, int]:
        """Drop leftover result tables and delete leftover spool files; (tables, files)."""
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES "
                              "WHERE TABLE_SCHEMA = %s AND TABLE_NAME LIKE 'result\\_%%'",
                              (RESULT_DB,))
            names = [row[0] for row in await cur.fetchall()]
            live = self.live()   # read after the listing: a query started since is not listed
            dropped = 0
            for name in names:
                m = RESULT_TABLE.match(name)
                if m and self._leftover(m.group(1), m.group(2), live):
                    # a dead czar's LOAD may still hold the table: do not wait long for it
                    await cur.execute("SET SESSION lock_wait_timeout = 5")
                    try:
                        await cur.execute(f"DROP TABLE IF EXISTS `{RESULT_DB}`.`{name}`")
                        dropped += 1
                    except asyncmy.errors.OperationalError as e:
                        log.warning("leftover result table %s not dropped yet: %s", name, e)
        removed = 0
        try:
            files = os.listdir(self.spool_dir)
        except FileNotFoundError:
            files = []
        live = self.live()
        for name in files:
            m = SPOOL_FILE.match(name)
            if m and self._leftover(m.group(1), m.group(2), live):
                try:
                    os.unlink(self.spool_dir / name)
                    removed += 1
                except FileNotFoundError:   # its query removed it meanwhile
                    pass
        if dropped or removed:
            log.info("removed leftovers of killed queries: %d result tables, %d spool files",
                     dropped, removed)
        return dropped, removed

    async def run(self, interval_s: float) -> None:
        """Sweep every `interval_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.exception("leftover sweep failed")
