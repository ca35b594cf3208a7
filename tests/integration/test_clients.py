"""Real MySQL clients against the czar: the `mariadb` CLI, pymysql, SQLAlchemy, and the
statements clients send on their own when they connect."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import czar_connect, query


def test_mariadb_cli_runs_a_query(demo_cluster, oracle_conn):
    cli = shutil.which("mariadb") or shutil.which("mysql")
    if cli is None:
        pytest.skip("no mariadb/mysql command-line client installed")
    cmd = [cli, "-h", demo_cluster.host, "-P", str(demo_cluster.frontend_port),
           "-u", demo_cluster.user, "--batch", "--skip-column-names", "demo",
           "-e", "SELECT COUNT(*) FROM Object WHERE flags = 3"]
    if demo_cluster.password:
        cmd.insert(-3, f"-p{demo_cluster.password}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    expected = query(oracle_conn, "SELECT COUNT(*) FROM Object WHERE flags = 3")[1][0][0]
    assert out.stdout.strip() == str(expected)


def test_mariadb_cli_reports_error_code(demo_cluster):
    cli = shutil.which("mariadb") or shutil.which("mysql")
    if cli is None:
        pytest.skip("no mariadb/mysql command-line client installed")
    cmd = [cli, "-h", demo_cluster.host, "-P", str(demo_cluster.frontend_port),
           "-u", demo_cluster.user, "demo", "-e", "SELECT nope FROM Object"]
    if demo_cluster.password:
        cmd.insert(-3, f"-p{demo_cluster.password}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "1054" in out.stderr


def test_pymysql_query(czar, oracle_conn):
    sql = "SELECT flags, COUNT(*) FROM Object GROUP BY flags ORDER BY flags"
    assert query(czar, sql) == query(oracle_conn, sql)


def test_pymysql_dict_cursor(demo_cluster):
    import pymysql.cursors
    conn = czar_connect(demo_cluster, cursorclass=pymysql.cursors.DictCursor)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT objectId, flags AS f FROM Object ORDER BY objectId LIMIT 2")
            rows = cur.fetchall()
        assert [sorted(r) for r in rows] == [["f", "objectId"], ["f", "objectId"]]
        assert rows[0]["objectId"] == 13
    finally:
        conn.close()


def test_sqlalchemy_query(demo_cluster, oracle_conn):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    auth = demo_cluster.user + (f":{demo_cluster.password}" if demo_cluster.password else "")
    engine = sqlalchemy.create_engine(
        f"mysql+pymysql://{auth}@{demo_cluster.host}:{demo_cluster.frontend_port}/demo")
    try:
        with engine.connect() as conn:
            n = conn.execute(sqlalchemy.text("SELECT COUNT(*) FROM Source")).scalar()
            rows = conn.execute(sqlalchemy.text(
                "SELECT filterName, photClam FROM Filter ORDER BY filterId")).all()
        assert n == query(oracle_conn, "SELECT COUNT(*) FROM Source")[1][0][0]
        assert [tuple(r) for r in rows] == \
            query(oracle_conn, "SELECT filterName, photClam FROM Filter ORDER BY filterId")[1]
    finally:
        engine.dispose()


def test_sqlalchemy_inspector_lists_tables(demo_cluster):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    auth = demo_cluster.user + (f":{demo_cluster.password}" if demo_cluster.password else "")
    engine = sqlalchemy.create_engine(
        f"mysql+pymysql://{auth}@{demo_cluster.host}:{demo_cluster.frontend_port}/demo")
    try:
        names = {n.lower() for n in sqlalchemy.inspect(engine).get_table_names()}
        assert {"object", "source", "filter"} <= names
    finally:
        engine.dispose()


# ---- what clients send on connect ---------------------------------------------------------

def test_version_comment(czar):
    names, rows = query(czar, "SELECT @@version_comment LIMIT 1")
    assert len(rows) == 1 and "qserv" in str(rows[0][0]).lower()


def test_version_agrees_with_handshake(czar):
    """Clients (SQLAlchemy) read both the handshake's version and SELECT VERSION()."""
    handshake = czar.get_server_info()
    assert query(czar, "SELECT VERSION()")[1] == [(handshake,)]
    assert query(czar, "SELECT @@version")[1] == [(handshake,)]


def test_isolation_variables_are_not_null(czar):
    for var in ("@@transaction_isolation", "@@tx_isolation"):
        assert query(czar, f"SELECT {var}")[1][0][0], var


def test_set_names_and_use(czar):
    query(czar, "SET NAMES utf8mb4")
    query(czar, "USE demo")
    assert query(czar, "SELECT DATABASE()")[1] == [("demo",)]
    assert query(czar, "SELECT COUNT(*) FROM Filter")[1] == [(6,)]


def test_show_databases(czar):
    dbs = {r[0] for r in query(czar, "SHOW DATABASES")[1]}
    assert "demo" in dbs


def test_show_tables(czar):
    tables = {r[0].lower() for r in query(czar, "SHOW TABLES")[1]}
    assert tables >= {"object", "source", "filter"}


def test_select_database_without_default(demo_cluster):
    conn = czar_connect(demo_cluster, database=None)
    try:
        assert query(conn, "SELECT DATABASE()")[1] == [(None,)]
        query(conn, "USE demo")
        assert query(conn, "SELECT DATABASE()")[1] == [("demo",)]
        assert query(conn, "SELECT COUNT(*) FROM Filter")[1] == [(6,)]
    finally:
        conn.close()


def test_describe_hides_nothing_of_the_schema(czar):
    names = [r[0] for r in query(czar, "DESCRIBE Object")[1]]
    assert names[:3] == ["objectId", "ra", "decl"]
