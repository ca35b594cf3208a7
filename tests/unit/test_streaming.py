"""czar/streaming.FannedIn: rows of all jobs as they arrive, errors before the first row
raised before anything is sent, and every job stopped on close.

The jobs here are in-process streams of OUTFILE text standing in for the workers' gRPC
streams (the real ones are covered by the integration and differential suites); what is
tested is the fan-in's ordering, error and cancellation logic."""

from __future__ import annotations

import asyncio

import pytest

from czar.dispatch import Job
from czar.streaming import FannedIn
from qserv.errors import QservError
from qserv.scheduling import ClassSlots


class ScriptedDispatcher:
    """Each job (keyed by its first chunk) plays a script: ("rows", text), ("wait", event),
    ("fail", message) — before the stream opens when it is the first step."""

    def __init__(self, scripts: dict[int, list]):
        self.scripts = scripts
        self.slots = {"w": ClassSlots(8)}
        self.cancelled: list[str] = []
        self.closed: list[int] = []

    def is_scan(self, jobs) -> bool:
        return False

    async def stream(self, query_id, database, template, job, session_sql="", scan=False):
        script = list(self.scripts[job.chunks[0]])
        if script and script[0][0] == "fail":
            raise QservError(1054, script[0][1])

        async def pieces():
            try:
                for step, arg in script:
                    if step == "rows":
                        yield arg
                    elif step == "wait":
                        await arg.wait()
                    else:
                        raise QservError(1105, arg)
            finally:
                self.closed.append(job.chunks[0])
        return pieces()

    async def cancel(self, query_id):
        self.cancelled.append(query_id)


def jobs(*firsts):
    return [Job([c], ["w"]) for c in firsts]


def values(batches):
    return [row[0] for batch in batches for row in (batch.rows() if hasattr(batch, "rows") else batch)]


async def collect(fan, limit=None):
    out = []
    async for batch in fan:
        out.append(batch)
        if limit and len(values(out)) >= limit:
            break
    return out


def test_a_slow_job_does_not_hold_back_the_others():
    async def run():
        slow_done = asyncio.Event()
        d = ScriptedDispatcher({1: [("rows", b"1\n"), ("wait", slow_done), ("rows", b"2\n")],
                                2: [("rows", b"3\n"), ("rows", b"4\n")]})
        fan = FannedIn(d, "q", "db", "t", jobs(1, 2), ncols=1)
        await fan.first_ready()
        seen = await asyncio.wait_for(collect(fan, limit=3), 5)  # sequential jobs would hang here
        # job 2 finished while job 1 still waits: its rows came first
        assert sorted(values(seen)) == [b"1", b"3", b"4"]
        slow_done.set()
        rest = await collect(fan)
        assert values(rest) == [b"2"]
        await fan.aclose()
        assert d.cancelled == []  # everything had ended: nothing to kill
    asyncio.run(run())


def test_an_error_before_the_first_row_is_raised_before_anything_is_sent():
    async def run():
        never = asyncio.Event()
        d = ScriptedDispatcher({1: [("wait", never), ("rows", b"1\n")],
                                2: [("fail", "Unknown column 'x'")]})
        fan = FannedIn(d, "q", "db", "t", jobs(1, 2), ncols=1)
        with pytest.raises(QservError) as err:
            await fan.first_ready()
        assert err.value.code == 1054
        assert d.cancelled == ["q"] and 1 in d.closed  # the waiting job was stopped
    asyncio.run(run())


def test_an_error_after_rows_comes_in_place_of_the_next_batch():
    async def run():
        d = ScriptedDispatcher({1: [("rows", b"1\n"), ("fail", "worker died")]})
        fan = FannedIn(d, "q", "db", "t", jobs(1), ncols=1)
        await fan.first_ready()
        got = []
        with pytest.raises(QservError, match="worker died"):
            async for batch in fan:
                got.append(batch)
        assert values(got) == [b"1"]
        await fan.aclose()
    asyncio.run(run())


def test_jobs_without_rows_give_an_empty_result():
    async def run():
        d = ScriptedDispatcher({1: [], 2: []})
        fan = FannedIn(d, "q", "db", "t", jobs(1, 2), ncols=1)
        await fan.first_ready()
        assert await collect(fan) == []
        await fan.aclose()
    asyncio.run(run())


def test_closing_early_stops_running_jobs_and_bounds_what_waits():
    async def run():
        never = asyncio.Event()
        many = [("rows", f"{i}\n".encode()) for i in range(100)]
        d = ScriptedDispatcher({1: many, 2: [("rows", b"x\n"), ("wait", never)]})
        fan = FannedIn(d, "q", "db", "t", jobs(1, 2), ncols=1)
        await fan.first_ready()
        await asyncio.sleep(0.01)  # let the pumps run until the queue is full
        assert fan._queue.qsize() <= fan._queue.maxsize
        await fan.aclose()
        assert d.cancelled == ["q"] and sorted(d.closed) == [1, 2]
    asyncio.run(run())
