"""KILL QUERY reaches the workers: the client gets an error at once and no worker MariaDB
keeps running the chunk queries."""

from __future__ import annotations

import threading
import time

import pymysql
import pytest

from qserv.admin.cluster import worker_mariadb
from tests.conftest import czar_connect, query

SLOW = "SELECT COUNT(*) FROM Object WHERE SLEEP(0.002) = 0"  # ~40 s of sleeping in all


def worker_sleeps(config) -> int:
    n = 0
    for w in config.workers:
        conn = worker_mariadb(config, w.name).connect()
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%SLEEP(%' AND ID <> CONNECTION_ID()")
            n += cur.fetchone()[0]
        conn.close()
    return n


def test_kill_query_stops_the_workers(demo_cluster):
    victim = czar_connect(demo_cluster)
    connection_id = query(victim, "SELECT CONNECTION_ID()")[1][0][0]

    def kill():
        deadline = time.monotonic() + 20
        while worker_sleeps(demo_cluster) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # wait until the chunk queries really run
        killer = czar_connect(demo_cluster)
        query(killer, f"KILL QUERY {connection_id}")
        killer.close()

    thread = threading.Thread(target=kill)
    thread.start()
    started = time.monotonic()
    with pytest.raises(pymysql.MySQLError) as err:
        query(victim, SLOW)
    elapsed = time.monotonic() - started
    thread.join()
    assert "killed" in str(err.value).lower()
    assert elapsed < 20, f"the killed query still took {elapsed:.1f} s"
    deadline = time.monotonic() + 5
    while worker_sleeps(demo_cluster) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker_sleeps(demo_cluster) == 0, "chunk queries still run on a worker after KILL"
    assert query(victim, "SELECT COUNT(*) FROM Filter")[1] == [(6,)]  # the connection lives on
    victim.close()
