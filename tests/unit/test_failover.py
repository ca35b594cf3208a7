"""czar/failover.py and the dispatcher's fail-over, with real gRPC: in-process servers in
the worker's shape, one of which fails mid-stream (as a worker killed while it sends rows)."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from czar.dispatch import Dispatcher, Job, make_jobs
from czar.failover import (ER_CONNECT_TO_FOREIGN_DATA_SOURCE, Replicas, no_replica_error, spread,
                           query_error, worker_failed)
from qserv.config import ClusterConfig, WorkerConfig
from qserv.errors import QservError
from qserv.grpc_auth import TokenCheck
from qserv.v1 import worker_pb2 as pb
from qserv.v1 import worker_pb2_grpc as pb_grpc
from tests.conftest import BASE_PORT

PORT = BASE_PORT + 880
TOKEN = "unit-token"
ROWS = [f"{i}\trow {i}\n".encode() for i in range(3000)]


def test_spread_rotates_replicas_by_chunk():
    assert spread(10, ["a", "b"]) == ["a", "b"]
    assert spread(11, ["a", "b"]) == ["b", "a"]
    assert spread(5, ["a"]) == ["a"]
    jobs = make_jobs([1, 2, 3, 4], {c: ["a", "b"] for c in (1, 2, 3, 4)}, chunks_per_job=64)
    assert {tuple(j.replicas): j.chunks for j in jobs} == {("b", "a"): [1, 3], ("a", "b"): [2, 4]}


def test_recently_failed_workers_go_last():
    now = [100.0]
    r = Replicas(clock=lambda: now[0])
    assert r.order(["a", "b", "c"]) == ["a", "b", "c"]
    r.failed("a")
    assert r.order(["a", "b", "c"]) == ["b", "c", "a"]
    now[0] += 11
    assert r.order(["a", "b", "c"]) == ["a", "b", "c"]
    r.failed("b")
    r.worked("b")
    assert r.order(["a", "b"]) == ["a", "b"]


class _Error(grpc.aio.AioRpcError):
    def __init__(self, code, details):
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def test_which_failures_another_replica_can_make_good():
    assert worker_failed(_Error(grpc.StatusCode.UNAVAILABLE, "connection refused"))
    # a call's deadline is the statement's time limit (czar/deadline.py): no replica has time
    # left, the query ends with 1969 (a stopped worker is found by keepalive: UNAVAILABLE)
    assert not worker_failed(_Error(grpc.StatusCode.DEADLINE_EXCEEDED, ""))
    assert query_error(_Error(grpc.StatusCode.DEADLINE_EXCEEDED, "")).code == 1969
    assert worker_failed(_Error(grpc.StatusCode.INVALID_ARGUMENT, "2013:Lost connection"))
    assert worker_failed(_Error(grpc.StatusCode.INVALID_ARGUMENT, "2002:Can't connect"))
    assert not worker_failed(_Error(grpc.StatusCode.INVALID_ARGUMENT, "1054:Unknown column"))
    assert not worker_failed(_Error(grpc.StatusCode.INVALID_ARGUMENT, "1317:interrupted"))


def test_no_replica_error_names_the_chunks():
    e = no_replica_error("demo", list(range(100, 113)), ["w1: UNAVAILABLE x", "w2: UNAVAILABLE y"])
    assert e.code == ER_CONNECT_TO_FOREIGN_DATA_SOURCE
    assert "chunks 100, 101, 102, 103, 104, 105, 106, 107, 108, 109 and 3 more of demo" in e.message
    assert "w1: UNAVAILABLE x; w2: UNAVAILABLE y" in e.message
    assert "chunk 7 of demo" in no_replica_error("demo", [7], []).message


class FakeWorker(pb_grpc.WorkerServicer):
    """Sends ROWS in pieces; `fail_after` pieces then ends as a dead worker's call ends."""

    def __init__(self, fail_after: int | None = None, sql_error: str | None = None,
                 rows=ROWS, piece_rows: int = 500):
        self.fail_after, self.sql_error, self.calls = fail_after, sql_error, 0
        self.rows, self.piece_rows = rows, piece_rows

    async def RunChunkQuery(self, request, context):
        self.calls += 1
        if self.sql_error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, self.sql_error)
        n = self.piece_rows
        for i in range(0, len(self.rows), n):
            if self.fail_after is not None and i // n == self.fail_after:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "Socket closed")
            yield pb.ResultBatch(tsv=b"".join(self.rows[i:i + n]))
            await asyncio.sleep(0)
        yield pb.ResultBatch(chunks_done=len(request.chunk_ids))


