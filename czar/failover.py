"""Replicas and fail-over: which worker runs a job first, which failures another replica can
make good, and the error when none can.

- Order: each chunk's replicas are rotated by the chunk id (`spread`), so with R = 2 every
  worker is the first choice for its share of chunks (placement lists them sorted by name,
  which left the last worker idle), and a worker that failed in the last `SUSPECT_S` seconds
  goes last (`Replicas.order`), so queries after a crash do not all knock at it first.
- Failover: a job is retried on the next replica when the worker could not run it — the call
  failed (worker down, connection lost, unanswered keepalive pings: any gRPC status but
  INVALID_ARGUMENT, which carries the SQL error of a query that would fail anywhere, and
  DEADLINE_EXCEEDED, the statement's time limit: 1969), or its MariaDB was down or went away
  (`WORKER_DOWN_CODES`). A query's own error (1054, 1146, a KILL, ...) is not retried.
- One fail-over loop for every job (`resumable_pieces`): a streamed job's rows go on to the
  client as they arrive, a merged job's to its spool file (czar/dispatch.py); when
  the worker dies after sending some, the next replica runs the job and its stream continues
  where the first one stopped. Its first bytes must be those already handed on (the same SQL
  over the same rows, loaded from the same files, gives the same text; a hash checks it), and
  are skipped; should they differ, the query fails clearly rather than repeat or lose a row.
- Second chance: a worker that could not be reached (UNAVAILABLE: its channel is still in
  gRPC's reconnect back-off after a restart, or it is down) is tried once more when every
  replica failed, if its channel connects within `RECONNECT_GRACE_S` (`second_chances`): a
  worker restarted a moment ago (by hand or by the supervisor) is used rather than the query
  failing with 1429.
- The error when no replica could run a job names the database, the job's chunks and what
  each worker said, with MariaDB's code for an unreachable remote shard (1429, as Spider and
  FederatedX report it).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Awaitable, Callable

import grpc

from czar.deadline import interrupted, remaining
from qserv.errors import ER_UNKNOWN_ERROR, QservError

log = logging.getLogger("czar.failover")

ER_CONNECT_TO_FOREIGN_DATA_SOURCE = 1429
# The worker reached its MariaDB no more (or not yet): too many connections, server
# shutdown, connection killed by a shutdown, can't connect, server gone, lost connection.
WORKER_DOWN_CODES = {1040, 1053, 1927, 2002, 2003, 2006, 2013}
SUSPECT_S = 10.0
RECONNECT_GRACE_S = 2.0
NAMED_CHUNKS = 10


def spread(chunk: int, replicas: list[str]) -> list[str]:
    """The replicas of `chunk`, starting at a position given by the chunk id."""
    if len(replicas) < 2:
        return list(replicas)
    k = chunk % len(replicas)
    return list(replicas[k:]) + list(replicas[:k])


def sql_code(details: str) -> int | None:
    """The MariaDB code a worker put at the front of an INVALID_ARGUMENT ('code:message')."""
    code, _, _ = (details or "").partition(":")
    return int(code) if code.isdigit() else None


def worker_failed(e: grpc.aio.AioRpcError) -> bool:
    """True when another replica may succeed where this call failed. A call past its deadline
    (the statement's time limit, czar/deadline.py) is the query's end: no replica has time."""
    if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return False
    if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
        return True
    return sql_code(e.details()) in WORKER_DOWN_CODES


def query_error(e: grpc.aio.AioRpcError) -> QservError:
    """The query's error for a call that no replica can make good (see worker_failed)."""
    if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return interrupted()
    return worker_error(e.details())


def unreachable(e: grpc.aio.AioRpcError) -> bool:
    """True when the call failed because the worker could not be reached (or was lost)."""
    return e.code() == grpc.StatusCode.UNAVAILABLE


async def second_chances(workers: list[str],
                         ready: Callable[[str, float], Awaitable[bool]] | None) -> list[str]:
    """Of `workers` (each failed once as unreachable), those whose channel connects within
    RECONNECT_GRACE_S (less when the statement has less time left), to be tried again."""
    if not workers or ready is None:
        return []
    left = remaining()
    grace = RECONNECT_GRACE_S if left is None else min(RECONNECT_GRACE_S, left)
    answers = await asyncio.gather(*(ready(w, grace) for w in workers))
    return [w for w, ok in zip(workers, answers) if ok]


class Replicas:
    """Remembers which workers failed lately (per czar, in memory)."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._failed_at: dict[str, float] = {}

    def order(self, replicas: list[str]) -> list[str]:
        """`replicas` with the workers that failed in the last SUSPECT_S seconds moved last."""
        if not self._failed_at:
            return replicas
        now = self.clock()
        recent = {w for w, t in self._failed_at.items() if now - t < SUSPECT_S}
        return [w for w in replicas if w not in recent] + [w for w in replicas if w in recent]

    def failed(self, worker: str) -> None:
        self._failed_at[worker] = self.clock()

    def worked(self, worker: str) -> None:
        self._failed_at.pop(worker, None)


class Turns:
    """The order in which a job's replicas are tried: each once, then the unreachable ones
    once more if they connect now (second_chances)."""

    def __init__(self, workers: list[str], ready):
        self.queue, self.ready = list(workers), ready
        self.unreachable: list[str] = []
        self.second_round = False

    def failed(self, worker: str, e: grpc.aio.AioRpcError) -> None:
        if unreachable(e) and not self.second_round:
            self.unreachable.append(worker)

    async def next(self) -> str | None:
        if not self.queue and not self.second_round:
            self.second_round = True
            self.queue = await second_chances(self.unreachable, self.ready)
        return self.queue.pop(0) if self.queue else None


def no_replica_error(database: str, chunks: list[int], attempts: list[str]) -> QservError:
    """The query's error when every replica of a job failed."""
    if chunks:
        shown = ", ".join(map(str, chunks[:NAMED_CHUNKS]))
        more = f" and {len(chunks) - NAMED_CHUNKS} more" if len(chunks) > NAMED_CHUNKS else ""
        what = f"chunk{'s' if len(chunks) > 1 else ''} {shown}{more} of {database}"
    else:
        what = f"the replicated tables of {database}"
    return QservError(ER_CONNECT_TO_FOREIGN_DATA_SOURCE,
                      f"Unable to connect to foreign data source: no worker holding {what} could "
                      f"run the query ({'; '.join(attempts) or 'no replica'})")


def attempt(worker: str, e: grpc.aio.AioRpcError) -> str:
    """One line of `no_replica_error`: the worker and what its call said."""
    return f"{worker}: {e.code().name} {e.details() or ''}".strip()


def worker_error(details: str) -> QservError:
    """A query's own error on a worker: INVALID_ARGUMENT 'code:message' (worker/service.py)."""
    code = sql_code(details)
    if code is None:
        return QservError(ER_UNKNOWN_ERROR, details)
    return QservError(code, details.partition(":")[2])


async def resumable_pieces(open_call, workers: list[str], replicas: Replicas, database: str,
                           chunks: list[int], ready=None):
    """A job's row text, piece by piece as it arrives, from the first of `workers` that can
    run it, continued by the next replica when a worker fails mid-stream (module docstring).
    `open_call(worker)` starts the job's RunChunkQuery call on a worker; `ready(worker, s)`
    says whether its channel connects within s seconds (see second_chances)."""
    sent, sent_hash, attempts = 0, hashlib.blake2b(digest_size=16), []
    turns = Turns(workers, ready)
    while (worker := await turns.next()) is not None:
        call = open_call(worker)
        skip, replayed = sent, hashlib.blake2b(digest_size=16)
        try:
            async for batch in call:
                data = batch.tsv
                if skip and data:
                    head, data = data[:skip], data[skip:]
                    replayed.update(head)
                    skip -= len(head)
                    if skip == 0 and replayed.digest() != sent_hash.digest():
                        raise _diverged(database, chunks, attempts, worker)
                if data:
                    sent_hash.update(data)
                    sent += len(data)
                    yield data
            if skip:   # the replica's rows ended before those already sent
                raise _diverged(database, chunks, attempts, worker)
            replicas.worked(worker)
            return
        except grpc.aio.AioRpcError as e:
            if not worker_failed(e):
                raise query_error(e) from None
            replicas.failed(worker)
            turns.failed(worker, e)
            attempts.append(attempt(worker, e) + (" (mid-stream)" if sent else ""))
            log.warning("job on %s failed (%s); trying another replica if there is one",
                        worker, attempts[-1])
        finally:
            call.cancel()   # a no-op once the call has ended
    raise no_replica_error(database, chunks, attempts)


def _diverged(database: str, chunks: list[int], attempts: list[str], worker: str) -> QservError:
    e = no_replica_error(database, chunks, attempts)
    return QservError(e.code, f"{e.message}; {worker} holds the same rows but sends them in "
                              "another order, so the stream cannot continue: run the query again")
