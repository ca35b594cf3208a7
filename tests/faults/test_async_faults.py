"""Async queries under faults and limits (issue 17): the czar killed with kill -9 and
restarted by the supervisor (finished results still readable, the interrupted query run
again, the queued one run), a result over the size limit (FAILED_LR), expiry, the per-user
running cap (further queries queue, other users are not held), a client that disconnects in
the middle of a download."""

from __future__ import annotations

import os
import signal
import socket
import time

import pymysql
import pytest

from qserv.admin.cluster import component_pid, pid_alive, up
from qserv.admin.demo import generate
from qserv.admin.ingest_client import load
from qserv.catalog import DatabaseSpec
from qserv.mariadb import MariaDBServer
from tests.conftest import BASE_PORT, running_cluster
from tests.integration.test_async import USERS, connect, http, sql, wait_done

FAULT_FRONTEND = BASE_PORT + 1560   # MySQL 1560, HTTP 1568
FAULT_BASE = BASE_PORT + 1580       # MariaDB 1580..1582, gRPC 1681..1682
TTL_S = 6.0
SLOW = "SELECT COUNT(*) FROM Object WHERE SLEEP(0.004) = 0"   # ~ 5 s on 2 workers
SLOWER = "SELECT COUNT(*) FROM Object WHERE SLEEP(0.02) = 0"  # ~ 25 s (cancelled before)


@pytest.fixture(scope="module")
def fcluster(tmp_path_factory):
    spec = generate(tmp_path_factory.mktemp("afault-data"), n_objects=5000)
    with running_cluster(tmp_path_factory.mktemp("afault-cluster"), 2, FAULT_FRONTEND, FAULT_BASE,
                         users=USERS, async_max_running=1, async_sweep_interval_s=0.5,
                         async_result_ttl_s=TTL_S, async_max_result_bytes=1_000_000,
                         async_max_attempts=3, chunks_per_job=4) as config:
        load(config, DatabaseSpec.read(spec), show_progress=False)
        yield config


def state(config, qid, user="alice"):
    return http(config, "GET", f"/query-async/status/{qid}", user=user)["status"]


def wait_state(config, qid, wanted, user="alice", timeout=60):
    deadline = time.monotonic() + timeout
    while (s := state(config, qid, user))["status"] != wanted:
        assert time.monotonic() < deadline, s
        time.sleep(0.1)
    return s


def result_tables(config) -> set[str]:
    conn = pymysql.connect(unix_socket=MariaDBServer.for_czar(config).socket, user="root",
                           password=config.mariadb_root_password)
    try:
        return {r[0] for r in sql(conn, "SHOW TABLES FROM qservResult")}
    finally:
        conn.close()


def test_result_over_the_limit_fails_clearly(fcluster):
    conn = connect(fcluster)
    qid = sql(conn, "SUBMIT SELECT objectId, REPEAT('x', 250) AS pad FROM Object")[0][0]
    s = wait_done(fcluster, qid)
    assert s["status"] == "FAILED_LR", s
    assert "async_max_result_bytes" in s["error"] and s["errorCode"] == 1104
    with pytest.raises(pymysql.MySQLError) as err:
        sql(conn, f"SELECT * FROM qserv_result({qid})")
    assert "FAILED_LR" in str(err.value)
    assert f"result_{qid}" not in result_tables(fcluster)
    assert sql(conn, f"SELECT STATUS FROM information_schema.queries WHERE ID = {qid}") == \
        (("FAILED_LR",),)
    conn.close()


def test_results_expire(fcluster):
    conn = connect(fcluster)
    qid = sql(conn, "SUBMIT SELECT COUNT(*) FROM Object")[0][0]
    assert wait_done(fcluster, qid)["status"] == "COMPLETED"
    assert f"result_{qid}" in result_tables(fcluster)
    s = wait_state(fcluster, qid, "EXPIRED", timeout=TTL_S + 30)
    assert s["queryId"] == qid   # the metadata is kept
    assert f"result_{qid}" not in result_tables(fcluster)
    with pytest.raises(pymysql.MySQLError) as err:
        sql(conn, f"SELECT * FROM qserv_result({qid})")
    assert "EXPIRED" in str(err.value)
    conn.close()


def test_running_cap_queues_a_users_further_queries(fcluster):
    alice = connect(fcluster)
    first = sql(alice, "SUBMIT " + SLOWER)[0][0]
    second = sql(alice, "SUBMIT " + SLOWER)[0][0]
    wait_state(fcluster, first, "EXECUTING")
    assert state(fcluster, second)["status"] == "QUEUED", state(fcluster, second)
    bob = connect(fcluster, "bob")   # another user is not held by alice's cap
    theirs = sql(bob, "SUBMIT SELECT COUNT(*) FROM Object WHERE objectId = 1")[0][0]
    assert wait_done(fcluster, theirs, user="bob")["status"] == "COMPLETED"
    assert state(fcluster, first)["status"] == "EXECUTING", state(fcluster, first)
    assert state(fcluster, second)["status"] == "QUEUED", state(fcluster, second)
    sql(alice, f"CANCEL {first}")
    wait_state(fcluster, second, "EXECUTING")
    sql(alice, f"CANCEL {second}")
    assert state(fcluster, second)["status"] == "ABORTED", state(fcluster, second)
    alice.close()
    bob.close()