async def _with_workers(servicers: dict[str, FakeWorker], body, tmp_path):
    servers, workers = [], []
    for i, (name, servicer) in enumerate(servicers.items()):
        server = grpc.aio.server(interceptors=[TokenCheck(TOKEN)])
        pb_grpc.add_WorkerServicer_to_server(servicer, server)
        server.add_insecure_port(f"127.0.0.1:{PORT + i}")
        await server.start()
        servers.append(server)
        workers.append(WorkerConfig(name=name, grpc_port=PORT + i, mariadb_port=0))
    config = ClusterConfig(dir=str(tmp_path), workers=workers, grpc_token=TOKEN)
    dispatcher = Dispatcher(config, str(tmp_path))
    try:
        return await body(dispatcher)
    finally:
        await dispatcher.close()
        for server in servers:
            await server.stop(None)


async def _collect(pieces) -> bytes:
    out = b""
    async for piece in pieces:
        out += piece
    return out


def test_stream_survives_a_worker_dying_mid_stream(tmp_path):
    flaky, good = FakeWorker(fail_after=2), FakeWorker()

    async def body(d):
        pieces = await d.stream("q1", "demo", "SELECT 1", Job([7, 9], ["flaky", "good"]))
        return await _collect(pieces)
    got = asyncio.run(_with_workers({"flaky": flaky, "good": good}, body, tmp_path))
    assert got == b"".join(ROWS)   # every row once: none lost, none twice
    assert flaky.calls == 1 and good.calls == 1


def test_the_replica_continues_where_the_stream_stopped(tmp_path):
    """The replica cuts its pieces elsewhere (333 rows, not 500): the skip is by bytes, and
    the rows already sent are not sent again."""
    flaky, good = FakeWorker(fail_after=3), FakeWorker(piece_rows=333)

    async def body(d):
        return [p async for p in await d.stream("q6", "demo", "SELECT 1",
                                                Job([7, 9], ["flaky", "good"]))]
    pieces = asyncio.run(_with_workers({"flaky": flaky, "good": good}, body, tmp_path))
    assert b"".join(pieces) == b"".join(ROWS)
    assert b"".join(pieces[:3]) == b"".join(ROWS[:1500])   # these came from the first worker


def test_a_replica_sending_rows_in_another_order_is_an_error_not_a_wrong_answer(tmp_path):
    flaky, other = FakeWorker(fail_after=2), FakeWorker(rows=ROWS[::-1])

    async def body(d):
        return await _collect(await d.stream("q7", "demo", "SELECT 1",
                                             Job([7, 9], ["flaky", "other"])))
    with pytest.raises(QservError) as e:
        asyncio.run(_with_workers({"flaky": flaky, "other": other}, body, tmp_path))
    assert e.value.code == ER_CONNECT_TO_FOREIGN_DATA_SOURCE
    assert "another order" in e.value.message and "chunks 7, 9 of demo" in e.value.message


