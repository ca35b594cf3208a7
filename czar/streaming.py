"""Job row streams handed on in the order the jobs become ready.

Why: a worker writes a job's whole result before its first batch, so waiting for every job
before sending the first row adds the slowest job's time to every streamed result. Here the
first ready job streams to the client while the others still run; the client's decoding
then overlaps the workers' scans (on a 100k-row result this is most of the difference to a
single MariaDB, which sends rows while it scans).

Errors: the first job's error (or success) is known before the result's first row. A later
job's error reaches the client after the rows already sent, as an error packet in place of
the next row — MariaDB does the same for errors found mid-result, and every client raises it.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from czar.dispatch import Dispatcher, Job


class ReadyStreams:
    """Start every job (within the dispatcher's per-worker slots); iterate over their row
    streams as they open. `aclose` stops what is still running, on workers too."""

    def __init__(self, dispatcher: Dispatcher, query_id: str, database: str, template: str,
                 jobs: list[Job]):
        self.dispatcher = dispatcher
        self.query_id = query_id
        self._ready: asyncio.Queue = asyncio.Queue()
        self._left = len(jobs)
        self._tasks = [asyncio.create_task(self._open(database, template, job)) for job in jobs]
        self._first = None

    async def _open(self, database: str, template: str, job: Job) -> None:
        try:
            async with self.dispatcher.slots[job.replicas[0]]:
                pieces = await self.dispatcher.stream(self.query_id, database, template, job)
        except Exception as e:  # noqa: BLE001 - handed to the reader, which raises it
            self._ready.put_nowait(e)
        else:
            self._ready.put_nowait(pieces)

    async def first_ready(self) -> None:
        """Wait for the first job: its error is raised here, before any row is sent."""
        if not self._left:
            return  # no job at all (no chunk holds the rows): an empty result
        try:
            self._first = await self._next()
        except BaseException:
            await self.aclose()
            raise

    async def _next(self):
        item = await self._ready.get()
        self._left -= 1
        if isinstance(item, BaseException):
            raise item
        return item

    def __aiter__(self) -> AsyncIterator:
        return self._iterate()

    async def _iterate(self):
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        while self._left:
            yield await self._next()

    async def aclose(self) -> None:
        unfinished = [t for t in self._tasks if not t.done()]
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        pending = [self._first] if self._first is not None else []
        while not self._ready.empty():
            pending.append(self._ready.get_nowait())
        for item in pending:
            if not isinstance(item, BaseException):
                await item.aclose()
        self._first, self._left = None, 0
        if unfinished:  # MariaDB queries may still run on workers: kill them
            await asyncio.shield(self.dispatcher.cancel(self.query_id))


class OpenedStreams:
    """Streams opened already (the single-job path), with the same interface."""

    def __init__(self, streams: list):
        self._streams = list(streams)

    def __aiter__(self) -> AsyncIterator:
        return self._iterate()

    async def _iterate(self):
        while self._streams:
            yield self._streams.pop(0)

    async def aclose(self) -> None:
        for pieces in self._streams:
            await pieces.aclose()
        self._streams = []


class RowWindow:
    """A LIMIT's window over batches of rows (lists, or czar/wire_rows.EncodedRows): skip
    `skip` rows, then pass `count` (None: all the rest)."""

    def __init__(self, skip: int = 0, count: int | None = None):
        self.skip, self.left = skip, count

    @property
    def full(self) -> bool:
        return self.left == 0

    def cut(self, batch):
        start = min(self.skip, len(batch))
        stop = len(batch) if self.left is None else min(len(batch), start + self.left)
        self.skip -= start
        if self.left is not None:
            self.left -= stop - start
        return batch if (start, stop) == (0, len(batch)) else batch[start:stop]
