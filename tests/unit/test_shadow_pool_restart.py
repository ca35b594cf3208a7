"""czar/shadow_pool.py against a real private MariaDB killed and started again (as the
supervisor restarts the czar's): a connection borrowed across the restart and given back
unused must not be handed out again, however short its idleness (its next statement failed
with 2006 "MySQL server has gone away")."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from czar.shadow_pool import ShadowPool
from qserv.config import MariaDBSettings
from qserv.mariadb import MariaDBServer, read_pid
from tests.conftest import BASE_PORT

PORT = BASE_PORT + 960


@pytest.fixture()
def server(tmp_path):
    s = MariaDBServer(tmp_path / "m", PORT, MariaDBSettings())
    log = open(tmp_path / "m.log", "ab")
    s.start(log)
    try:
        yield s, log
    finally:
        s.stop()
        log.close()


def _kill_and_wait(s) -> None:
    pid = read_pid(s.pid_file)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


async def _select_one(pool: ShadowPool) -> int:
    sc = await pool.acquire(None)
    try:
        async with sc.conn.cursor() as cur:
            await cur.execute("SELECT 1")
            return (await cur.fetchone())[0]
    finally:
        pool.release(sc)


def test_a_connection_that_lived_through_a_restart_is_not_handed_out(server):
    s, log = server

    async def main():
        pool = ShadowPool(s.socket, "root", 4)
        try:
            assert await _select_one(pool) == 1
            held = await pool.acquire(None)      # borrowed across the restart...
            await asyncio.to_thread(_kill_and_wait, s)
            await asyncio.to_thread(s.start, log)
            await asyncio.sleep(0.05)            # (the loop sees the old socket close)
            pool.release(held)                   # ...and given back unused, just now
            return [await _select_one(pool) for _ in range(3)]
        finally:
            pool.close()
    assert asyncio.run(main()) == [1, 1, 1]
