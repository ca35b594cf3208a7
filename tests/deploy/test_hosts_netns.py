"""Daemons on separate hosts: a czar and two workers, each in its own network namespace (its
own interfaces, addresses and ports; joined by a bridge, as machines by a switch) and its own
directory (no shared files), started with `python -m qserv.admin.node` (what `qserv czar` /
`qserv worker` and the containers run). The czar's config names only worker0: worker1
registers itself with the running czar, which adds it without a restart; a catalog is then
ingested from a fourth host (the root namespace) and queries through 4040 match one plain
MariaDB. Needs root and `ip netns`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pymysql
import pytest

from qserv.config import ClusterConfig, WorkerConfig
from tests.conftest import assert_same_result, query

BASE = int(os.environ.get("QSERV_TEST_BASE_PORT", "23306"))
TAG = f"{BASE % 100000}"
NET = f"10.{200 + BASE % 50}.{(BASE // 50) % 250}"
HOSTS = {"czar": 2, "worker0": 3, "worker1": 4}
BRIDGE = f"qsb{TAG}"


def ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def ns(host: str) -> str:
    return f"qs{TAG}-{host}"


def teardown_network():
    for host in HOSTS:
        ip("netns", "del", ns(host), check=False)
    ip("link", "del", BRIDGE, check=False)


@pytest.fixture
def network():
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 (ip netns)")
    teardown_network()
    try:
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("addr", "add", f"{NET}.1/24", "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")
        for host, last in HOSTS.items():
            name, veth, peer = ns(host), f"qv{TAG}{last}", f"qp{TAG}{last}"
            ip("netns", "add", name)
            ip("link", "add", veth, "type", "veth", "peer", "name", peer)
            ip("link", "set", peer, "master", BRIDGE)
            ip("link", "set", peer, "up")
            ip("link", "set", veth, "netns", name)
            ip("-n", name, "addr", "add", f"{NET}.{last}/24", "dev", veth)
            ip("-n", name, "link", "set", veth, "up")
            ip("-n", name, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as e:
        teardown_network()
        pytest.skip(f"network namespaces not available here: {e.stderr.strip()}")
    yield
    teardown_network()


def host_config(root: Path, host: str, shared: ClusterConfig, workers: list[WorkerConfig]) -> Path:
    """The config directory of one host: its own `dir`, the same credentials."""
    cfg = replace(shared, dir=str(root / host), workers=workers)
    cfg.save()
    return root / host


def start(host: str, config_dir: Path, *args: str) -> subprocess.Popen:
    log = open(config_dir / "node.log", "ab")
    return subprocess.Popen(["ip", "netns", "exec", ns(host), sys.executable, "-m", "qserv.admin.node",
                             *args, "--config", str(config_dir)],
                            stdout=log, stderr=log, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def wait_ready(host, config_dir, node, *args, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        res = subprocess.run(["ip", "netns", "exec", ns(host), sys.executable, "-m", "qserv.admin.probe",
                              *args, "--config", str(config_dir)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        if res.returncode == 0:
            return
        assert node.poll() is None, (config_dir / "node.log").read_text()[-3000:]
        assert time.monotonic() < deadline, res.stderr
        time.sleep(0.5)


def http_get(config: ClusterConfig, path: str) -> dict:
    with urllib.request.urlopen(f"http://{config.host}:{config.http_port}{path}", timeout=10) as r:
        return json.load(r)


def test_czar_and_workers_on_separate_hosts(network, tmp_path, oracle, demo_spec_path):
    workers = [WorkerConfig(name=w, grpc_port=BASE + 720, mariadb_port=BASE + 721, host=f"{NET}.{HOSTS[w]}")
               for w in ("worker0", "worker1")]
    shared = ClusterConfig.create(tmp_path / "template", 0, frontend_port=BASE + 740, base_port=BASE + 730,
                                  host=f"{NET}.2", register_interval_s=2.0)
    dirs = {"czar": host_config(tmp_path, "czar", shared, workers[:1]),       # knows worker0 only
            "worker0": host_config(tmp_path, "worker0", shared, workers[:1]),
            "worker1": host_config(tmp_path, "worker1", shared, workers)}
    client = ClusterConfig.load(dirs["czar"])
    nodes = {}
    try:
        nodes["worker0"] = start("worker0", dirs["worker0"], "worker", "--name", "worker0")
        nodes["czar"] = start("czar", dirs["czar"], "czar")
        wait_ready("worker0", dirs["worker0"], nodes["worker0"], "worker", "--name", "worker0")
        wait_ready("czar", dirs["czar"], nodes["czar"], "czar")
        assert [w["name"] for w in http_get(client, "/workers")["workers"]] == ["worker0"]
        # worker1 starts on its host: it registers and the running czar takes it in
        nodes["worker1"] = start("worker1", dirs["worker1"], "worker", "--name", "worker1")
        wait_ready("worker1", dirs["worker1"], nodes["worker1"], "worker", "--name", "worker1")
        deadline = time.monotonic() + 60
        while True:
            listed = {w["name"]: w for w in http_get(client, "/workers")["workers"]}
            if "worker1" in listed and listed["worker0"]["registered"]:
                break
            assert time.monotonic() < deadline, listed
            time.sleep(0.5)
        assert listed["worker1"]["host"] == f"{NET}.4" and listed["worker1"]["healthy"] is True
        # ingest from a fourth host (the root namespace): chunks go to both workers
        res = subprocess.run([sys.executable, "-m", "qserv.admin.cli", "load", str(demo_spec_path),
                              "--dir", str(dirs["czar"]), "--quiet"], capture_output=True, text=True,
                             timeout=900, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        holders = {w for chunks in http_get(client, "/meta/placement")["placement"].values()
                   for ws in chunks.values() for w in ws}
        assert holders == {"worker0", "worker1"}
        conn = pymysql.connect(host=client.host, port=client.frontend_port, user=client.user,
                               password=client.password, database="demo")
        want = oracle.connect(database="demo")
        try:
            for sql, ordered in (("SELECT COUNT(*) FROM Object", False),
                                 ("SELECT COUNT(*), SUM(psfFlux) FROM Source", False),
                                 ("SELECT objectId, ra, decl FROM Object WHERE objectId IN (3, 999, 12345) "
                                  "ORDER BY objectId", True),
                                 ("SELECT f.filterName, COUNT(*) AS n FROM Source s JOIN Filter f "
                                  "ON s.filterId = f.filterId GROUP BY f.filterName ORDER BY f.filterName", True)):
                assert_same_result(query(conn, sql), query(want, sql), ordered)
        finally:
            conn.close()
            want.close()
        # worker1 cannot be forgotten while it holds the only copy of chunks
        for name, status, text in (("worker1", 409, "only copy"), ("nosuch", 404, "no worker named")):
            req = urllib.request.Request(f"http://{client.host}:{client.http_port}/workers/{name}",
                                         method="DELETE", headers={"Authorization": f"Bearer {client.admin_token}"})
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req, timeout=10)
            assert err.value.code == status and text in err.value.read().decode()
    finally:
        for node in nodes.values():
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGTERM)
        for node in nodes.values():
            try:
                node.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
