"""Issue 15, item 11: nothing inside a cluster is open to whoever can reach its ports.

- every private mariadbd refuses root over TCP (with or without the password) and root
  without the password over its socket;
- every worker RPC without the cluster's gRPC token, or with another, is UNAUTHENTICATED and
  does nothing;
- with the token, a chunk query still cannot write, read MariaDB's own tables or write a file
  outside the outfile directory: workers run chunk queries as a read-only account.
"""

from __future__ import annotations

import os
import uuid

import grpc
import pymysql
import pytest

from qserv.catalog import CHUNK_MARKER
from qserv.grpc_auth import channel
from qserv.mariadb import MariaDBServer
from qserv.v1 import worker_pb2 as pb
from qserv.v1 import worker_pb2_grpc as pb_grpc
from qserv.workers import CHANNEL_OPTIONS

ER_ACCESS_DENIED = 1045
ER_HOST_NOT_PRIVILEGED = 1130
ER_TABLEACCESS_DENIED = 1142
ER_DBACCESS_DENIED = 1044
ER_OPTION_PREVENTS_STATEMENT = 1290


def _servers(config):
    return [MariaDBServer.for_czar(config)] + [MariaDBServer.for_worker(config, w.name)
                                               for w in config.workers]


@pytest.mark.parametrize("password", ["", "root_password"])
def test_no_root_over_tcp(demo_cluster, password):
    for server in _servers(demo_cluster):
        with pytest.raises(pymysql.err.OperationalError) as e:
            pymysql.connect(host=server.host, port=server.port, user="root", connect_timeout=5,
                            password=server.root_password if password else "")
        assert e.value.args[0] in (ER_ACCESS_DENIED, ER_HOST_NOT_PRIVILEGED), e.value.args


def test_root_over_socket_needs_the_password(demo_cluster):
    for server in _servers(demo_cluster):
        assert server.root_password
        with pytest.raises(pymysql.err.OperationalError) as e:
            pymysql.connect(unix_socket=server.socket, user="root", password="")
        assert e.value.args[0] == ER_ACCESS_DENIED
        server.connect().close()   # the cluster's own password works


def _stub(worker, token):
    if token is None:
        return pb_grpc.WorkerStub(grpc.insecure_channel(worker.grpc_address(), options=CHANNEL_OPTIONS))
    return pb_grpc.WorkerStub(channel(worker.grpc_address(), token, CHANNEL_OPTIONS))


def _worker_databases(config, worker) -> set[str]:
    conn = MariaDBServer.for_worker(config, worker.name).connect()
    with conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        names = {r[0] for r in cur.fetchall()}
    conn.close()
    return names


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
def test_every_rpc_kind_needs_the_token(demo_cluster, token):
    worker = demo_cluster.workers[0]
    stub = _stub(worker, token)
    evil = f"evil_{uuid.uuid4().hex[:8]}"
    calls = {
        "Health (unary)": lambda: stub.Health(pb.HealthRequest(), timeout=10),
        "ExecuteDdl (unary)": lambda: stub.ExecuteDdl(pb.DdlRequest(
            statements=[f"CREATE DATABASE {evil}"]), timeout=10),
        "RunChunkQuery (server stream)": lambda: list(stub.RunChunkQuery(pb.ChunkQueryRequest(
            query_id="probe", database="demo", sql_template="SELECT 1"), timeout=10)),
        "LoadContribution (client stream)": lambda: stub.LoadContribution(iter([pb.ContributionBatch(
            header=pb.ContributionHeader(database="demo", table="Filter", trans_id=1,
                                         columns=["filterId"]), data=b"9\n")]), timeout=10),
    }
    for name, call in calls.items():
        with pytest.raises(grpc.RpcError) as e:
            call()
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED, (name, e.value)
    assert evil not in _worker_databases(demo_cluster, worker)
    # and with the token the same channel kind works
    assert _stub(worker, demo_cluster.grpc_token).Health(pb.HealthRequest(), timeout=10).mariadb_ok


