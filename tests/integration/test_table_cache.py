"""The worker's MariaDB keeps few tables open while ingest calls run (worker/table_cache.py),
checked on a real server: lowered for the first call, kept while calls overlap or follow
within the linger, back to the query-time value after it."""

from __future__ import annotations

import asyncio

import asyncmy
import pytest

from worker.table_cache import IngestTableCache


def global_cache(server) -> int:
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@GLOBAL.table_open_cache")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def test_lowered_while_ingesting_and_back_after_the_linger(oracle):
    normal = global_cache(oracle)
    assert normal > 100

    async def scenario():
        pool = await asyncmy.create_pool(unix_socket=oracle.socket, user="root", autocommit=True)

        async def pool_factory():
            return pool
        cache = IngestTableCache(pool_factory, normal=normal, during_ingest=100, linger_s=0.3)
        seen = {}
        try:
            async def call(name: str, seconds: float):
                async with cache.ingesting():
                    await asyncio.sleep(seconds)
                    seen[name] = global_cache(oracle)
            await asyncio.gather(call("a", 0.1), call("b", 0.2))   # overlapping calls
            seen["within linger"] = global_cache(oracle)
            await call("c", 0.0)                                    # a next step
            await asyncio.sleep(0.8)
            seen["after linger"] = global_cache(oracle)
        finally:
            await cache.close()
            pool.close()
            await pool.wait_closed()
        return seen
    try:
        seen = asyncio.run(scenario())
    finally:
        if global_cache(oracle) != normal:   # leave the shared oracle as it was
            conn = oracle.connect()
            conn.cursor().execute(f"SET GLOBAL table_open_cache = {normal}")
            conn.close()
    assert seen == {"a": 100, "b": 100, "within linger": 100, "c": 100, "after linger": normal}


def test_a_restarted_worker_sets_back_what_a_killed_one_left(oracle):
    normal = global_cache(oracle)
    conn = oracle.connect()
    conn.cursor().execute("SET GLOBAL table_open_cache = 100")   # a worker killed while lowered
    conn.close()

    async def scenario():
        pool = await asyncmy.create_pool(unix_socket=oracle.socket, user="root", autocommit=True)

        async def pool_factory():
            return pool
        try:
            await IngestTableCache(pool_factory, normal=normal, during_ingest=400).reset()
        finally:
            pool.close()
            await pool.wait_closed()
    asyncio.run(scenario())
    assert global_cache(oracle) == normal


@pytest.mark.parametrize("during", [0, 10_000])
def test_left_alone_when_not_smaller(oracle, during):
    normal = global_cache(oracle)

    async def scenario():
        async def no_pool():
            raise AssertionError("no statement expected")
        cache = IngestTableCache(no_pool, normal=normal, during_ingest=during)
        async with cache.ingesting():
            pass
        await cache.close()
    asyncio.run(scenario())
    assert global_cache(oracle) == normal


def test_an_ingest_call_goes_on_when_the_cache_cannot_be_lowered():
    """Lowering is an optimisation: a server that refuses it (or is gone) fails no call."""
    async def scenario():
        async def broken_pool():
            raise ConnectionRefusedError("no server")
        cache = IngestTableCache(broken_pool, normal=4000, during_ingest=400, linger_s=0.01)
        ran = []
        async with cache.ingesting():
            ran.append(True)
        await asyncio.sleep(0.05)
        await cache.close()
        return ran, cache.lowered_now
    assert asyncio.run(scenario()) == ([True], False)
