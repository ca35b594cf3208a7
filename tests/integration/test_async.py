"""Async queries through both views of the query registry (issue 17): SUBMIT / qserv_result /
CANCEL over MySQL, the /query-async routes over HTTP, every result format read back, two
users kept apart, expiry, FAILED_LR, quota queueing, request_id, a czar restart."""

from __future__ import annotations

import base64
import csv
import io
import json
import time
import urllib.error
import urllib.request

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pymysql
import pytest

from qserv.catalog import DatabaseSpec
from qserv.admin.demo import generate
from tests.conftest import BASE_PORT, load, running_cluster

ASYNC_FRONTEND = BASE_PORT + 1500   # MySQL 1500, HTTP 1508
ASYNC_BASE = BASE_PORT + 1520       # MariaDB 1520..1522, gRPC 1621..1622
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
SLOW = "SELECT COUNT(*) FROM Object WHERE SLEEP(0.003) = 0"   # ~ 15 s of sleeping in all


@pytest.fixture(scope="module")
def acluster(tmp_path_factory):
    spec = generate(tmp_path_factory.mktemp("async-data"), n_objects=5000)
    with running_cluster(tmp_path_factory.mktemp("async-cluster"), 2, ASYNC_FRONTEND, ASYNC_BASE,
                         users=USERS, async_max_running=1, async_sweep_interval_s=0.5,
                         jobs_per_worker=2, chunks_per_job=4) as config:
        load(config, DatabaseSpec.read(spec), show_progress=False)
        yield config


def connect(config, user="alice", database="demo", **kw):
    return pymysql.connect(host=config.host, port=config.frontend_port, user=user,
                           password=USERS[user], database=database, **kw)


def sql(conn, text):
    with conn.cursor() as cur:
        cur.execute(text)
        return cur.fetchall()


