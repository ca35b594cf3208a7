"""Shared fixtures: a real local cluster (3 workers, private mariadbd each) loaded with the
demo catalog, and a plain MariaDB holding the same rows (the oracle).

Ports are far from the defaults (4040, 13306...) so tests can run beside a demo cluster;
QSERV_TEST_BASE_PORT moves them.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from decimal import Decimal

import pymysql
import pytest

from qserv.catalog import DatabaseSpec
from qserv.admin.cluster import down, up
from qserv.config import ClusterConfig, MariaDBSettings
from qserv.admin.demo import generate
from qserv.admin.ingest_client import load
from qserv.admin.oracle import load_single
from qserv.mariadb import MariaDBServer

BASE_PORT = int(os.environ.get("QSERV_TEST_BASE_PORT", "23306"))
FRONTEND_PORT = BASE_PORT + 1000
ORACLE_PORT = BASE_PORT - 6
DEMO_OBJECTS = 20_000


@pytest.fixture(scope="session")
def demo_spec_path(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("demo-data"), n_objects=DEMO_OBJECTS)


@contextmanager
def running_cluster(root, workers: int, frontend_port: int, base_port: int, **settings):
    """A cluster started for a test scope and always stopped (no process left behind);
    `settings`: more ClusterConfig fields."""
    config = ClusterConfig.create(root, workers, frontend_port=frontend_port, base_port=base_port,
                                  **settings)
    try:
        up(config, echo=lambda *_: None)
        yield config
    finally:
        down(config, echo=lambda *_: None)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A running 3-worker cluster (empty)."""
    with running_cluster(tmp_path_factory.mktemp("cluster"), 3, FRONTEND_PORT, BASE_PORT) as config:
        yield config


@pytest.fixture(scope="session")
def demo_cluster(cluster, demo_spec_path):
    """The cluster with the demo catalog loaded."""
    load(cluster, DatabaseSpec.read(demo_spec_path), show_progress=False)
    return cluster


@pytest.fixture(scope="session")
def oracle(tmp_path_factory, demo_spec_path):
    """One plain MariaDB with the same rows: the reference answer for every query."""
    server = MariaDBServer(tmp_path_factory.mktemp("oracle"), ORACLE_PORT, MariaDBSettings())
    log = open(server.base_dir / "server.log", "ab")
    server.start(log)
    try:
        conn = server.connect()
        load_single(conn, DatabaseSpec.read(demo_spec_path))
        conn.close()
        yield server
    finally:
        server.stop()


def czar_connect(config: ClusterConfig, database: str | None = "demo", **kw):
    return pymysql.connect(host=config.host, port=config.frontend_port, user=config.user,
                           password=config.password, database=database, **kw)


@pytest.fixture
def czar(demo_cluster):
    conn = czar_connect(demo_cluster)
    yield conn
    conn.close()


@pytest.fixture
def oracle_conn(oracle):
    conn = oracle.connect(database="demo")
    yield conn
    conn.close()


def query(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return [d[0] for d in cur.description or []], list(cur.fetchall())


def normalize(value):
    if isinstance(value, Decimal):
        return float(value)
    return value


def values_equal(a, b) -> bool:
    a, b = normalize(a), normalize(b)
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def sort_key(row):
    return tuple((v is None, str(type(normalize(v)).__name__),
                  round(normalize(v), 6) if isinstance(normalize(v), float) else normalize(v))
                 if v is not None else (True, "", 0) for v in row)


def assert_same_result(got, expected, ordered: bool):
    """Same column names and rows; floats within 1e-9 relative (summation order differs)."""
    got_names, got_rows = got
    exp_names, exp_rows = expected
    assert got_names == exp_names, f"column names differ: {got_names} != {exp_names}"
    assert len(got_rows) == len(exp_rows), f"{len(got_rows)} rows, expected {len(exp_rows)}"
    if not ordered:
        got_rows, exp_rows = sorted(got_rows, key=sort_key), sorted(exp_rows, key=sort_key)
    for i, (g, e) in enumerate(zip(got_rows, exp_rows)):
        assert len(g) == len(e) and all(values_equal(x, y) for x, y in zip(g, e)), \
            f"row {i} differs: {g} != {e}"
