"""Dispatch: one gRPC call per job (a worker and up to `chunks_per_job` of its chunks),
bounded per worker, rows spooled to a local file per job and handed to the merger.

Failures: a MariaDB error on a worker carries its code back (the client sees it); a job whose
worker failed (down, unreachable, connection lost, its MariaDB gone) runs again on another
replica of its chunks (czar/failover.py); a streamed one continues where the failed stream
stopped. Any failure that no replica makes good cancels the query's other jobs, which kills
their MariaDB queries on workers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

import grpc

from czar import deadline, registry
from czar.chunk_keys import ARG_MARKER
from czar.plan import SCAN_THRESHOLD
from czar.failover import (Replicas, resumable_pieces, spread)
from qserv.catalog import CHUNK_MARKER
from qserv.config import ClusterConfig
from qserv.errors import QservError
from qserv.grpc_auth import aio_channel
from qserv.scheduling import ClassSlots
from qserv.v1 import worker_pb2 as pb
from qserv.v1 import worker_pb2_grpc as pb_grpc
from qserv.workers import RECONNECT_OPTIONS, message_options

log = logging.getLogger("czar.dispatch")
# A worker that stops answering without closing its connections (SIGSTOP, a frozen host) is
# found by HTTP/2 pings: unanswered for KEEPALIVE_TIMEOUT_MS, the connection is dropped, its
# calls fail (UNAVAILABLE) and their jobs go to another replica (czar/failover.py). Workers
# accept these pings (worker/service.py KEEPALIVE_SERVER_OPTIONS). gRPC's ping_timeout (60 s by default)
# also bounds the wait for a ping's answer while a call is in flight: without it a stopped
# worker held its calls for a minute, whatever the keepalive timeout.
KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS = 5000, 5000
KEEPALIVE_OPTIONS = [("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
                     ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
                     ("grpc.http2.ping_timeout_ms", KEEPALIVE_TIMEOUT_MS),
                     ("grpc.keepalive_permit_without_calls", 1),
                     ("grpc.http2.max_pings_without_data", 0)]


@dataclass
class Job:
    chunks: list[int]
    replicas: list[str]  # workers holding all of these chunks, preferred first
    # per chunk: its text for ARG_MARKER, its own keys of a long IN list (czar/chunk_keys.py)
    args: list[str] | None = None

    def request_args(self) -> dict:
        """The ChunkQueryRequest fields carrying the per-chunk texts."""
        return {"arg_marker": ARG_MARKER, "chunk_args": self.args} if self.args else {}


def make_jobs(chunks: list[int], placement: dict[int, list[str]], chunks_per_job: int,
              chunk_args: dict[int, str] | None = None) -> list[Job]:
    """Group chunks by their replicas in preferred order (spread over the replicas by chunk
    id) and cut each group into jobs; `chunk_args`: each chunk's text for ARG_MARKER."""
    by_worker: dict[tuple[str, ...], list[int]] = {}
    for c in chunks:
        by_worker.setdefault(tuple(spread(c, placement[c])), []).append(c)
    jobs = []
    for replicas, cs in by_worker.items():
        for i in range(0, len(cs), chunks_per_job):
            part = cs[i:i + chunks_per_job]
            jobs.append(Job(part, list(replicas),
                            [chunk_args[c] for c in part] if chunk_args is not None else None))
    return jobs


