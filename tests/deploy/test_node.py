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
        import urllib.error
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{config.http_port}/meta/placement") as r:
            assert json.load(r)["placement"] == {}
        # the worker registered itself (name, address, health) in the czar's registry
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{config.http_port}/workers") as r:
                listed = json.load(r)["workers"]
            if listed[0]["registered"] or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert listed[0]["name"] == "worker0" and listed[0]["healthy"] is True
        # registration needs the admin token, and a well-formed body
        for token, body, status, text in (
                ("", {"name": "w9", "host": "h", "grpc_port": 1, "mariadb_port": 2}, 401, "admin token"),
                (config.admin_token, {"name": "bad name", "host": "h", "grpc_port": 1, "mariadb_port": 2},
                 400, "name must be"),
                (config.admin_token, {"name": "w9", "host": "h", "grpc_port": 70000, "mariadb_port": 2},
                 400, "grpc_port must be a port number")):
            req = urllib.request.Request(f"http://127.0.0.1:{config.http_port}/workers", method="POST",
                                         data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {token}"})
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req)
            assert err.value.code == status and text in err.value.read().decode()
        # a worker without chunks may be forgotten (it registers again at its next heartbeat)
        req = urllib.request.Request(f"http://127.0.0.1:{config.http_port}/workers/worker0", method="DELETE",
                                     headers={"Authorization": f"Bearer {config.admin_token}"})
        with urllib.request.urlopen(req) as r:
            assert json.load(r)["removed"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{config.http_port}/workers") as r:
            assert json.load(r)["workers"] == []
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


def test_worker_with_its_mariadb_apart_over_tcp(tmp_path):
    """A worker whose MariaDB runs as its own process (a second container of the pod):
    `node mariadb worker0` + `node worker` (which then only waits for it and runs the
    daemon), reached over TCP at 127.0.0.1; chunk queries and ingest work through it."""
    from qserv.admin.demo import generate
    cfg = ClusterConfig.create(tmp_path / "c", 1, frontend_port=BASE + 50, base_port=BASE)
    cfg.workers[0].mariadb_tcp = True
    cfg.save()
    spec = generate(tmp_path / "demo", n_objects=3000)
    mariadb = start(cfg, "mariadb", "worker0")
    worker = start(cfg, "worker", "--name", "worker0")
    czar = start(cfg, "czar")
    try:
        wait_ready(cfg, "worker", worker, "--name", "worker0")
        wait_ready(cfg, "czar", czar)
        assert len(children(worker.pid)) == 1          # the daemon only: no MariaDB of its own
        res = subprocess.run([sys.executable, "-m", "qserv.admin.cli", "load", str(spec), "--dir",
                              str(cfg.root), "--quiet"], capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        conn = pymysql.connect(host="127.0.0.1", port=cfg.frontend_port, user=cfg.user,
                               password=cfg.password, database="demo")
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM Object")
            assert cur.fetchone()[0] == 3000
            ids = [int(line.split(",")[0]) for line in (spec.parent / "Object.csv").read_text().splitlines()[1:]]
            cur.execute("SELECT COUNT(*), SUM(objectId) FROM Object WHERE objectId < 1000")
            assert tuple(map(int, cur.fetchone())) == (sum(i < 1000 for i in ids), sum(i for i in ids if i < 1000))
        conn.close()
        from qserv.mariadb import MariaDBServer
        server = MariaDBServer.for_worker(cfg, "worker0")
        db = server.connect()
        with db.cursor() as cur:   # the daemon's connections come over TCP
            cur.execute("SELECT DISTINCT user, SUBSTRING_INDEX(host, ':', 1) FROM "
                        "information_schema.processlist WHERE user IN ('root', 'qsreader') "
                        "AND id <> CONNECTION_ID()")
            hosts = set(cur.fetchall())
        db.close()
        assert ("qsreader", "127.0.0.1") in hosts and ("root", "127.0.0.1") in hosts
    finally:
        for node in (czar, worker, mariadb):
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
                node.wait(timeout=90)