def http(config, method, path, body=None, user="alice", raw=False, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://{config.host}:{config.http_port}{path}", data=data,
                                     method=method)
    token = base64.b64encode(f"{user}:{USERS[user]}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = response.read()
    return payload if raw else json.loads(payload)


def wait_done(config, qid, user="alice", timeout=120):
    answer = http(config, "GET", f"/query-async/status/{qid}?wait={timeout}", user=user)
    assert answer["success"] == 1, answer
    return answer["status"]


def test_submit_and_fetch_over_mysql_and_http(acluster):
    conn = connect(acluster)
    expected = sorted(sql(conn, "SELECT objectId, ra, decl, gMag, flags FROM Object WHERE flags < 3"))
    rows = sql(conn, "SUBMIT SELECT objectId, ra, decl, gMag, flags FROM Object WHERE flags < 3")
    assert len(rows) == 1
    qid, location = rows[0]
    assert location == f"table:result_{qid}"
    status = wait_done(acluster, qid)
    assert status["status"] == "COMPLETED", status
    assert status["completedChunks"] == status["totalChunks"] > 1
    assert status["finalRows"] == len(expected)
    assert sorted(sql(conn, f"SELECT * FROM qserv_result({qid})")) == expected
    answer = http(acluster, "GET", f"/query-async/result/{qid}")
    assert answer["success"] == 1 and [c["column"] for c in answer["schema"]] == \
        ["objectId", "ra", "decl", "gMag", "flags"]
    assert sorted(tuple(r) for r in answer["rows"]) == expected
    history = sql(conn, f"SELECT STATUS, ROWS, CHUNKS FROM information_schema.queries WHERE id = {qid}")
    assert history == ((("COMPLETED", len(expected), status["totalChunks"])),)
    conn.close()


def test_every_format_reads_back_the_same_rows(acluster):
    text = "SELECT objectId, ra, gMag, flags FROM Object WHERE objectId % 7 = 0"
    answer = http(acluster, "POST", "/query-async", {"query": text, "database": "demo",
                                                     "version": 39})
    qid = answer["queryId"]
    assert wait_done(acluster, qid)["status"] == "COMPLETED"
    conn = connect(acluster)
    expected = sorted(sql(conn, text))
    conn.close()
    base = f"/query-async/result/{qid}?format="
    parquet = pq.read_table(io.BytesIO(http(acluster, "GET", base + "parquet", raw=True)))
    arrow = ipc.open_stream(http(acluster, "GET", base + "arrow", raw=True)).read_all()
    lines = http(acluster, "GET", base + "jsonl", raw=True).decode().splitlines()
    assert json.loads(lines[-1])["end"]["complete"] is True
    jsonl = [tuple(json.loads(x)) for x in lines[1:-1]]
    csv_lines = http(acluster, "GET", base + "csv", raw=True).decode().splitlines()
    assert csv_lines[-1] == f"#END,{len(expected)}"
    csv_rows = [(int(a), float(b), float(c) if c else None, int(d))   # NULL: an empty field
                for a, b, c, d in csv.reader(csv_lines[1:-1])]
    doc = http(acluster, "GET", base + "json")
    assert doc["end"]["complete"] is True
    for got in (parquet.to_pylist(), arrow.to_pylist()):
        assert sorted(tuple(r.values()) for r in got) == expected
    assert parquet.schema.field("objectId").type == pa.int64()
    for got in (jsonl, csv_rows, [tuple(r) for r in doc["rows"]]):
        assert sorted(got) == expected
    # pages: two halves make the whole
    half = len(expected) // 2
    first = http(acluster, "GET", f"{base}json&offset=0&limit={half}")["rows"]
    rest = http(acluster, "GET", f"{base}json&offset={half}")["rows"]
    assert sorted(tuple(r) for r in first + rest) == expected
    # Range resumes the Parquet download
    whole = http(acluster, "GET", base + "parquet", raw=True)
    tail = http(acluster, "GET", base + "parquet", raw=True, headers={"Range": "bytes=100-"})
    assert whole[100:] == tail


def test_text_with_nul_bytes_and_escapes_reads_back_exactly(acluster):
    """A NUL byte in a text value read back as "0" (MariaDB's OUTFILE writes \\0)."""
    text = ("SELECT filterId, CONVERT(CONCAT(filterName, CHAR(0), 'x\\ty') USING utf8mb4) AS t, "
            "filterName FROM Filter")
    answer = http(acluster, "POST", "/query-async", {"query": text, "database": "demo",
                                                     "version": 39})
    qid = answer["queryId"]
    assert wait_done(acluster, qid)["status"] == "COMPLETED"
    conn = connect(acluster)
    expected = sorted(sql(conn, text))
    conn.close()
    assert all("\x00" in r[1] for r in expected)
    base = f"/query-async/result/{qid}?format="
    parquet = pq.read_table(io.BytesIO(http(acluster, "GET", base + "parquet", raw=True)))
    assert sorted(tuple(r.values()) for r in parquet.to_pylist()) == expected
    assert sorted(tuple(r) for r in http(acluster, "GET", base + "json")["rows"]) == expected


def test_users_see_only_their_own_queries(acluster):
    alice = connect(acluster, "alice")
    qid = sql(alice, "SUBMIT SELECT COUNT(*) FROM Object")[0][0]
    wait_done(acluster, qid)
    bob = connect(acluster, "bob")
    with pytest.raises(pymysql.MySQLError) as err:
        sql(bob, f"SELECT * FROM qserv_result({qid})")
    assert str(qid) in str(err.value)
    assert not [r for r in sql(bob, "SELECT ID FROM information_schema.queries") if r[0] == qid]
    assert http(acluster, "GET", f"/query-async/status/{qid}", user="bob")["success"] == 0
    assert http(acluster, "GET", f"/query-async/result/{qid}", user="bob")["success"] == 0
    assert http(acluster, "DELETE", f"/query-async/result/{qid}", user="bob")["success"] == 0
    listed = http(acluster, "GET", "/query-async", user="bob")["queries"]
    assert qid not in [q["queryId"] for q in listed]
    assert qid in [q["queryId"] for q in http(acluster, "GET", "/query-async")["queries"]]
    assert sql(alice, f"SELECT * FROM qserv_result({qid})") == ((5000,),)
    alice.close()
    bob.close()


def test_openapi_lists_the_query_routes(acluster):
    with urllib.request.urlopen(f"http://{acluster.host}:{acluster.http_port}/openapi.json") as r:
        paths = json.loads(r.read())["paths"]
    for path in ("/query", "/query-async", "/query-async/status/{id}", "/query-async/result/{id}",
                 "/query-async/{id}", "/ingest/database"):
        assert path in paths


def test_wrong_login_and_version(acluster):
    with pytest.raises(urllib.error.HTTPError) as err:
        http(acluster, "GET", "/query-async", user="alice", headers={"Authorization": "Basic eDp5"})
    assert err.value.code == 401
    answer = http(acluster, "POST", "/query-async", {"query": "SELECT 1", "version": 12})
    assert answer["success"] == 0
    assert answer["error_ext"] == {"max_version": 40, "min_version": 30}


def test_submit_errors_come_back_at_once(acluster):
    conn = connect(acluster)
    with pytest.raises(pymysql.MySQLError) as err:
        sql(conn, "SUBMIT SELECT nosuchcolumn FROM Object")
    assert err.value.args[0] == 1054
    answer = http(acluster, "POST", "/query-async", {"query": "SELECT * FROM NoTable",
                                                     "database": "demo"})
    assert answer["success"] == 0 and "NoTable" in answer["error"]
    conn.close()


def test_submit_refuses_session_settings_it_would_not_honour(acluster):
    """`||` is OR by default and concatenation under PIPES_AS_CONCAT: the async query, run
    later with the server's settings, would answer differently from the same SELECT."""
    conn = connect(acluster)
    try:
        sql(conn, "SET SESSION sql_mode = 'PIPES_AS_CONCAT'")
        with pytest.raises(pymysql.MySQLError) as err:
            sql(conn, "SUBMIT SELECT objectId || 'x' FROM Object LIMIT 1")
        assert err.value.args[0] == 1235 and "sql_mode" in err.value.args[1]
        sql(conn, "SET SESSION sql_mode = DEFAULT")
        qid = sql(conn, "SUBMIT SELECT COUNT(*) FROM Object")[0][0]
        assert wait_done(acluster, qid)["status"] == "COMPLETED"
    finally:
        conn.close()


def test_request_id_is_idempotent(acluster):
    body = {"query": "SELECT COUNT(*) FROM Object", "database": "demo", "request_id": "r-1"}
    first = http(acluster, "POST", "/query-async", body)["queryId"]
    again = http(acluster, "POST", "/query-async", body)["queryId"]
    assert first == again
    other = http(acluster, "POST", "/query-async", dict(body, request_id="r-2"))["queryId"]
    assert other != first
    # another user's request_id is theirs
    assert http(acluster, "POST", "/query-async", body, user="bob")["queryId"] != first


def test_wait_s_and_max_rows(acluster):
    answer = http(acluster, "POST", "/query-async", {
        "query": "SELECT objectId FROM Object", "database": "demo", "wait_s": 60, "max_rows": 10})
    assert answer["status"]["status"] == "COMPLETED"
    assert answer["status"]["truncated"] is True
    assert len(answer["rows"]) == 10 and answer["truncated"] is True


def test_sync_http_query(acluster):
    answer = http(acluster, "POST", "/query", {"query": "SELECT COUNT(*) AS n FROM Object",
                                               "database": "demo"})
    assert answer["success"] == 1 and answer["rows"] == [[5000]]
    assert answer["schema"][0]["column"] == "n"


def test_cancel_during_a_scan(acluster):
    conn = connect(acluster)
    qid = sql(conn, "SUBMIT " + SLOW)[0][0]
    deadline = time.monotonic() + 30
    while http(acluster, "GET", f"/query-async/status/{qid}")["status"]["status"] != "EXECUTING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.0)
    assert [r for r in sql(conn, "SHOW FULL PROCESSLIST") if r[0] == qid]
    assert sql(conn, f"CANCEL {qid}") == ((f"Trying to kill query: CANCEL {qid}",),)
    status = http(acluster, "GET", f"/query-async/status/{qid}")["status"]
    assert status["status"] == "ABORTED" and status["abortReason"] == "user"
    from tests.integration.test_cancel import worker_sleeps
    deadline = time.monotonic() + 3.0   # ~1 s on a quiet machine; this one is shared
    while worker_sleeps(acluster) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker_sleeps(acluster) == 0, "chunk queries still run on a worker after CANCEL"
    with pytest.raises(pymysql.MySQLError) as err:
        sql(conn, f"CANCEL {qid}")
    assert err.value.args[0] == 4005
    tables = sql(conn, "SELECT 1")  # the session lives on
    assert tables == ((1,),)
    conn.close()
    czar_db = pymysql.connect(unix_socket=_czar_socket(acluster), user="root",
                              password=acluster.mariadb_root_password)
    assert not sql(czar_db, f"SHOW TABLES FROM qservResult LIKE 'result_{qid}'")
    czar_db.close()


def _czar_socket(config):
    from qserv.mariadb import MariaDBServer
    return MariaDBServer.for_czar(config).socket


def test_qserv_query_command(acluster, tmp_path, capsys):
    from qserv.admin.cli import main
    run = ["query", "--dir", acluster.dir, "--user", "bob", "--password", USERS["bob"]]
    assert main(run + ["submit", "SELECT objectId, flags FROM Object WHERE flags = 1", "-d", "demo",
                       "--wait"]) == 0
    qid = int(capsys.readouterr().out.split()[0])
    conn = connect(acluster, "bob")
    expected = sorted(sql(conn, "SELECT objectId, flags FROM Object WHERE flags = 1"))
    conn.close()
    assert main(run + ["fetch", str(qid), "-o", str(tmp_path / "r.parquet")]) == 0
    assert sorted(tuple(r.values()) for r in pq.read_table(tmp_path / "r.parquet").to_pylist()) == expected
    assert main(run + ["fetch", str(qid), "-o", str(tmp_path / "r.csv")]) == 0
    assert (tmp_path / "r.csv").read_text().splitlines()[-1] == f"#END,{len(expected)}"
    assert main(run + ["list", "--state", "COMPLETED"]) == 0
    assert str(qid) in capsys.readouterr().out
    assert main(run + ["cancel", str(qid)]) == 1   # finished: nothing to cancel
    assert "Unknown or finished" in capsys.readouterr().err
    assert main(run + ["delete", str(qid)]) == 0
    assert main(run + ["status", str(qid)]) == 0
    assert '"EXPIRED"' in capsys.readouterr().out


def test_sync_queries_are_in_the_registry(acluster):
    conn = connect(acluster, "bob")
    text = "SELECT objectId FROM Object WHERE flags = 2 AND objectId < 1000000"
    n = len(sql(conn, text))
    deadline = time.monotonic() + 10
    while not (found := sql(conn, "SELECT TYPE, STATUS, ROWS, QUERY FROM information_schema.queries "
                                  f"WHERE TYPE = 'SYNC' AND QUERY = '{text}'")):
        assert time.monotonic() < deadline   # written within a second or two
        time.sleep(0.2)
    assert found[0][:3] == ("SYNC", "COMPLETED", n)
    alice = connect(acluster, "alice")   # not alice's
    assert not sql(alice, f"SELECT ID FROM information_schema.queries WHERE QUERY = '{text}'")
    alice.close()
    conn.close()
