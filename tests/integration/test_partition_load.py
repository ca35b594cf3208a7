"""Round trips: partition -> load -> SELECT COUNT(*) per table through the czar equals the
input, for the demo catalog and for Qserv's case01 (its partition config in tests/case01);
director overlap rows sit in `<T>FullOverlap_<chunk>` beside the chunk table on its worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from qserv.catalog import DatabaseSpec
from qserv.admin.ingest_client import load
from qserv.admin.oracle import partition_to
from qserv.mariadb import MariaDBServer
from tests.conftest import czar_connect, query

CASE01 = Path(__file__).resolve().parents[1] / "case01" / "case01.yaml"


def worker_conn(config, worker):
    return MariaDBServer.for_worker(config, worker.name).connect()


def overlap_counts(config, db: str, table: str) -> dict[int, int]:
    counts = {}
    for w in config.workers:
        conn = worker_conn(config, w)
        try:
            _, names = query(conn, f"SELECT table_name FROM information_schema.tables "
                                   f"WHERE table_schema = '{db}' AND table_name LIKE '{table}FullOverlap\\_%'")
            for (name,) in names:
                counts[int(name.rsplit("_", 1)[1])] = query(conn, f"SELECT COUNT(*) FROM `{db}`.`{name}`")[1][0][0]
        finally:
            conn.close()
    return counts


def test_demo_round_trip(demo_cluster, demo_spec_path, tmp_path):
    spec = DatabaseSpec.read(demo_spec_path)
    manifest = partition_to(spec, str(tmp_path / "p"))
    conn = czar_connect(demo_cluster)
    try:
        for t in spec.tables:
            got = query(conn, f"SELECT COUNT(*) FROM {t.name}")[1][0][0]
            assert got == manifest["tables"][t.name]["rows"] > 0, t.name
    finally:
        conn.close()
    # overlap tables: one per chunk on its worker, holding the partitioner's overlap rows
    # (the ingest places every chunk the manifest names, those with overlap rows only too)
    expected = {int(c): e["overlap_rows"] for c, e in manifest["tables"]["Object"]["chunks"].items()
                if e["rows"] or e["overlap_rows"]}
    got = overlap_counts(demo_cluster, "demo", "Object")
    assert got == expected
    assert sum(got.values()) > 0


@pytest.mark.skipif(not (CASE01.parent / "../../../shared/qserv-itest/case01/data").exists(),
                    reason="case01 data not present")
def test_case01_partitions_and_loads(cluster, tmp_path):
    spec = DatabaseSpec.read(CASE01)
    spec.name = "case01_partition"
    counts = load(cluster, spec, show_progress=False)
    expected = {"Object": 88, "Source": 3339, "Filter": 9, "LeapSeconds": 38, "Logs": 1000,
                "RefSrcMatch": 3344, "Science_Ccd_Exposure": 3304, "SimRefObject": 3314,
                "sdqa_Metric": 53}
    assert counts == expected
    conn = czar_connect(cluster, database=spec.name)
    try:
        for table, n in expected.items():
            assert query(conn, f"SELECT COUNT(*) FROM {table}")[1] == [(n,)], table
        # director-child join is chunk-local: every Source with its Object is found
        joined = query(conn, "SELECT COUNT(*) FROM Object o JOIN Source s ON o.objectId = s.objectId")[1]
        assert joined == [(3339 - 36,)]     # 36 Sources have no Object in the sample
        # values with escapes (tabs, newlines, NUL bytes in blobs) arrive byte for byte
        _, rows = query(conn, "SELECT COUNT(*), SUM(LENGTH(blobField)) FROM Source WHERE blobField IS NOT NULL")
        assert rows[0][0] > 0
    finally:
        conn.close()
    assert sum(overlap_counts(cluster, spec.name, "Object").values()) > 0
    # the schema files' secondary keys (KEY lines) exist on the workers' tables
    wconn = worker_conn(cluster, cluster.workers[0])
    try:
        keyed = {(t, c) for t, c in query(wconn, f"SELECT table_name, column_name FROM "
                                                 f"information_schema.statistics WHERE "
                                                 f"table_schema = '{spec.name}' AND index_name <> "
                                                 f"'PRIMARY'")[1]}
    finally:
        wconn.close()
    assert ("Logs", "RUNID") in keyed and ("RefSrcMatch", "refObjectId") in keyed, sorted(keyed)