def test_client_gone_mid_download(fcluster):
    conn = connect(fcluster)
    qid = sql(conn, "SUBMIT SELECT objectId, ra, decl, gMag, flags FROM Object")[0][0]
    assert wait_done(fcluster, qid)["status"] == "COMPLETED"
    token = __import__("base64").b64encode(f"alice:{USERS['alice']}".encode()).decode()
    for _ in range(3):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((fcluster.host, fcluster.http_port))
        s.sendall(f"GET /query-async/result/{qid}?format=jsonl HTTP/1.1\r\nHost: x\r\n"
                  f"Authorization: Basic {token}\r\n\r\n".encode())
        assert s.recv(1024)
        s.close()
    lines = http(fcluster, "GET", f"/query-async/result/{qid}?format=jsonl", raw=True).splitlines()
    assert len(lines) == 5000 + 2   # schema, rows, end: the czar serves on
    conn.close()


def test_czar_kill_and_restart(fcluster):
    conn = connect(fcluster)
    done = sql(conn, "SUBMIT SELECT COUNT(*) FROM Object")[0][0]
    assert wait_done(fcluster, done)["status"] == "COMPLETED"
    running = sql(conn, "SUBMIT " + SLOW)[0][0]
    queued = sql(conn, "SUBMIT SELECT MAX(objectId) FROM Object")[0][0]
    wait_state(fcluster, running, "EXECUTING")
    time.sleep(1.0)
    conn.close()
    pid = component_pid(fcluster, "czar")
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while pid_alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    from tests.integration.test_cancel import worker_sleeps
    deadline = time.monotonic() + 15   # workers stop what the dead czar left running
    while worker_sleeps(fcluster):
        assert time.monotonic() < deadline, "chunk queries of the dead czar still run"
        time.sleep(0.1)
    up(fcluster, echo=lambda *_: None)   # starts what is missing: the czar
    s = state(fcluster, done)
    assert s["status"] == "COMPLETED"
    conn = connect(fcluster)
    assert sql(conn, f"SELECT * FROM qserv_result({done})") == ((5000,),)
    s = wait_done(fcluster, running)
    assert s["status"] == "COMPLETED", s
    assert sql(conn, f"SELECT * FROM qserv_result({running})") == ((5000,),)
    assert s["attempts"] == 2   # run again after the restart
    assert wait_done(fcluster, queued)["status"] == "COMPLETED"
    assert sql(conn, f"SELECT * FROM qserv_result({queued})") == \
        sql(conn, "SELECT MAX(objectId) FROM Object")
    conn.close()


def test_look_ups_do_not_wait_for_a_scan(fcluster):
    """A query over a few chunks goes before the queued jobs of a scan (czar and worker slots,
    qserv/scheduling.py): it answers while the scan is still running."""
    conn = connect(fcluster)
    ids = ", ".join(str(r[0]) for r in sql(conn, "SELECT objectId FROM Object ORDER BY objectId LIMIT 5"))
    scan = sql(conn, "SUBMIT " + SLOWER)[0][0]
    wait_state(fcluster, scan, "EXECUTING")
    time.sleep(1.0)   # its jobs hold every scan slot and the rest wait
    before = state(fcluster, scan)["completedChunks"]
    assert sql(conn, f"SELECT COUNT(*) FROM Object WHERE objectId IN ({ids})") == ((5,),)
    after = state(fcluster, scan)
    assert after["status"] == "EXECUTING"
    # it waited at most for the scan jobs running when it came (2 per worker, 4 chunks
    # each), not for the scan's queue
    assert after["completedChunks"] - before <= 2 * 2 * 4, (before, after["completedChunks"])
    sql(conn, f"CANCEL {scan}")
    conn.close()


def test_kill_a_sync_query_by_its_id(fcluster):
    """A sync query is in the registry too: SHOW PROCESSLIST gives its id, and KILL QUERY <id>
    (or CANCEL, or DELETE /query-async/<id>) from another session stops it."""
    import threading
    victim, errors = connect(fcluster), []

    def run():
        try:
            sql(victim, SLOWER)
        except pymysql.MySQLError as e:
            errors.append(e)
    thread = threading.Thread(target=run)
    thread.start()
    other = connect(fcluster)
    deadline = time.monotonic() + 20
    while not (found := [r for r in sql(other, "SHOW FULL PROCESSLIST")
                         if r[1] == "SYNC" and r[-1] == SLOWER]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    sql(other, f"KILL QUERY {found[0][0]}")
    thread.join(30)
    assert not thread.is_alive() and errors, "the sync query was not stopped"
    assert "interrupted" in str(errors[0]).lower() or "killed" in str(errors[0]).lower(), errors
    from tests.integration.test_cancel import worker_sleeps
    deadline = time.monotonic() + 5
    while worker_sleeps(fcluster):
        assert time.monotonic() < deadline, "chunk queries still run after KILL"
        time.sleep(0.1)
    assert sql(victim, "SELECT 1") == ((1,),)   # the session lives on
    victim.close()
    other.close()