def _chunk_query(config, sql, database="demo", few_rows=False, chunks=()):
    stub = _stub(config.workers[0], config.grpc_token)
    request = pb.ChunkQueryRequest(query_id=f"probe-{uuid.uuid4().hex[:6]}", database=database,
                                   sql_template=sql, chunk_marker=CHUNK_MARKER,
                                   chunk_ids=list(chunks), few_rows=few_rows)
    return b"".join(b.tsv for b in stub.RunChunkQuery(request, timeout=30))


def _refused_code(e: grpc.RpcError) -> int:
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    return int(e.details().split(":", 1)[0])


DENIED = {ER_TABLEACCESS_DENIED, ER_DBACCESS_DENIED, ER_ACCESS_DENIED, 1227}


def _tables(config) -> set[str]:
    conn = MariaDBServer.for_worker(config, config.workers[0].name).connect()
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES FROM demo")
        names = {r[0] for r in cur.fetchall()}
    conn.close()
    return names


def _filter_rows(config) -> int:
    conn = MariaDBServer.for_worker(config, config.workers[0].name).connect()
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM demo.Filter")
        n = cur.fetchone()[0]
    conn.close()
    return n


@pytest.mark.parametrize("few_rows", [True, False])
def test_chunk_queries_cannot_write(demo_cluster, few_rows):
    before = _filter_rows(demo_cluster)
    assert before > 0
    assert _chunk_query(demo_cluster, "SELECT COUNT(*) FROM Filter", few_rows=few_rows) \
        == f"{before}\n".encode()                                   # reading works
    for sql in ["DROP TABLE demo.Filter",
                "INSERT INTO demo.Filter VALUES (99, 'q', 1.0)",
                "DELETE FROM demo.Filter",
                "CREATE TABLE demo.Intruder (i INT)",
                "GRANT ALL ON *.* TO 'qsreader'@'localhost'"]:
        with pytest.raises(grpc.RpcError) as e:
            _chunk_query(demo_cluster, sql, few_rows=few_rows)
        # The few-rows path runs the text as is: MariaDB itself refuses it, the account has
        # no right to (1142 table, 1044 database, 1045/1227 GRANT). The OUTFILE path appends
        # INTO OUTFILE, which makes most of these a syntax error (1064) before any right.
        allowed = DENIED | ({1064} if not few_rows else set())
        assert _refused_code(e.value) in allowed, (sql, e.value.details())
    assert _filter_rows(demo_cluster) == before
    assert "Intruder" not in _tables(demo_cluster)


def test_chunk_queries_cannot_read_mariadb_tables(demo_cluster):
    with pytest.raises(grpc.RpcError) as e:
        _chunk_query(demo_cluster, "SELECT User, authentication_string FROM mysql.user",
                     few_rows=True)
    assert _refused_code(e.value) == ER_TABLEACCESS_DENIED
    for db in ("mysql", "performance_schema"):
        with pytest.raises(grpc.RpcError) as e:
            _chunk_query(demo_cluster, "SELECT 1", database=db, few_rows=True)
        assert _refused_code(e.value) == ER_DBACCESS_DENIED


@pytest.mark.parametrize("few_rows", [True, False])
def test_chunk_queries_cannot_write_files_elsewhere(demo_cluster, tmp_path, few_rows):
    target = tmp_path / "stolen.tsv"
    sql = f"SELECT * FROM demo.Filter INTO OUTFILE '{target}'"
    with pytest.raises(grpc.RpcError) as e:
        _chunk_query(demo_cluster, sql, few_rows=few_rows)
    # few rows: secure_file_priv (1290); OUTFILE path: a second INTO is a syntax error
    assert _refused_code(e.value) == (ER_OPTION_PREVENTS_STATEMENT if few_rows else 1064)
    assert not os.path.exists(target)


def test_internal_accounts_after_a_restart(demo_cluster):
    """The account statements run at every start (--init-file) and the file holding the
    passwords does not stay behind."""
    for server in _servers(demo_cluster):
        assert not server.init_file.exists()
        conn = server.connect()
        with conn.cursor() as cur:
            cur.execute("SELECT User, Host FROM mysql.global_priv WHERE User IN ('root', '')")
            assert cur.fetchall() == (("root", "localhost"),)
        conn.close()
