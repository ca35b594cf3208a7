"""`qserv up` / `status` / `down` on a cluster of its own (2 workers, separate ports), through
the real CLI, without the supervisor (`--no-supervise`: a crashed daemon stays down, as the
tests below need; tests/faults/test_supervisor.py covers the supervised cluster): a second
`up` starting nothing, showing a crashed daemon, leaving no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pymysql
import pytest

from qserv.admin.cluster import all_mariadb
from qserv.config import ClusterConfig
from qserv.mariadb import pid_alive, read_pid
from tests.conftest import BASE_PORT, czar_connect, query

LIFE_BASE = BASE_PORT + 50
LIFE_FRONTEND = BASE_PORT + 1050


def qserv(*args, check=True, env=None):
    proc = subprocess.run([sys.executable, "-m", "qserv.admin.cli", *args], capture_output=True, text=True,
                          timeout=180, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"qserv {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def life_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("lifecycle")
    # A small result limit, inherited by the daemons through the QSERV_* overrides.
    qserv("up", "--dir", str(d), "--workers", "2", "--port", str(LIFE_FRONTEND),
          "--base-port", str(LIFE_BASE), "--no-supervise", env={"QSERV_MAX_RESULT_ROWS": "300"})
    yield d
    qserv("down", "--dir", str(d), check=False)


def all_pids(config: ClusterConfig) -> list[int]:
    pids = [read_pid(config.pid_file(n)) for n in [w.name for w in config.workers] + ["czar"]]
    pids += [read_pid(db.pid_file) for db in all_mariadb(config).values()]
    return [p for p in pids if p]


def test_status_all_up(life_dir):
    out = qserv("status", "--dir", str(life_dir)).stdout
    lines = [ln for ln in out.splitlines() if ln.strip()]
    # czar mariadb, 2 worker mariadbs, 2 workers, czar, the supervisor (off here)
    assert len(lines) == 1 + 2 + 2 + 1 + 1
    assert all(" up " in ln for ln in lines[:-1]), out
    assert lines[-1].split()[:2] == ["supervisor", "off"], out


def test_second_up_starts_nothing(life_dir):
    config = ClusterConfig.load(life_dir)
    pids = all_pids(config)
    proc = qserv("up", "--dir", str(life_dir), "--no-supervise")
    assert "nothing to start" in proc.stdout
    assert all_pids(config) == pids


def test_load_and_query(life_dir, tmp_path_factory):
    from qserv.admin.demo import generate
    spec = generate(tmp_path_factory.mktemp("life-data"), n_objects=500, name="demo")
    qserv("load", "--dir", str(life_dir), "--quiet", str(spec))
    conn = czar_connect(ClusterConfig.load(life_dir))
    assert query(conn, "SELECT COUNT(*) FROM Object")[1] == [(500,)]
    conn.close()


def test_result_limit_gives_a_clear_error(life_dir):
    conn = czar_connect(ClusterConfig.load(life_dir))
    with pytest.raises(pymysql.MySQLError) as err:
        query(conn, "SELECT * FROM Object")
    assert err.value.args[0] == 1104 and "300 rows" in err.value.args[1]
    assert query(conn, "SELECT COUNT(*) FROM Object WHERE objectId < 1000")[1][0][0] > 0
    conn.close()


def test_crashed_worker_shows_in_status(life_dir):
    config = ClusterConfig.load(life_dir)
    pid = read_pid(config.pid_file("worker1"))
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc = qserv("status", "--dir", str(life_dir), check=False)
    assert proc.returncode == 1
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("worker1 "))
    assert "crashed" in line


def test_query_with_a_dead_worker_fails_clearly(life_dir):
    """No hang, no partial answer: an error naming the worker, and the connection lives on."""
    conn = czar_connect(ClusterConfig.load(life_dir))
    with pytest.raises(pymysql.MySQLError) as err:
        query(conn, "SELECT COUNT(*) FROM Object")
    assert "worker1" in str(err.value)
    assert query(conn, "SELECT COUNT(*) FROM Filter")[1][0][0] == 6
    conn.close()


def test_down_leaves_no_process(life_dir):
    config = ClusterConfig.load(life_dir)
    pids = all_pids(config)
    assert pids
    qserv("down", "--dir", str(life_dir))
    assert [p for p in pids if pid_alive(p)] == []
    out = qserv("status", "--dir", str(life_dir), check=False).stdout
    assert " up " not in out
