"""qserv/admin/node.py and qserv/admin/probe.py, what every container runs: one role in the foreground
(its MariaDB, then its daemon) and the readiness probe on the role's real interfaces. Real
mariadbd, real daemons; the czar and a worker as two nodes sharing one config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pymysql
import pytest

from qserv.config import ClusterConfig
from qserv.mariadb import pid_alive

BASE = int(os.environ.get("QSERV_TEST_BASE_PORT", "23306")) + 700


def probe(config: ClusterConfig, role: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qserv.admin.probe", role, "--config", str(config.root), *extra],
                          capture_output=True, text=True, timeout=60)


def wait_ready(config, role, node, *extra, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert node.poll() is None, f"{role} node exited with {node.returncode}"
        if probe(config, role, *extra).returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"{role} never ready: {probe(config, role, *extra).stderr}")


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


@pytest.fixture
def config(tmp_path):
    cfg = ClusterConfig.create(tmp_path / "c", 1, frontend_port=BASE + 50, base_port=BASE)
    cfg.save()
    return cfg


def start(config, *args):
    log = open(config.root / f"node-{args[0]}.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "qserv.admin.node", *args, "--config", str(config.root)],
                            stdout=log, stderr=log, start_new_session=True)


def test_czar_and_worker_nodes(config):
    worker = start(config, "worker", "--name", "worker0")
    czar = start(config, "czar")
    try:
        assert probe(config, "worker", "--name", "worker0").returncode == 1   # not up yet
        wait_ready(config, "worker", worker, "--name", "worker0")
        wait_ready(config, "czar", czar)
        conn = pymysql.connect(host="127.0.0.1", port=config.frontend_port, user=config.user,
                               password=config.password)
        with conn.cursor() as cur:
            cur.execute("SELECT 1 + 1")
            assert cur.fetchone()[0] == 2
        conn.close()
        # what the operator reads before a scale-down: an empty cluster holds no chunk
        import json
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{config.http_port}/meta/placement") as r:
            assert json.load(r)["placement"] == {}
        # the worker daemon dies: the probe says so, and the node stops its MariaDB and
        # exits non-zero (the pod restarts, never half up)
        db_pid, daemon_pid = children(worker.pid)
        os.kill(daemon_pid, signal.SIGKILL)
        assert worker.wait(timeout=90) != 0
        assert not pid_alive(db_pid)
        res = probe(config, "worker", "--name", "worker0")
        assert res.returncode == 1 and "does not answer Health" in res.stderr
        # SIGTERM: a clean stop of daemon and MariaDB
        db_pid, daemon_pid = children(czar.pid)
        czar.send_signal(signal.SIGTERM)
        czar.wait(timeout=90)
        assert not pid_alive(db_pid) and not pid_alive(daemon_pid)
        assert probe(config, "czar").returncode == 1
    finally:
        for node in (worker, czar):
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
                node.wait(timeout=90)


@pytest.mark.parametrize("command", [["qserv.admin.node"], ["qserv.admin.cli"]], ids=["node", "cli"])
def test_unknown_worker_name_is_a_clear_error(config, command):
    """`qserv worker` is the same entry as `python -m qserv.admin.node worker`."""
    res = subprocess.run([sys.executable, "-m", *command, "worker", "--name", "nope",
                          "--config", str(config.root)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "no worker named 'nope'" in res.stderr
    assert "Traceback" not in res.stderr
