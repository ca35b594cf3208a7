"""Issue 15, item 15: what killed queries leave behind — result tables and spool files on
the czar, OUTFILEs and load spools on workers — is removed when the czar or the worker starts
again and every `cleanup_interval_s` while they run, and never what a running query uses.

A real 2-worker cluster (1 s sweeps) with the demo catalog. Leftovers are made by kill -9
of the czar while a merge query waits for a stopped worker (its result table stays), and of
a worker daemon while its MariaDB writes an OUTFILE; files of the same names are also put
in place, so each test also checks a leftover the kill may not have caught in time.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pymysql
import pytest

from qserv.catalog import DatabaseSpec
from qserv.admin.cluster import czar_mariadb, up, worker_mariadb
from qserv.admin.ingest_client import load
from qserv.mariadb import pid_alive, read_pid
from tests.conftest import BASE_PORT, assert_same_result, czar_connect, query, running_cluster

LEFT_BASE = BASE_PORT + 450      # 450-452, 551-552
LEFT_FRONTEND = BASE_PORT + 940  # 940, 948
MERGE = "SELECT flags, COUNT(*), SUM(uMag) FROM Object GROUP BY flags ORDER BY flags"
STREAM = "SELECT * FROM Source WHERE psfFlux > 0"


@pytest.fixture(scope="module")
def left_cluster(tmp_path_factory, demo_spec_path):
    with running_cluster(tmp_path_factory.mktemp("leftovers"), 2, LEFT_FRONTEND, LEFT_BASE,
                         cleanup_interval_s=1.0) as config:
        load(config, DatabaseSpec.read(demo_spec_path), show_progress=False)
        yield config


def result_tables(config) -> list[str]:
    conn = czar_mariadb(config).connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA = 'qservResult'")
            return sorted(r[0] for r in cur.fetchall())
    finally:
        conn.close()


def wait_for(predicate, timeout: float = 30, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def plant_result_table(config, name: str) -> None:
    conn = czar_mariadb(config).connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE qservResult.`{name}` (x INT) ENGINE=MyISAM")
    finally:
        conn.close()


def spool_dir(config):
    return czar_mariadb(config).outfile_dir


def outfile_dir(config, worker: str):
    return worker_mariadb(config, worker).outfile_dir


def in_background(config, sql):
    """Run `sql` in a thread; returns (thread, box) where box gets the result or the error."""
    box = {}

    def run():
        conn = czar_connect(config, read_timeout=120)
        try:
            box["result"] = query(conn, sql)
        except Exception as e:  # noqa: BLE001 - inspected by the test
            box["error"] = e
        finally:
            conn.close()
    t = threading.Thread(target=run)
    t.start()
    return t, box


def test_czar_killed_mid_query_leaves_nothing_after_restart(left_cluster):
    config = left_cluster
    stopped = read_pid(config.pid_file("worker1"))
    before = set(result_tables(config))
    os.kill(stopped, signal.SIGSTOP)   # the merge query waits for worker1's job
    try:
        t, _ = in_background(config, MERGE)
        table = wait_for(lambda: set(result_tables(config)) - before, what="a result table")
        czar = read_pid(config.pid_file("czar"))
        os.kill(czar, signal.SIGKILL)
        wait_for(lambda: not pid_alive(czar), what="the czar to die")
    finally:
        os.kill(stopped, signal.SIGCONT)
    t.join(60)
    spool = spool_dir(config) / f"0badc0de_7-{uuid.uuid4().hex[:6]}.tsv"   # a job's spooled rows
    spool.write_bytes(b"1\t2\n")
    time.sleep(1.5)
    assert table <= set(result_tables(config))   # nobody else removes them
    up(config, echo=lambda *_: None)             # starts the czar again (only the czar)
    assert not (table & set(result_tables(config))), result_tables(config)
    assert not spool.exists()
    conn = czar_connect(config)
    assert len(query(conn, MERGE)[1]) > 0
    conn.close()


def test_worker_killed_mid_query_leaves_no_file_after_restart(left_cluster):
    config = left_cluster
    directory = outfile_dir(config, "worker0")
    planted = [directory / f"0badc0de_8-{uuid.uuid4().hex}.tsv",
               directory / f"contrib-{uuid.uuid4().hex}.csv",
               directory / f"load-{uuid.uuid4().hex}.csv",
               directory / f"bundle-{uuid.uuid4().hex}.csv",
               directory / f"bundle-{uuid.uuid4().hex}.fifo"]
    victim = read_pid(config.pid_file("worker0"))
    t, _ = in_background(config, STREAM)
    try:   # kill -9 the daemon while its MariaDB writes an OUTFILE, when it can be caught
        wait_for(lambda: any(n.endswith(".tsv") for n in os.listdir(directory)), timeout=10)
    except AssertionError:
        pass
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: not pid_alive(victim), what="worker0 to die")
    t.join(60)
    for p in planted:
        p.write_bytes(b"x\n")
    time.sleep(1.5)
    assert all(p.exists() for p in planted)   # nobody removes them while the daemon is down
    up(config, echo=lambda *_: None)
    left = [n for n in os.listdir(directory) if n.endswith((".tsv", ".csv"))]
    assert left == [], left
    # the czar uses a restarted worker again within a second (its reconnect back-off)
    conn = czar_connect(config)
    deadline = time.monotonic() + 15
    while True:
        try:
            assert query(conn, "SELECT COUNT(*) FROM Object")[1][0][0] > 0
            break
        except pymysql.err.OperationalError as e:
            if e.args[0] != 1429 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    conn.close()


def test_periodic_sweep_spares_running_queries(left_cluster, oracle):
    """While a merge query waits (worker1 stopped for several sweeps), the sweeps remove a
    dead czar run's table and files and a worker's stray OUTFILE, and not the query's own
    table; the query then answers as the oracle does."""
    config = left_cluster
    dead_table = "result_0badc0de_9"
    plant_result_table(config, dead_table)
    dead_spool = spool_dir(config) / "0badc0de_9-x.tsv"
    dead_spool.write_bytes(b"1\n")
    stray = outfile_dir(config, "worker0") / f"0badc0de_9-{uuid.uuid4().hex}.tsv"
    stray.write_bytes(b"1\n")
    stopped = read_pid(config.pid_file("worker1"))
    before = set(result_tables(config))
    os.kill(stopped, signal.SIGSTOP)
    try:
        t, box = in_background(config, MERGE)
        own = wait_for(lambda: set(result_tables(config)) - before, what="the query's table")
        wait_for(lambda: dead_table not in result_tables(config), timeout=15,
                 what="the sweep of the dead run's table")
        time.sleep(2.5)   # more sweeps
        assert own <= set(result_tables(config))
        assert not dead_spool.exists()
        wait_for(lambda: not stray.exists(), timeout=15, what="the stray OUTFILE's removal")
    finally:
        os.kill(stopped, signal.SIGCONT)
    t.join(120)
    assert "error" not in box, box
    conn = oracle.connect(database="demo")
    assert_same_result(box["result"], query(conn, MERGE), ordered=True)
    conn.close()
    wait_for(lambda: not (own & set(result_tables(config))), what="the query's own drop")


def test_streams_are_whole_under_frequent_sweeps(left_cluster, oracle):
    """Large streamed results (OUTFILEs followed on workers) while the workers sweep every
    second: every row arrives."""
    conn = czar_connect(left_cluster, read_timeout=120)
    ref = oracle.connect(database="demo")
    try:
        expected = query(ref, STREAM)
        for _ in range(3):
            assert_same_result(query(conn, STREAM), expected, ordered=False)
    finally:
        conn.close()
        ref.close()
