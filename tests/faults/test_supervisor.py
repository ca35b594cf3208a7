"""Issue 15, item 13: a local cluster keeps running. `qserv up` starts a supervisor that
restarts any process killed with kill -9 (worker daemon, worker MariaDB, czar, czar
MariaDB) and `qserv status` says what it restarted and when; `qserv up` on a partly running
cluster starts only what is missing; `qserv down` leaves no process behind.

A real 2-worker cluster started through the CLI, with a small catalog loaded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from qserv.admin.cluster import cluster_processes, component_names, component_pid, status
from qserv.config import ClusterConfig
from qserv.mariadb import pid_alive
from tests.conftest import BASE_PORT, czar_connect, query

SUP_BASE = BASE_PORT + 200        # 200-202, 301-302
SUP_FRONTEND = BASE_PORT + 960    # 960, 968
OBJECTS = 2000


def qserv(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "qserv.admin.cli", *args], capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"qserv {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def sup_dir(tmp_path_factory):
    from qserv.admin.demo import generate
    d = tmp_path_factory.mktemp("supervised")
    qserv("up", "--dir", str(d), "--workers", "2", "--port", str(SUP_FRONTEND),
          "--base-port", str(SUP_BASE))
    try:
        spec = generate(tmp_path_factory.mktemp("sup-data"), n_objects=OBJECTS, name="demo")
        qserv("load", "--dir", str(d), "--quiet", str(spec))
        yield d
    finally:
        qserv("down", "--dir", str(d), check=False)


def pids(config) -> dict[str, int]:
    return {n: component_pid(config, n) for n in component_names(config) + ["supervisor"]} | {
        "supervisor": int(config.pid_file("supervisor").read_text())}


def wait_all_up(config, changed: str, old_pid: int, timeout: float = 90) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = status(config)
        if all(r.state == "up" for r in rows) and component_pid(config, changed) != old_pid \
                and "restarted" in next(r for r in rows if r.name == changed).detail:
            return rows
        time.sleep(0.3)
    raise AssertionError(f"not all up again after killing {changed}: {status(config)}")


def count_objects(config) -> int:
    conn = czar_connect(config, read_timeout=60)
    try:
        return query(conn, "SELECT COUNT(*) FROM Object")[1][0][0]
    finally:
        conn.close()


@pytest.mark.parametrize("victim", ["worker1", "worker0-mariadb", "czar", "czar-mariadb"])
def test_killed_process_is_restarted(sup_dir, victim):
    config = ClusterConfig.load(sup_dir)
    assert count_objects(config) == OBJECTS
    before = pids(config)
    os.kill(before[victim], signal.SIGKILL)
    rows = wait_all_up(config, victim, before[victim])
    after = pids(config)
    assert [n for n in before if n != victim and before[n] != after[n]] == [], (before, after)
    line = next(r for r in rows if r.name == victim)
    assert "restarted 1x by the supervisor, last at" in line.detail, line
    assert count_objects(config) == OBJECTS
    out = qserv("status", "--dir", str(sup_dir)).stdout   # exit 0: all up
    assert "restarted 1x" in next(ln for ln in out.splitlines() if ln.startswith(victim + " "))


def test_up_starts_only_what_is_missing(sup_dir):
    config = ClusterConfig.load(sup_dir)
    before = pids(config)
    for name in ("supervisor", "worker0"):
        os.kill(before[name], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (pid_alive(before["supervisor"]) or pid_alive(before["worker0"])) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    out = qserv("up", "--dir", str(sup_dir)).stdout
    assert "already running" in out
    after = pids(config)
    assert {n for n in before if before[n] != after[n]} == {"supervisor", "worker0"}, (before, after)
    assert all(pid_alive(p) for p in after.values())
    assert all(r.state == "up" for r in status(config))
    assert count_objects(config) == OBJECTS
    # nothing missing: nothing started
    out = qserv("up", "--dir", str(sup_dir)).stdout
    assert "nothing to start" in out and pids(config) == after
    # the restarts seen by the first supervisor are still reported by the second
    out = qserv("status", "--dir", str(sup_dir)).stdout
    assert "restarted 1x" in next(ln for ln in out.splitlines() if ln.startswith("czar "))


def test_down_leaves_no_process(sup_dir):
    config = ClusterConfig.load(sup_dir)
    before = pids(config)
    qserv("down", "--dir", str(sup_dir))
    assert [p for p in before.values() if pid_alive(p)] == []
    assert cluster_processes(config) == []
    out = qserv("status", "--dir", str(sup_dir), check=False).stdout
    assert " up " not in out
