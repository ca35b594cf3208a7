"""qserv.config.ClusterConfig: save/load round trip and QSERV_* environment overrides."""

from __future__ import annotations

import dataclasses
import json

import pytest

from qserv.config import CONFIG_FILE, ClusterConfig, MariaDBSettings, WorkerConfig


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No QSERV_<field> from the surrounding environment may leak into these tests."""
    for f in dataclasses.fields(ClusterConfig):
        monkeypatch.delenv(f"QSERV_{f.name.upper()}", raising=False)


def test_create_assigns_distinct_ports(tmp_path):
    cfg = ClusterConfig.create(tmp_path / "c", 3, frontend_port=5050, base_port=20000)
    assert [w.name for w in cfg.workers] == ["worker0", "worker1", "worker2"]
    ports = [cfg.frontend_port, cfg.czar_mariadb_port] + [p for w in cfg.workers
                                                          for p in (w.grpc_port, w.mariadb_port)]
    assert len(set(ports)) == len(ports)
    assert cfg.czar_mariadb_port == 20000 and cfg.frontend_port == 5050
    assert cfg.worker("worker1").grpc_address() == f"127.0.0.1:{cfg.workers[1].grpc_port}"
    with pytest.raises(KeyError):
        cfg.worker("worker9")


def test_save_load_round_trip(tmp_path):
    cfg = ClusterConfig.create(tmp_path / "c", 2, base_port=21000, jobs_per_worker=5,
                               max_result_rows=123, password="pw",
                               mariadb=MariaDBSettings(key_buffer_size="8M", max_connections=17))
    path = cfg.save()
    assert path == tmp_path / "c" / CONFIG_FILE
    json.loads(path.read_text())  # plain JSON
    for source in (tmp_path / "c", path):  # a directory or the file itself
        back = ClusterConfig.load(source)
        assert back == cfg
        assert isinstance(back.workers[0], WorkerConfig)
        assert isinstance(back.mariadb, MariaDBSettings) and back.mariadb.max_connections == 17


def test_load_missing_config_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="qserv up"):
        ClusterConfig.load(tmp_path)


def test_env_overrides_top_level_fields_with_their_types(tmp_path, monkeypatch):
    ClusterConfig.create(tmp_path, 1, frontend_port=4040, base_port=22000).save()
    monkeypatch.setenv("QSERV_FRONTEND_PORT", "4999")
    monkeypatch.setenv("QSERV_HOST", "10.0.0.7")
    monkeypatch.setenv("QSERV_MAX_RESULT_ROWS", "1000")
    cfg = ClusterConfig.load(tmp_path)
    assert cfg.frontend_port == 4999 and isinstance(cfg.frontend_port, int)
    assert cfg.host == "10.0.0.7"
    assert cfg.max_result_rows == 1000
    assert cfg.czar_mariadb_port == 22000  # untouched
    # the file itself is not changed by an override
    monkeypatch.delenv("QSERV_FRONTEND_PORT")
    assert ClusterConfig.load(tmp_path).frontend_port == 4040


def test_env_does_not_replace_nested_sections(tmp_path, monkeypatch):
    cfg = ClusterConfig.create(tmp_path, 2, base_port=23000)
    cfg.save()
    monkeypatch.setenv("QSERV_WORKERS", "[]")
    monkeypatch.setenv("QSERV_MARIADB", "{}")
    back = ClusterConfig.load(tmp_path)
    assert back.workers == cfg.workers and back.mariadb == cfg.mariadb


def test_bad_env_value_fails_loudly(tmp_path, monkeypatch):
    ClusterConfig.create(tmp_path, 1, base_port=24000).save()
    monkeypatch.setenv("QSERV_FRONTEND_PORT", "not-a-port")
    with pytest.raises(ValueError):
        ClusterConfig.load(tmp_path)