def test_merge_jobs_fail_over_and_a_query_error_does_not(tmp_path):
    flaky, good = FakeWorker(fail_after=1), FakeWorker()

    async def body(d):
        sunk = []

        async def sink(path):
            sunk.append(open(path, "rb").read())
        await d.run("q2", "demo", "SELECT 1", [Job([1], ["flaky", "good"])], sink)
        return sunk
    assert asyncio.run(_with_workers({"flaky": flaky, "good": good}, body, tmp_path)) == \
        [b"".join(ROWS)]

    bad_sql = FakeWorker(sql_error="1054:Unknown column 'x'")
    other = FakeWorker()

    async def body2(d):
        return await _collect(await d.stream("q3", "demo", "SELECT x", Job([1], ["bad", "other"])))
    with pytest.raises(QservError) as e:
        asyncio.run(_with_workers({"bad": bad_sql, "other": other}, body2, tmp_path))
    assert e.value.code == 1054 and other.calls == 0


def test_one_replica_dying_mid_stream_is_a_clear_error(tmp_path):
    async def body(d):
        return await _collect(await d.stream("q4", "demo", "SELECT 1", Job([5], ["only"])))
    with pytest.raises(QservError) as e:
        asyncio.run(_with_workers({"only": FakeWorker(fail_after=2)}, body, tmp_path))
    assert e.value.code == ER_CONNECT_TO_FOREIGN_DATA_SOURCE
    assert "chunk 5 of demo" in e.value.message and "only: UNAVAILABLE" in e.value.message
    assert "(mid-stream)" in e.value.message


def test_every_replica_down(tmp_path):
    async def body(d):
        await d.run("q5", "demo", "SELECT 1", [Job([3, 4], ["w1", "w2"])], lambda p: None)
    with pytest.raises(QservError) as e:
        asyncio.run(_with_workers({"w1": FakeWorker(fail_after=0), "w2": FakeWorker(fail_after=0)},
                                  body, tmp_path))
    assert e.value.code == ER_CONNECT_TO_FOREIGN_DATA_SOURCE
    assert "chunks 3, 4 of demo" in e.value.message and "w1:" in e.value.message \
        and "w2:" in e.value.message


async def _start_after(delay_s: float, servicer: FakeWorker, port: int):
    await asyncio.sleep(delay_s)
    server = grpc.aio.server(interceptors=[TokenCheck(TOKEN)])
    pb_grpc.add_WorkerServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


def _late_worker_run(tmp_path, start_after_s: float | None, streamed: bool):
    """One job whose only replica is not listening when the query starts (a worker being
    restarted), and comes up `start_after_s` later (None: never)."""
    late = FakeWorker()
    port = PORT + 20
    config = ClusterConfig(dir=str(tmp_path), grpc_token=TOKEN,
                           workers=[WorkerConfig(name="late", grpc_port=port, mariadb_port=0)])

    async def main():
        d = Dispatcher(config, str(tmp_path))
        starting = None if start_after_s is None else \
            asyncio.create_task(_start_after(start_after_s, late, port))
        try:
            if streamed:
                return await _collect(await d.stream("q8", "demo", "SELECT 1", Job([2], ["late"])))
            sunk = []

            async def sink(path):
                sunk.append(open(path, "rb").read())
            await d.run("q9", "demo", "SELECT 1", [Job([2], ["late"])], sink)
            return b"".join(sunk)
        finally:
            await d.close()
            if starting is not None:
                await (await starting).stop(None)
    return asyncio.run(main()), late


@pytest.mark.parametrize("streamed", [True, False])
def test_a_worker_coming_back_within_the_grace_is_used(tmp_path, streamed):
    """The first call is refused (nothing listens yet); the worker is up 0.3 s later, within
    RECONNECT_GRACE_S: its channel is asked to connect and the job runs there."""
    got, late = _late_worker_run(tmp_path, 0.3, streamed)
    assert got == b"".join(ROWS) and late.calls == 1


def test_a_worker_still_down_after_the_grace_is_1429(tmp_path):
    with pytest.raises(QservError) as e:
        _late_worker_run(tmp_path, None, streamed=True)
    assert e.value.code == ER_CONNECT_TO_FOREIGN_DATA_SOURCE and "chunk 2 of demo" in e.value.message
