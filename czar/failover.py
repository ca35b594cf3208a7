"""Replicas and fail-over: which worker runs a job first, which failures another replica can
make good, and the error when none can.

- Order: each chunk's replicas are rotated by the chunk id (`spread`), so with R = 2 every
  worker is the first choice for its share of chunks (placement lists them sorted by name,
  which left the last worker idle), and a worker that failed in the last `SUSPECT_S` seconds
  goes last (`Replicas.order`), so queries after a crash do not all knock at it first.
- Failover: a job is retried on the next replica when the worker could not run it — the call
  failed (worker down, connection lost, timeout: any gRPC status but INVALID_ARGUMENT, which
  carries the SQL error of a query that would fail anywhere), or its MariaDB was down or went
  away (`WORKER_DOWN_CODES`). A query's own error (1054, 1146, a KILL, ...) is not retried.
- The error when no replica could run a job names the database, the job's chunks and what
  each worker said, with MariaDB's code for an unreachable remote shard (1429, as Spider and
  FederatedX report it).
"""

from __future__ import annotations

import time

import grpc

from qserv.errors import QservError

ER_CONNECT_TO_FOREIGN_DATA_SOURCE = 1429
# The worker reached its MariaDB no more (or not yet): too many connections, server
# shutdown, connection killed by a shutdown, can't connect, server gone, lost connection.
WORKER_DOWN_CODES = {1040, 1053, 1927, 2002, 2003, 2006, 2013}
SUSPECT_S = 10.0
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
    """True when another replica may succeed where this call failed."""
    if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
        return True
    return sql_code(e.details()) in WORKER_DOWN_CODES


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
