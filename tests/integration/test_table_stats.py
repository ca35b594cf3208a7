"""Honest metadata (issue 18): information_schema.TABLES and SHOW TABLE STATUS give the rows of
Qserv's tables as they are on the workers (the czar's own copies are empty shadows), recorded
at publish and refreshed on demand."""

from __future__ import annotations

import json
import urllib.request

import pymysql
import pytest

from tests.conftest import query

TABLES = ("Object", "Source", "Filter")


def true_counts(oracle_conn) -> dict[str, int]:
    return {t: query(oracle_conn, f"SELECT COUNT(*) FROM {t}")[1][0][0] for t in TABLES}


def test_information_schema_tables_has_the_real_row_counts(czar, oracle_conn):
    want = true_counts(oracle_conn)
    _, rows = query(czar, "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES "
                          "WHERE TABLE_SCHEMA = 'demo' ORDER BY TABLE_NAME")
    got = {name: n for name, n, _ in rows}
    assert {t: got[t] for t in TABLES} == want
    assert all(size > 0 for name, n, size in rows if name in TABLES)
    # the real values take part in WHERE and aggregates, with MariaDB's column type
    _, big = query(czar, "SELECT table_name FROM information_schema.tables WHERE "
                         "table_schema = 'demo' AND table_rows > 1000 ORDER BY 1")
    assert [r[0] for r in big] == sorted(t for t in TABLES if want[t] > 1000)
    _, total = query(czar, "SELECT SUM(TABLE_ROWS) FROM information_schema.TABLES t "
                           "WHERE t.TABLE_SCHEMA = 'demo'")
    assert int(total[0][0]) == sum(want.values())
    names, star = query(czar, "SELECT * FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'demo' "
                              "AND TABLE_NAME = 'Object'")
    assert names[:3] == ["TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME"]
    assert star[0][names.index("TABLE_ROWS")] == want["Object"]
    assert isinstance(star[0][names.index("TABLE_ROWS")], int)


def test_show_table_status_has_the_real_row_counts(czar, oracle_conn):
    want = true_counts(oracle_conn)
    names, rows = query(czar, "SHOW TABLE STATUS")
    got = {r[0]: r[names.index("Rows")] for r in rows}
    assert {t: got[t] for t in TABLES} == want
    names, rows = query(czar, "SHOW TABLE STATUS FROM demo LIKE 'Obj%'")
    assert [(r[0], r[names.index("Rows")]) for r in rows] == [("Object", want["Object"])]
    assert rows[0][names.index("Avg_row_length")] > 0
    with pytest.raises(pymysql.MySQLError) as e:
        query(czar, "SHOW TABLE STATUS WHERE `Rows` > 0")
    assert e.value.args[0] == 1235 and "information_schema.TABLES" in e.value.args[1]


def test_sizes_are_refreshed_on_demand(demo_cluster, oracle_conn):
    req = urllib.request.Request(
        f"http://{demo_cluster.host}:{demo_cluster.http_port}/ingest/database/demo/stats",
        method="POST", data=b"{}")
    req.add_header("Authorization", f"Bearer {demo_cluster.admin_token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=120) as r:
        answer = json.loads(r.read())
    tables = answer["tables"]
    assert {t: tables[t]["rows"] for t in TABLES} == true_counts(oracle_conn)


def test_qserv_status_lists_the_tables_with_their_rows(demo_cluster, oracle_conn):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "qserv.admin.cli", "status", "--dir",
                           str(demo_cluster.root)], capture_output=True, text=True, timeout=120)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("database demo:"))
    for t, n in true_counts(oracle_conn).items():
        assert f"{t} {n:,} rows" in line, line
