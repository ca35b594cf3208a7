"""The worker's MariaDB keeps few tables open while ingest work runs on it.

Why: MyISAM keeps one list of every open table and walks all of it at each table open and
each CREATE TABLE (to share a table opened twice). A worker of a catalog with thousands of
small chunks creates, loads and (publish, validate) opens every chunk table, so with the
cache full of 4,000 tables each of those walks 4,000 entries: with 5,800 chunks on 3
workers a quarter of the servers' CPU went there, and the ingest took ~1.5x as long as with
a cache of 400 (benchmarks/bench_table_cache.py). Queries want the opposite: a scan whose
chunk tables stay cached opens none of them (2x faster scans at 4,000 on that catalog).

So the cache is `MariaDBSettings.table_open_cache` for queries, and
`ClusterConfig.ingest_table_open_cache` while any ingest call runs (`SET GLOBAL`, which
also closes the unused tables above it), back `linger_s` after the last one ended: the
ingest's steps (bundles, publish, validate) come one after another, and each switch closes
tables. Queries running meanwhile get the smaller cache: slower opens, same answers. A worker
killed while lowered leaves nothing behind: its MariaDB starts with the configured value, and
a restarted worker process sets it back (`reset`).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

log = logging.getLogger("worker.table_cache")
LINGER_S = 10.0    # seconds the small cache outlives the last ingest call


class IngestTableCache:
    def __init__(self, pool_factory, normal: int, during_ingest: int,
                 linger_s: float = LINGER_S):
        """`during_ingest` <= 0 (or >= `normal`): the cache is left alone."""
        self.pool_factory = pool_factory
        self.normal = normal
        self.during_ingest = during_ingest
        self.linger_s = linger_s
        self.active = 0
        self.lowered_now = False
        self._lock = asyncio.Lock()
        self._restore: asyncio.Task | None = None

    @property
    def enabled(self) -> bool:
        return 0 < self.during_ingest < self.normal

    @asynccontextmanager
    async def ingesting(self):
        """Around one ingest call: the cache is small from its start to `linger_s` after the
        last such call."""
        if not self.enabled:
            yield
            return
        async with self._lock:
            self.active += 1
            if self._restore is not None:
                self._restore.cancel()
                self._restore = None
            if not self.lowered_now:   # a failure only makes the ingest slower: it goes on
                self.lowered_now = await self._set(self.during_ingest)
        try:
            yield
        finally:
            self.active -= 1
            if self.active == 0:
                self._restore = asyncio.ensure_future(self._restore_later())

    async def _restore_later(self) -> None:
        await asyncio.sleep(self.linger_s)
        await self.restore()

    async def restore(self) -> None:
        """The query-time cache back now (no ingest call running), e.g. at shutdown."""
        async with self._lock:
            if self.active or not self.lowered_now:
                return
            await self._set(self.normal)   # (failed: a restarted MariaDB or worker sets it)
            self.lowered_now = False

    async def reset(self) -> None:
        """At the worker's start: the query-time cache, whatever a worker process killed
        while it was lowered left in its (still running) MariaDB."""
        if self.enabled:
            await self._set(self.normal)

    async def close(self) -> None:
        if self._restore is not None:
            self._restore.cancel()
            self._restore = None
        if self.active == 0:
            await self.restore()

    async def _set(self, size: int) -> bool:
        """SET GLOBAL table_open_cache; False (logged) when the server refused or is gone:
        the cache is an optimisation, never a reason for a call to fail."""
        try:
            pool = await self.pool_factory()
            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute(f"SET GLOBAL table_open_cache = {int(size)}")
        except Exception:
            log.warning("could not set table_open_cache to %d", size, exc_info=True)
            return False
        log.info("table_open_cache = %d", size)
        return True
