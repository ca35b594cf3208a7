"""The tuning knobs live in the one typed config (issue 16 item 4): sizes and counts that
were constants in several modules reach the code that uses them from ClusterConfig."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from qserv.config import ClusterConfig
from qserv.workers import CHANNEL_OPTIONS, message_options
from worker.bundle import BundleLimits
from worker.executor import chunk_statements
from worker.service import WorkerService


def _worker(config: ClusterConfig | None) -> WorkerService:
    mariadb = SimpleNamespace(socket="/nonexistent.sock", outfile_dir=Path("/tmp"),
                              root_password="", reader_password="secret",
                              client_args=lambda: {"unix_socket": "/nonexistent.sock"})
    return WorkerService("worker0", mariadb, 0.0, config)


def test_a_worker_takes_its_sizes_and_counts_from_the_config():
    config = ClusterConfig(dir="", union_statement_bytes=1234, result_batch_bytes=5678,
                           worker_query_slots=7, worker_load_connections=2,
                           worker_ddl_connections=1, worker_spool_max_bytes=99)
    service = _worker(config)
    assert (service.executor.union_bytes, service.executor.read_size) == (1234, 5678)
    assert service.executor._slots.scan_limit == 7     # scans; interactive jobs get one more
    assert service.ingest.limits == BundleLimits(ddl_connections=1, load_connections=2,
                                                 spool_max_bytes=99)


def test_without_a_config_the_defaults_are_the_configs():
    service, defaults = _worker(None), ClusterConfig(dir="")
    assert service.executor.union_bytes == defaults.union_statement_bytes
    assert service.ingest.limits == BundleLimits.of(defaults)


def test_message_limits_are_the_same_on_both_sides():
    assert dict(message_options(1 << 20)) == {"grpc.max_send_message_length": 1 << 20,
                                              "grpc.max_receive_message_length": 1 << 20}
    assert dict(CHANNEL_OPTIONS)["grpc.max_send_message_length"] == \
        ClusterConfig(dir="").grpc_max_message_bytes


def test_the_union_budget_splits_statements():
    template = "SELECT * FROM T_%CHUNK% WHERE x = 'a long literal'"
    one = chunk_statements(template, "%CHUNK%", list(range(20)), 1 << 20)
    split = chunk_statements(template, "%CHUNK%", list(range(20)), 200)
    assert len(one) == 1 and len(split) > 1
    assert sorted(c for _, cs in split for c in cs) == list(range(20))


def test_env_overrides_reach_the_new_fields(tmp_path, monkeypatch):
    ClusterConfig.create(tmp_path, 1).save()
    monkeypatch.setenv("QSERV_INGEST_PIECE_BYTES", str(1 << 16))
    assert ClusterConfig.load(tmp_path).ingest_piece_bytes == 1 << 16


def test_worker_servers_skip_ddl_syncs_unless_told(tmp_path):
    """Workers' MariaDB run with --debug-no-sync by default (a CREATE TABLE waited for six
    syncs, one after the other under the DDL log's lock); the czar's always syncs."""
    from qserv.mariadb import MariaDBServer
    config = ClusterConfig.create(tmp_path, 1)
    worker = config.workers[0].name
    assert "--debug-no-sync" in MariaDBServer.for_worker(config, worker).command()
    assert "--debug-no-sync" not in MariaDBServer.for_czar(config).command()
    config.worker_mariadb_sync = True
    assert "--debug-no-sync" not in MariaDBServer.for_worker(config, worker).command()


def test_ingest_table_cache_reaches_the_worker(tmp_path, monkeypatch):
    """The worker lowers its MariaDB's table cache to ingest_table_open_cache during ingest
    calls and restores mariadb.table_open_cache; QSERV_INGEST_TABLE_OPEN_CACHE reaches
    a config made by `qserv up` (ClusterConfig.create) as well as a loaded one."""
    from qserv.mariadb import MariaDBServer
    from worker.service import WorkerService
    config = ClusterConfig.create(tmp_path, 1)
    config.mariadb_reader_password = config.mariadb_reader_password or "x"
    server = MariaDBServer.for_worker(config, config.workers[0].name)
    service = WorkerService(config.workers[0].name, server, config=config)
    assert (service.table_cache.normal, service.table_cache.during_ingest) == \
        (config.mariadb.table_open_cache, 400)
    config.save()
    monkeypatch.setenv("QSERV_INGEST_TABLE_OPEN_CACHE", "123")
    assert ClusterConfig.load(tmp_path).ingest_table_open_cache == 123
    assert ClusterConfig.create(tmp_path / "fresh", 1).ingest_table_open_cache == 123


def test_a_boolean_field_reads_its_env_words(tmp_path, monkeypatch):
    ClusterConfig.create(tmp_path, 1).save()
    for word, value in (("0", False), ("false", False), ("1", True), ("True", True), ("off", False)):
        monkeypatch.setenv("QSERV_WORKER_MARIADB_SYNC", word)
        assert ClusterConfig.load(tmp_path).worker_mariadb_sync is value
    monkeypatch.setenv("QSERV_WORKER_MARIADB_SYNC", "maybe")
    with pytest.raises(ValueError, match="not a boolean"):
        ClusterConfig.load(tmp_path)