class Dispatcher:
    def __init__(self, config: ClusterConfig, spool_dir: str):
        self.config = config
        self.spool_dir = spool_dir
        self.channels = {w.name: aio_channel(w.grpc_address(), config.grpc_token, self._options())
                         for w in config.workers}
        self.stubs = {name: pb_grpc.WorkerStub(ch) for name, ch in self.channels.items()}
        # jobs_per_worker jobs of scans per worker, one more for interactive jobs, which go
        # first (qserv/scheduling.py)
        self.slots = {w.name: ClassSlots(config.jobs_per_worker, reserved=1)
                      for w in config.workers}
        self.replicas = Replicas()
        self._next = 0

    def _options(self) -> list:
        return (message_options(self.config.grpc_max_message_bytes) + RECONNECT_OPTIONS
                + KEEPALIVE_OPTIONS)

    def add_worker(self, worker) -> None:
        """A worker that registered with the running czar (czar/membership.py), new or at a
        new address: its channel (the old one of a moved worker is closed in the background)."""
        old = self.channels.get(worker.name)
        self.channels[worker.name] = aio_channel(worker.grpc_address(), self.config.grpc_token,
                                                 self._options())
        self.stubs[worker.name] = pb_grpc.WorkerStub(self.channels[worker.name])
        self.slots.setdefault(worker.name, ClassSlots(self.config.jobs_per_worker, reserved=1))
        if old is not None:
            asyncio.get_running_loop().create_task(old.close(grace=30))

    def workers_in_turn(self) -> list[str]:
        """All workers, starting with the next one in turn (spreads replicated-table queries,
        and the others are the fail-over order)."""
        self._next = (self._next + 1) % len(self.config.workers)
        names = [w.name for w in self.config.workers]
        return names[self._next:] + names[:self._next]

    async def run(self, query_id: str, database: str, template: str, jobs: list[Job],
                  sink: Callable[[str], Awaitable[None]], session_sql: str = "") -> None:
        """Run all jobs; `sink(path)` is awaited with each job's spooled rows (then deleted).
        `session_sql`: see ChunkQueryRequest.session_sql."""
        scan = self.is_scan(jobs)
        try:
            async with asyncio.TaskGroup() as tg:
                for job in jobs:
                    tg.create_task(self._run_job(query_id, database, template, job, sink,
                                                 session_sql, scan))
        except asyncio.CancelledError:  # the client went away or KILL QUERY: stop the workers
            await asyncio.shield(self.cancel(query_id))
            raise
        except BaseExceptionGroup as group:
            await self.cancel(query_id)
            raise first_error(group) from None

    def is_scan(self, jobs: list[Job]) -> bool:
        """Whether a query of these jobs is a scan (its class, as EXPLAIN shows it: czar/plan.py
        QueryPlan.kind): its jobs wait behind interactive ones (qserv/scheduling.py)."""
        return sum(len(job.chunks) for job in jobs) > SCAN_THRESHOLD

    async def stream(self, query_id: str, database: str, template: str, job: Job,
                     few_rows: bool = False, session_sql: str = "", scan: bool = False):
        """One job's rows as they arrive (fast path); a worker dying mid-stream is replaced by
        another replica where there is one (czar/failover.py, resumable_pieces), and any other
        error after the first rows reaches the client in place of the next row.
        `few_rows`: see ChunkQueryRequest.few_rows."""
        request = pb.ChunkQueryRequest(query_id=query_id, database=database, sql_template=template,
                                       chunk_marker=CHUNK_MARKER, chunk_ids=job.chunks,
                                       few_rows=few_rows, session_sql=session_sql,
                                       plan_class=pb.SCAN if scan else pb.INTERACTIVE,
                                       **job.request_args())
        pieces = resumable_pieces(self.stubs_call(request), self.replicas.order(job.replicas),
                                  self.replicas, database, job.chunks, self.ready)
        try:   # an error before the first rows is raised here, before the client gets a header
            first = await anext(pieces, None)
        except BaseException:
            await pieces.aclose()
            raise
        return _starting_with(first, pieces)

    async def ready(self, worker: str, within_s: float) -> bool:
        """Whether the channel to `worker` connects within `within_s` seconds (it leaves gRPC's
        reconnect back-off at once: the wait asks it to connect)."""
        try:
            await asyncio.wait_for(self.channels[worker].channel_ready(), within_s)
        except asyncio.TimeoutError:
            return False
        return True

    def stubs_call(self, request):
        """The function that starts `request` on a worker (see resumable_pieces)."""
        return lambda worker: self.stubs[worker].RunChunkQuery(
            request, timeout=deadline.call_timeout())

    async def _run_job(self, query_id, database, template, job: Job, sink, session_sql,
                       scan: bool = False) -> None:
        """One job of a merged query: its rows spooled to a file, then `sink(path)`. The same
        fail-over as a streamed job (czar/failover.py resumable_pieces): a replica takes over
        a failed worker's job, where its stream stopped."""
        request = pb.ChunkQueryRequest(query_id=query_id, database=database, sql_template=template,
                                       chunk_marker=CHUNK_MARKER, chunk_ids=job.chunks,
                                       session_sql=session_sql,
                                       plan_class=pb.SCAN if scan else pb.INTERACTIVE,
                                       **job.request_args())
        fd, path = tempfile.mkstemp(prefix=f"{query_id}-", suffix=".tsv", dir=self.spool_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                async for data in resumable_pieces(
                        lambda worker: _SlottedCall(self, worker, request, scan),
                        self.replicas.order(job.replicas), self.replicas, database, job.chunks,
                        self.ready):
                    out.write(data)
            await sink(path)
        finally:
            os.unlink(path)
        registry.chunks_done(len(job.chunks) or 1)

    async def cancel(self, query_id: str) -> None:
        async def one(stub):
            try:
                await stub.CancelQuery(pb.CancelRequest(query_id=query_id), timeout=2)
            except grpc.aio.AioRpcError:
                pass
        await asyncio.gather(*(one(s) for s in self.stubs.values()))

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()


class _SlottedCall:
    """A job's RunChunkQuery call on `worker` that first waits for one of the worker's slots
    of its class (qserv/scheduling.py) and holds it while the rows come; iterated by
    resumable_pieces like the call itself. Logs one timing line per job: what benchmarks/
    draws a query's Gantt chart from (wall clock, seconds since the epoch)."""

    def __init__(self, dispatcher: "Dispatcher", worker: str, request, scan: bool):
        self.d, self.worker, self.request, self.scan = dispatcher, worker, request, scan
        self.call = None
        self.cancelled = False

    async def __aiter__(self):
        queued = time.time()
        nbytes = 0
        async with self.d.slots[self.worker].slot(self.scan):
            if self.cancelled:
                return
            started = time.time()
            self.call = self.d.stubs[self.worker].RunChunkQuery(
                self.request, timeout=deadline.call_timeout())
            async for batch in self.call:
                nbytes += len(batch.tsv)
                yield batch
        log.info("job timing query=%s worker=%s chunks=%d queued=%.6f start=%.6f end=%.6f "
                 "bytes=%d", self.request.query_id, self.worker, len(self.request.chunk_ids),
                 queued, started, time.time(), nbytes)

    def cancel(self) -> None:
        self.cancelled = True
        if self.call is not None:
            self.call.cancel()


async def _starting_with(first, pieces):
    """`first`, then the rest of `pieces` (closed at the end, also when the reader stops)."""
    try:
        if first is not None:
            yield first
            async for piece in pieces:
                yield piece
    finally:
        await pieces.aclose()


def first_error(group: BaseExceptionGroup) -> BaseException:
    """The error to report for failed jobs: a MySQL-coded one when there is one."""
    errors = list(group.exceptions)
    return next((e for e in errors if isinstance(e, QservError)), errors[0])


