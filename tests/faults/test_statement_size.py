"""Issue 15, item 5: a statement is at most max_allowed_packet bytes (1153 beyond), and a
large literal in a query is not multiplied by the number of chunks a worker runs.

Before the fix a 10 MB literal was copied into one `UNION ALL` statement of up to 64 chunk
queries (~640 MB) and a worker's mariadbd was OOM-killed. Here, to stay quick, the czar takes
statements up to 1 MiB and the workers' MariaDB up to 4 MiB: a 600 KB literal over the ~12
chunks of a job made a 7 MB statement, which the worker's MariaDB refused (1153); now each
chunk query goes in a statement of its own.
"""

from __future__ import annotations

import pymysql
import pytest

from tests.conftest import czar_connect, query

ER_NET_PACKET_TOO_LARGE = 1153


def test_statement_over_max_allowed_packet(door_cluster):
    conn = czar_connect(door_cluster, "demo", read_timeout=60, write_timeout=60)
    big = "x" * (door_cluster.max_allowed_packet + 1000)
    with pytest.raises(pymysql.err.OperationalError) as e:
        query(conn, f"SELECT COUNT(*) FROM Object WHERE name <> '{big}'")
    # pymysql reads the czar's 1153; a client that cannot read it sees the connection close
    assert e.value.args[0] in (ER_NET_PACKET_TOO_LARGE, 2013, 2006), e.value.args
    if e.value.args[0] == ER_NET_PACKET_TOO_LARGE:
        assert "max_allowed_packet" in e.value.args[1]
    conn.close()
    conn = czar_connect(door_cluster, "demo")   # the czar serves the next client
    assert query(conn, "SELECT COUNT(*) FROM Object")[1][0][0] > 0
    conn.close()


def test_large_literal_is_not_multiplied(door_cluster):
    conn = czar_connect(door_cluster, "demo", read_timeout=120)
    try:
        total = query(conn, "SELECT COUNT(*) FROM Object")[1][0][0]
        flagged = sorted(query(conn, "SELECT objectId FROM Object WHERE flags = 3")[1])
        big = "y" * 600_000
        # a merge over every chunk
        every = f"CONCAT(objectId, '{big}') <> ''"   # true for every row, evaluated per row
        assert query(conn, f"SELECT COUNT(*) FROM Object WHERE {every}")[1] == [(total,)]
        # a streamed result
        got = query(conn, f"SELECT objectId FROM Object WHERE flags = 3 AND {every}")[1]
        assert sorted(got) == flagged
        # the literal in the select list, on few rows
        got = query(conn, f"SELECT objectId, LENGTH('{big}') FROM Object WHERE objectId IN (13, 23)")[1]
        assert sorted(got) == [(13, 600_000), (23, 600_000)]
    finally:
        conn.close()
