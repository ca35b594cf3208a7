"""A small cluster for the front-door fault tests (issue 15, items 4-10): two workers, the
demo catalog with every chunk on both (R = 2), and tight limits so that each limit can be
reached in a test's time. Ports within the test base port's range, apart from the others."""

from __future__ import annotations

import pytest

from partitioner.run import Options, partition
from qserv.catalog import DatabaseSpec
from qserv.config import MariaDBSettings
from qserv.admin.demo import generate
from qserv.admin.ingest_client import ingest_command
from tests.conftest import BASE_PORT, running_cluster

DOOR_BASE = BASE_PORT + 620       # MariaDB 620..622, gRPC 721..722
DOOR_FRONTEND = BASE_PORT + 600   # MySQL 600, HTTP 608
# the limits of the cluster: small enough to reach quickly
DOOR_SETTINGS = dict(connect_timeout=2.0, max_allowed_packet=1 << 20, login_max_failures=1_000_000,
                     http_max_json_bytes=1 << 20, max_statement_time=30.0,
                     max_connections=200, max_user_connections=130, reserved_admin_connections=5,
                     shadow_pool_size=4, users={"alice": "alice-pw", "bob": "bob-pw"},
                     mariadb=MariaDBSettings(max_allowed_packet="4M", max_connections=100))


DOOR_OBJECTS = 3000  # in ~25 chunks (order 3): a quick ingest


@pytest.fixture(scope="package")
def door_cluster(tmp_path_factory):
    spec = generate(tmp_path_factory.mktemp("door-data"), n_objects=DOOR_OBJECTS, chunk_order=3)
    out = tmp_path_factory.mktemp("door-part") / "out"
    partition(DatabaseSpec.read(spec), Options(out_dir=str(out), progress=False))
    with running_cluster(tmp_path_factory.mktemp("door-cluster"), 2, DOOR_FRONTEND, DOOR_BASE,
                         **DOOR_SETTINGS) as config:
        assert ingest_command(config, str(out), replication=2, progress=False) == 0
        yield config
