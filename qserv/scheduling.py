"""Bounded concurrency with two classes of work, so that scans never starve look-ups
(DESIGN.md §11, issue 17).

A plan is *interactive* (few chunks: a look-up, a small cone) or a *scan* (many chunks); the
class travels with every chunk job (ChunkQueryRequest.plan_class). Where jobs wait for a slot
— the czar's per-worker dispatch slots, a worker's MariaDB statements — `ClassSlots` keeps
two queues: `limit` slots for both classes plus `reserved` more that only interactive jobs
take, and a free slot goes to a waiting interactive job first. Scans keep the concurrency
they had (`limit`); a look-up arriving during scans waits for no scan job, only for the
statements already running to share the CPU with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class ClassSlots:
    def __init__(self, limit: int, reserved: int = 1):
        self.scan_limit = max(1, limit)
        self.limit = self.scan_limit + max(0, reserved)
        self.running = 0
        self.scans = 0
        self._waiting: dict[bool, deque[asyncio.Future]] = {False: deque(), True: deque()}

    def _can(self, scan: bool) -> bool:
        if self.running >= self.limit:
            return False
        if scan:
            return self.scans < self.scan_limit and not self._waiting[False]
        return True

    def _take(self, scan: bool) -> None:
        self.running += 1
        self.scans += scan

    async def acquire(self, scan: bool) -> None:
        if not self._waiting[scan] and self._can(scan):
            self._take(scan)
            return
        future = asyncio.get_running_loop().create_future()
        self._waiting[scan].append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(scan)   # granted, then cancelled before use
            else:
                with contextlib.suppress(ValueError):
                    self._waiting[scan].remove(future)
            raise

    def release(self, scan: bool) -> None:
        self.running -= 1
        self.scans -= scan
        self._wake()

    def _wake(self) -> None:
        for scan in (False, True):   # interactive first
            queue = self._waiting[scan]
            while queue and self._can(scan):
                future = queue.popleft()
                if future.done():
                    continue
                self._take(scan)
                future.set_result(None)

    @contextlib.asynccontextmanager
    async def slot(self, scan: bool):
        await self.acquire(scan)
        try:
            yield
        finally:
            self.release(scan)

    @property
    def waiting(self) -> tuple[int, int]:
        """(interactive, scan) jobs waiting."""
        return len(self._waiting[False]), len(self._waiting[True])
