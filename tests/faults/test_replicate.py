"""Issue 15, item 14 (`qserv replicate`): with R = 2, a worker lost for good (its daemon and
its MariaDB killed with kill -9) leaves some chunks with one live replica; `qserv
replicate` copies them to another live worker, verifies each copy (row counts per
transaction, CHECKSUM TABLE) and only then lists it in the placement. Afterwards every
query is still answered as the oracle does with the other original replica killed too.
A copy that does not verify is dropped and never used. (A small catalog in few chunks keeps it
short; the reference answers are the healthy cluster's.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pymysql
import pytest

from partitioner.run import Options, partition
from qserv.admin import replicate as rp
from qserv.catalog import DatabaseSpec
from qserv.admin.demo import generate
from qserv.admin.cluster import _spawn, _wait_port, worker_mariadb
from qserv.admin.ingest_client import ingest_command
from qserv.mariadb import pid_alive, read_pid
from tests.conftest import assert_same_result, czar_connect, query, running_cluster, BASE_PORT
from tests.faults.test_failover import QUERIES, placement

REP_BASE = BASE_PORT + 900       # 900-903, 1001-1003
REP_FRONTEND = BASE_PORT + 920   # 920, 928


@pytest.fixture(scope="module")
def rep_cluster(tmp_path_factory):
    """A small catalog in few chunks (order 3): the test copies about a third of them."""
    spec = generate(tmp_path_factory.mktemp("rep-data"), n_objects=3000, chunk_order=3)
    out = tmp_path_factory.mktemp("rep-part") / "out"
    partition(DatabaseSpec.read(spec), Options(out_dir=str(out), progress=False))
    with running_cluster(tmp_path_factory.mktemp("rep-cluster"), 3, REP_FRONTEND, REP_BASE) as config:
        assert ingest_command(config, str(out), replication=2, progress=False) == 0
        yield config


@pytest.fixture(scope="module")
def expected(rep_cluster):
    """The answers of the whole cluster before any fault (the differential suite holds them
    equal to the oracle's)."""
    conn = czar_connect(rep_cluster)
    try:
        return {sql: query(conn, sql) for sql, _ in QUERIES}
    finally:
        conn.close()


def kill9(pid):
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def tables_of(config, worker: str) -> set[str]:
    conn = worker_mariadb(config, worker).connect()
    with conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'demo'")
        out = {r[0] for r in cur.fetchall()}
    conn.close()
    return out


def test_replicate_restores_two_replicas_after_losing_a_worker(rep_cluster, expected, monkeypatch):
    config = rep_cluster
    before = placement(config)
    lost, other, third = "worker1", "worker0", "worker2"
    kill9(read_pid(config.pid_file(lost)))
    kill9(read_pid(worker_mariadb(config, lost).pid_file))
    only_on = sorted(c for c, ws in before.items() if set(ws) == {lost, other})
    assert only_on

    # Without replication, losing the other replica too loses chunks: a clear error.
    kill9(read_pid(config.pid_file(other)))
    conn = czar_connect(config, read_timeout=120)
    with pytest.raises(pymysql.err.OperationalError) as e:
        query(conn, "SELECT COUNT(*) FROM Object")
    assert e.value.args[0] == 1429
    conn.close()
    _spawn(config, other, ["worker", "--name", other])
    _wait_port(config, other, config.worker(other).grpc_port)

    # A copy whose checksum differs (copy_table asks the source's, then the copy's, in one
    # thread) is dropped, and the placement does not change.
    real, calls = rp.Workers.checksum, threading.local()

    def corrupt_copies(self, w, db, t):
        calls.n = getattr(calls, "n", 0) + 1
        return real(self, w, db, t) if calls.n % 2 else "corrupted"
    monkeypatch.setattr(rp.Workers, "checksum", corrupt_copies)
    reports = rp.replicate(config, "demo", echo=lambda *_: None)
    short = {c for c, ws in before.items() if lost in ws}
    assert not reports[0].ok and set(reports[0].failed) == short, reports[0].failed
    assert "checksums of demo." in reports[0].failed[only_on[0]]
    assert placement(config) == before
    assert not any(t.endswith(f"_{only_on[0]}") for t in tables_of(config, third))
    monkeypatch.undo()

    proc = subprocess.run([sys.executable, "-m", "qserv.admin.cli", "replicate", "demo", "--dir",
                           str(config.root)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"chunk {only_on[0]} copied to {third} (verified)" in proc.stdout
    after = placement(config)
    assert set(after) == set(before)
    assert all(len(set(ws)) == 2 and lost not in ws for ws in after.values()), after
    for c in only_on:
        assert set(after[c]) == {other, third}
    # Nothing is left to do: a second run copies nothing.
    again = rp.replicate(config, "demo", echo=lambda *_: None)
    assert again[0].ok and again[0].copied == {}

    # The other original replica of those chunks dies too: every answer is still right.
    kill9(read_pid(config.pid_file(other)))
    conn = czar_connect(config, read_timeout=120)
    try:
        for sql, ordered in QUERIES:
            assert_same_result(query(conn, sql), expected[sql], ordered)
    finally:
        conn.close()
