"""The transactional ingest, end to end on a cluster of its own (2 workers): partitioner output
→ `qserv ingest` (a real process) → the czar's HTTP API → workers over gRPC → queries.

Failures are real: a worker daemon killed with SIGKILL during a load, the `qserv ingest`
process killed, a malformed file in the middle. After each, running the same command again
must give exactly the manifest's rows (the validation step compares every chunk table of
every worker and the director index)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pymysql
import pytest

from qserv.catalog import DatabaseSpec
from qserv.admin.cluster import _spawn, _wait_port, worker_mariadb
from qserv.admin.demo import generate
from qserv.mariadb import pid_alive, read_pid
from tests.conftest import BASE_PORT, czar_connect, query, running_cluster

INGEST_BASE = BASE_PORT + 400
INGEST_FRONTEND = BASE_PORT + 1400


@pytest.fixture(scope="module")
def icluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("ingest-cluster"), 2, INGEST_FRONTEND,
                         INGEST_BASE) as config:
        yield config


@pytest.fixture(scope="module")
def partitioned(tmp_path_factory):
    """A small demo catalog partitioned at chunk order 3 (a few dozen chunks)."""
    from partitioner.run import Options, partition
    src = generate(tmp_path_factory.mktemp("ingest-src"), n_objects=1500, chunk_order=3)
    out = tmp_path_factory.mktemp("ingest-part") / "out"
    manifest = partition(DatabaseSpec.read(src), Options(out_dir=str(out), progress=False))
    return out, manifest


def qserv(config, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "qserv.admin.cli", *args, "--dir", str(config.root)],
                          capture_output=True, text=True, timeout=timeout)


def spawn_ingest(config, source, db, *extra):
    return subprocess.Popen([sys.executable, "-m", "qserv.admin.cli", "ingest", str(source), db,
                             "--quiet", "--dir", str(config.root), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def http(config, method, path, body=None, token=True):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(f"http://{config.host}:{config.http_port}{path}", data=data,
                                 method=method)
    if isinstance(body, dict):
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {config.admin_token}")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def expected_rows(manifest) -> dict[str, int]:
    return {t: e["rows"] - e.get("rejected", 0) for t, e in manifest["tables"].items()}


def counts_through_czar(config, db) -> dict[str, int]:
    conn = czar_connect(config, db)
    try:
        return {t: query(conn, f"SELECT COUNT(*) FROM {t}")[1][0][0] for t in ("Object", "Source", "Filter")}
    finally:
        conn.close()


def committed(config, db) -> int:
    status, answer = http(config, "GET", f"/ingest/database/{db}")
    return answer["database"]["transactions"].get("COMMITTED", 0) if status == 200 else 0


def worker_rows(config, db, table_prefix="") -> int:
    """Rows of `db` on every worker's MariaDB, read directly (not through Qserv)."""
    total = 0
    for w in config.workers:
        conn = worker_mariadb(config, w.name).connect()
        with conn.cursor() as cur:
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                        "AND TABLE_NAME LIKE %s", (db, table_prefix + "%"))
            for (t,) in cur.fetchall():
                cur.execute(f"SELECT COUNT(*) FROM `{db}`.`{t}`")
                total += cur.fetchone()[0]
        conn.close()
    return total


def test_happy_path(icluster, partitioned):
    out, manifest = partitioned
    proc = qserv(icluster, "ingest", str(out), "happy", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validate: OK" in proc.stdout and "happy is published" in proc.stdout
    for step in ("register", "load", "publish", "validate"):
        assert step in proc.stdout
    assert counts_through_czar(icluster, "happy") == expected_rows(manifest)
    conn = czar_connect(icluster, "happy")
    try:
        names, rows = query(conn, "SELECT * FROM Object ORDER BY objectId LIMIT 3")
        assert "qserv_trans_id" not in names and "chunkId" not in names
        assert names == [c["name"] for c in manifest["spec"]["tables"][0]["columns"]]
        # a director-key look-up (uses the index built at publish) and a chunk-local join
        oid = rows[0][0]
        assert query(conn, f"SELECT COUNT(*) FROM Object WHERE objectId = {oid}")[1] == [(1,)]
        n = query(conn, "SELECT COUNT(*) FROM Object o JOIN Source s ON o.objectId = s.objectId")[1][0][0]
        assert n == expected_rows(manifest)["Source"]
    finally:
        conn.close()
    status = qserv(icluster, "ingest", "status", "happy")
    assert status.returncode == 0 and "PUBLISHED" in status.stdout and "COMMITTED" in status.stdout
    # the load step counts overlap rows apart, with bundles (the default) too
    overlap = sum(t["overlap_rows"] for t in manifest["tables"].values())
    assert overlap > 0 and f'"overlap_rows": {overlap},' in status.stdout, status.stdout
    # Running it again is harmless: the database is published, only validated.
    again = qserv(icluster, "ingest", str(out), "happy", "--quiet")
    assert again.returncode == 0 and "already published" in again.stdout


def test_http_api_transactions_and_abort(icluster):
    assert http(icluster, "GET", "/openapi.json")[1]["paths"]["/ingest/trans/{id}"]["put"]
    assert http(icluster, "POST", "/ingest/database", {"database": "api"}, token=False)[0] == 401
    assert http(icluster, "GET", "/ingest/database/nosuch")[0] == 404
    status, answer = http(icluster, "POST", "/ingest/database", {"database": "api", "chunk_order": 3})
    assert status == 200 and answer["success"] == 1 and answer["error"] == ""
    schema = [{"name": "id", "type": "BIGINT NOT NULL"}, {"name": "ra", "type": "DOUBLE"},
              {"name": "decl", "type": "DOUBLE"}]
    assert http(icluster, "POST", "/ingest/table", {
        "database": "api", "table": "Obj", "is_partitioned": 1, "is_director": 1, "director_key": "id",
        "longitude_key": "ra", "latitude_key": "decl", "primary_key": ["id"], "schema": schema})[0] == 200
    location = http(icluster, "POST", "/ingest/chunk", {"database": "api", "chunk": 7})[1]["location"]
    assert location["chunk"] == 7 and len(location["workers"]) == 1
    keep = http(icluster, "POST", "/ingest/trans", {"database": "api"})[1]["transaction"]
    drop = http(icluster, "POST", "/ingest/trans", {"database": "api"})[1]["transaction"]
    rows_keep = b'"1","10.5","1.5","7","3"\n"2","10.6","1.6","7","4"\n'
    rows_drop = b'"3","10.7","1.7","7","5"\n'
    for t, data in ((keep, rows_keep), (drop, rows_drop)):
        s, a = http(icluster, "POST", f"/ingest/file?transaction_id={t['id']}&table=Obj&chunk=7", data)
        assert s == 200, a
    assert worker_rows(icluster, "api") == 3
    s, a = http(icluster, "PUT", f"/ingest/trans/{drop['id']}?abort=1")
    assert s == 200 and a["transaction"]["state"] == "ABORTED"
    assert worker_rows(icluster, "api") == 2        # the aborted partition is gone
    s, a = http(icluster, "POST", f"/ingest/file?transaction_id={drop['id']}&table=Obj&chunk=7", rows_drop)
    assert s == 409 and a["success"] == 0 and "ABORTED" in a["error"]
    # publish refuses while a transaction is open; then works; queries see the rows at once
    assert http(icluster, "PUT", "/ingest/database/api")[0] == 409
    assert http(icluster, "PUT", f"/ingest/trans/{keep['id']}?abort=0")[1]["transaction"]["state"] == "COMMITTED"
    s, a = http(icluster, "PUT", "/ingest/database/api")
    assert s == 200, a
    conn = czar_connect(icluster, "api")
    try:
        assert query(conn, "SELECT * FROM Obj ORDER BY id") == (["id", "ra", "decl"],
                                                                [(1, 10.5, 1.5), (2, 10.6, 1.6)])
    finally:
        conn.close()
    v = http(icluster, "POST", "/ingest/database/api/validate", {})[1]["validation"]
    assert v["ok"] and v["director_index"][0]["entries"] == 2, v
    assert http(icluster, "POST", "/ingest/trans", {"database": "api"})[0] == 409  # published


def bundle_body(files) -> bytes:
    """POST /ingest/files' body: a line of JSON listing the files, then their bytes."""
    listing = [{k: v for k, v in f.items() if k != "data"} | {"bytes": len(f["data"])} for f in files]
    return json.dumps({"files": listing}).encode() + b"\n" + b"".join(f["data"] for f in files)


def test_http_api_bundles(icluster):
    """POST /ingest/files: many chunk files of one transaction in one request and one worker
    stream (tables created in bulk, files loaded through a named pipe). Files larger than a
    gRPC message (4 MiB) cross message boundaries; a bad file fails the request naming it;
    abort leaves no row and no table; a body shorter than its listing is refused."""
    http(icluster, "POST", "/ingest/database", {"database": "bun", "chunk_order": 3})
    schema = [{"name": "id", "type": "BIGINT NOT NULL"}, {"name": "ra", "type": "DOUBLE"},
              {"name": "decl", "type": "DOUBLE"}, {"name": "note", "type": "VARCHAR(64)"}]
    assert http(icluster, "POST", "/ingest/table", {
        "database": "bun", "table": "Obj", "is_partitioned": 1, "is_director": 1, "director_key": "id",
        "longitude_key": "ra", "latitude_key": "decl", "primary_key": ["id"], "schema": schema})[0] == 200
    # chunks on the same worker (a bundle's chunks must share their workers)
    locations = http(icluster, "POST", "/ingest/chunks", {"database": "bun", "chunks": list(range(400))})[1]
    by_worker = {}
    for loc in locations["locations"]:
        by_worker.setdefault(loc["workers"][0]["worker"], []).append(loc["chunk"])
    chunks = next(iter(by_worker.values()))[:3]
    other = next(c for w, cs in by_worker.items() for c in cs if c not in chunks and w not in
                 [loc["workers"][0]["worker"] for loc in locations["locations"] if loc["chunk"] == chunks[0]])
    big = b"".join(b'"%d","1.5","2.5","%s","%d","1"\n' % (i, b"x" * 40, chunks[0])
                   for i in range(1, 160_001))   # ~9.5 MB: a pipe, and crosses 4 MiB messages
    files = [{"table": "Obj", "chunk": chunks[0], "name": "big.csv", "data": big},
             {"table": "Obj", "chunk": chunks[0], "overlap": 1, "name": "big-overlap.csv",
              "data": b'"900001","1","1",NULL,"%d","2"\n' % chunks[0]},
             {"table": "Obj", "chunk": chunks[1], "name": "empty.csv", "data": b""},
             {"table": "Obj", "chunk": chunks[2], "name": "small.csv",
              "data": b'"900002","3","4","y","%d","5"\n"900003","3","4","z","%d","5"\n' % (chunks[2], chunks[2])}]
    keep = http(icluster, "POST", "/ingest/trans", {"database": "bun", "units": ["u1", "u2"]})[1]["transaction"]
    s, a = http(icluster, "POST", f"/ingest/files?transaction_id={keep['id']}", bundle_body(files))
    assert s == 200, a
    assert [c["rows"] for c in a["contribs"]] == [160_000, 1, 0, 2]
    assert [c["worker_table"] for c in a["contribs"]] == [
        f"Obj_{chunks[0]}", f"ObjFullOverlap_{chunks[0]}", f"Obj_{chunks[1]}", f"Obj_{chunks[2]}"]
    assert worker_rows(icluster, "bun") == 160_003
    # many small files: their spool files are reused (one per load slot at most: creating a
    # file costs ~0.3 ms of kernel time on ext4 without a journal), and none is left behind
    worker = next(w for w, cs in by_worker.items() if chunks[0] in cs)
    small = [{"table": "Obj", "chunk": c, "name": f"s{c}.csv",
              "data": b'"%d","1","1","s","%d","1"\n' % (1_000_000 + c, c)}
             for c in by_worker[worker][112:160]]
    s, a = http(icluster, "POST", f"/ingest/files?transaction_id={keep['id']}", bundle_body(small))
    assert s == 200 and [c["rows"] for c in a["contribs"]] == [1] * len(small), a
    line = next(x for x in reversed(icluster.log_file(worker).read_text().splitlines())
                if f"trans {keep['id']}: {len(small)} files" in x)
    spools = int(line.split("files (")[1].split(" spool")[0])
    assert 1 <= spools <= icluster.worker_load_connections, line
    assert not list(worker_mariadb(icluster, worker).outfile_dir.glob("bundle-*"))
    assert worker_rows(icluster, "bun") == 160_003 + len(small)
    # a bad file in the middle of a bundle: the request fails naming it; abort drops all
    drop = http(icluster, "POST", "/ingest/trans", {"database": "bun"})[1]["transaction"]
    bad = [{"table": "Obj", "chunk": chunks[1], "name": "fine.csv",
            "data": b'"7","1","1","a","%d","1"\n' % chunks[1]},
           {"table": "Obj", "chunk": chunks[2], "name": "broken.csv", "data": b'"8","one","1","a","1","1"\n'}]
    s, a = http(icluster, "POST", f"/ingest/files?transaction_id={drop['id']}", bundle_body(bad))
    assert s == 400 and "broken.csv" in a["error"] and "1366" in a["error"], a
    assert worker_rows(icluster, "bun") == 160_004 + len(small)      # fine.csv was loaded, in `drop`
    assert http(icluster, "PUT", f"/ingest/trans/{drop['id']}?abort=1")[1]["transaction"]["state"] == "ABORTED"
    assert worker_rows(icluster, "bun") == 160_003 + len(small)
    # a bad first file while the bundle's later tables are still being created (tables are
    # made while the first files load): after the abort no table of the bundle is left
    fresh = by_worker[next(w for w, cs in by_worker.items() if chunks[0] in cs)][10:110]
    t = http(icluster, "POST", "/ingest/trans", {"database": "bun"})[1]["transaction"]
    early = [{"table": "Obj", "chunk": fresh[0], "name": "broken-first.csv",
              "data": b'"9","one","1","a","1","1"\n'}] + \
        [{"table": "Obj", "chunk": c, "name": f"e{c}.csv", "data": b""} for c in fresh[1:]]
    s, a = http(icluster, "POST", f"/ingest/files?transaction_id={t['id']}", bundle_body(early))
    assert s == 400 and "broken-first.csv" in a["error"], a
    assert http(icluster, "PUT", f"/ingest/trans/{t['id']}?abort=1")[1]["transaction"]["state"] == "ABORTED"
    names = [f"Obj_{c}" for c in fresh]
    for w in icluster.workers:
        conn = worker_mariadb(icluster, w.name).connect()
        with conn.cursor() as cur:
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'bun' "
                        f"AND TABLE_NAME IN ({', '.join(['%s'] * len(names))})", names)
            assert cur.fetchall() == ()
        conn.close()
    # a body shorter than its listing, chunks on different workers: refused, clearly
    t = http(icluster, "POST", "/ingest/trans", {"database": "bun"})[1]["transaction"]
    short = bundle_body(files[3:])[:-5]
    s, a = http(icluster, "POST", f"/ingest/files?transaction_id={t['id']}", short)
    assert s == 400 and "listing says" in a["error"], a
    mixed = [files[3], {"table": "Obj", "chunk": other, "name": "o.csv", "data": b""}]
    s, a = http(icluster, "POST", f"/ingest/files?transaction_id={t['id']}", bundle_body(mixed))
    assert s == 400 and "same workers" in a["error"], a
    s, a = http(icluster, "POST", f"/ingest/files?transaction_id={t['id']}", b"not json\n")
    assert s == 400 and "JSON" in a["error"], a
    assert http(icluster, "PUT", f"/ingest/trans/{t['id']}?abort=1")[0] == 200
    assert http(icluster, "PUT", f"/ingest/trans/{keep['id']}?abort=0")[0] == 200
    listed = http(icluster, "GET", "/ingest/trans?database=bun&units=1")[1]["transactions"]
    assert [x["units"] for x in listed if x["id"] == keep["id"]] == [["u1", "u2"]]
    s, a = http(icluster, "PUT", "/ingest/database/bun")
    assert s == 200, a
    conn = czar_connect(icluster, "bun")
    try:
        assert query(conn, "SELECT COUNT(*), MAX(id) FROM Obj")[1] == [(160_002 + len(small), 1_000_000 + max(
            c for c in by_worker[worker][112:160]))]
    finally:
        conn.close()


def test_director_index_built_beside_the_load(icluster):
    """POST /ingest/index/build builds the index from the files staged so far (the ingest
    calls it while chunks still load); publish keeps it. A file staged after the build drops
    it, and publish builds it again with every file."""
    http(icluster, "POST", "/ingest/database", {"database": "idx", "chunk_order": 3})
    schema = [{"name": "id", "type": "BIGINT NOT NULL"}, {"name": "ra", "type": "DOUBLE"},
              {"name": "decl", "type": "DOUBLE"}]
    assert http(icluster, "POST", "/ingest/table", {
        "database": "idx", "table": "Obj", "is_partitioned": 1, "is_director": 1, "director_key": "id",
        "longitude_key": "ra", "latitude_key": "decl", "primary_key": ["id"], "schema": schema})[0] == 200
    t = http(icluster, "POST", "/ingest/trans", {"database": "idx"})[1]["transaction"]
    rows = b'"1","10.5","1.5","7","3"\n"2","10.6","1.6","7","4"\n"3","10.7","1.7","7","5"\n'
    assert http(icluster, "POST", f"/ingest/file?transaction_id={t['id']}&table=Obj&chunk=7", rows)[0] == 200
    assert http(icluster, "PUT", f"/ingest/trans/{t['id']}?abort=0")[0] == 200
    stage = "/ingest/index?database=idx&table=Obj&columns=id,chunkId,subChunkId&name="
    assert http(icluster, "POST", stage + "a", b'"1","7","3"\n"2","7","4"\n')[0] == 200
    s, a = http(icluster, "POST", "/ingest/index/build", {"database": "idx", "table": "Obj"})
    assert s == 200 and a["index"]["rows"] == 2, a
    conn = pymysql.connect(unix_socket=str(icluster.instance_dir("czar") / "mysqld.sock"), user="root",
                           password=icluster.mariadb_root_password)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM qservMeta.dirindex__idx__Obj")
            assert cur.fetchone() == (2,)
            assert http(icluster, "POST", stage + "b", b'"3","7","5"\n')[0] == 200
            with pytest.raises(pymysql.err.ProgrammingError):   # dropped: it lacks file b
                cur.execute("SELECT COUNT(*) FROM qservMeta.dirindex__idx__Obj")
    finally:
        conn.close()
    s, a = http(icluster, "PUT", "/ingest/database/idx")
    assert s == 200 and a["director_index"][0]["rows"] == 3, a
    v = http(icluster, "POST", "/ingest/database/idx/validate", {})[1]["validation"]
    assert v["ok"] and v["director_index"][0]["entries"] == 3, v
    assert http(icluster, "POST", "/ingest/index/build", {"database": "idx", "table": "Obj"})[0] == 409


def test_torn_file_is_refused_before_any_row_is_sent(icluster, partitioned, tmp_path):
    """Issue 14: a chunk file with a torn row (a row's head, other whole rows, its tail:
    the same bytes, line count and, as the writer computed it, CRC32) is refused by the
    ingest's check against the manifest, naming the file and the line; nothing is loaded."""
    out, manifest = partitioned
    torn = tmp_path / "out"
    shutil.copytree(out, torn)
    chunks = manifest["tables"]["Source"]["chunks"]
    victim = torn / max(chunks.values(), key=lambda e: e["rows"])["file"]
    lines = victim.read_bytes().splitlines(keepends=True)
    victim.write_bytes(b"".join(lines[:7] + [lines[7][:15]] + lines[8:20] + [lines[7][15:]] + lines[20:]))
    proc = qserv(icluster, "ingest", str(torn), "torn", "--quiet")
    assert proc.returncode == 1, proc.stdout
    assert str(victim) in proc.stdout and "line 8 has" in proc.stdout, proc.stdout
    assert "rows do not match the manifest" in proc.stdout and "no row was sent" in proc.stdout
    assert http(icluster, "GET", "/ingest/trans?database=torn")[1]["transactions"] == []
    assert worker_rows(icluster, "torn") == 0


def test_bad_file_aborts_with_report_then_resume(icluster, partitioned, tmp_path):
    """A file that matches its manifest but that MariaDB refuses: the transaction of its
    chunk is aborted and retried, the rest loaded; fixed, the same command loads the rest."""
    from qserv import row_checksum
    out, manifest = partitioned
    bad = tmp_path / "out"
    shutil.copytree(out, bad)
    chunks = sorted(manifest["tables"]["Source"]["chunks"], key=int)
    entry = manifest["tables"]["Source"]["chunks"][chunks[len(chunks) // 2]]
    victim = bad / entry["file"]
    good = victim.read_bytes()
    lines = good.splitlines(keepends=True)
    victim.write_bytes(b"".join(lines[:1] + [b'"1","2","three"\n'] + lines[1:]))
    edited = json.loads(json.dumps(manifest))          # the manifest made to agree with it
    e = edited["tables"]["Source"]["chunks"][chunks[len(chunks) // 2]]
    e["rows"] += 1
    e["row_checksum"] = row_checksum.text(row_checksum.python_sums(victim.read_bytes())[0])
    (bad / "manifest.json").write_text(json.dumps(edited))
    # Bundles of one chunk (the smallest): the transaction of the bad file's chunk fails alone.
    proc = qserv(icluster, "ingest", str(bad), "bad", "--quiet", "--retries", "1",
                 "--bundle-mb", "0.001")
    assert proc.returncode == 1, proc.stdout
    assert "FAILED chunk:" in proc.stdout and str(victim) in proc.stdout, proc.stdout
    assert "is not published" in proc.stdout
    trans = http(icluster, "GET", "/ingest/trans?database=bad")[1]["transactions"]
    failed_chunk = f"chunk:{chunks[len(chunks) // 2]}"
    assert [t["state"] for t in trans if t["context"] == failed_chunk] == ["ABORTED", "ABORTED"]
    chunk = chunks[len(chunks) // 2]
    assert worker_rows(icluster, "bad", f"Source_{chunk}") == 0
    assert worker_rows(icluster, "bad", f"Object_{chunk}") == 0
    conn = czar_connect(icluster, None)
    try:   # unpublished: invisible to queries
        with pytest.raises(pymysql.MySQLError) as e:
            query(conn, "SELECT COUNT(*) FROM bad.Object")
        assert e.value.args[0] in (1049, 1146)
    finally:
        conn.close()
    # Fixed, the data is other data than the committed chunks came from: a database is not
    # changed in place, so resuming is refused (saying how out); dropped, it loads whole.
    victim.write_bytes(good)
    (bad / "manifest.json").write_text(json.dumps(manifest))
    proc = qserv(icluster, "ingest", str(bad), "bad", "--quiet")
    assert proc.returncode == 1 and "other data" in proc.stdout, proc.stdout
    assert http(icluster, "DELETE", "/ingest/database/bad")[0] == 200
    proc = qserv(icluster, "ingest", str(bad), "bad", "--quiet")
    assert proc.returncode == 0, proc.stdout
    assert counts_through_czar(icluster, "bad") == expected_rows(manifest)


def test_kill_worker_daemon_during_load_then_resume(icluster, partitioned):
    out, manifest = partitioned
    proc = spawn_ingest(icluster, out, "wkill", "-j", "1", "--retries", "1", "--bundle-mb", "0.001")
    deadline = time.monotonic() + 120
    while committed(icluster, "wkill") < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    victim = icluster.workers[1].name
    pid = read_pid(icluster.pid_file(victim))
    os.kill(pid, signal.SIGKILL)
    output = proc.communicate(timeout=180)[0]
    assert proc.returncode == 1, output
    assert "FAILED" in output and "run the same command again" in output.replace("\n", " ") or \
        "run again" in output, output
    while pid_alive(pid):
        time.sleep(0.05)
    _spawn(icluster, victim, ["worker", "--name", victim])
    _wait_port(icluster, victim, icluster.workers[1].grpc_port)
    again = qserv(icluster, "ingest", str(out), "wkill", "--quiet")
    assert again.returncode == 0, again.stdout
    assert "validate: OK" in again.stdout
    assert counts_through_czar(icluster, "wkill") == expected_rows(manifest)


def test_kill_ingest_then_resume_queries_see_only_published(icluster, partitioned):
    out, manifest = partitioned
    proc = spawn_ingest(icluster, out, "ikill", "-j", "1", "--bundle-mb", "0.001")
    conn = czar_connect(icluster, None)
    seen_errors = 0
    try:
        deadline = time.monotonic() + 120
        while committed(icluster, "ikill") < 4 and time.monotonic() < deadline and proc.poll() is None:
            try:   # during the ingest, nothing of the database is visible
                query(conn, "SELECT COUNT(*) FROM ikill.Object")
                raise AssertionError("an unpublished database answered a query")
            except pymysql.MySQLError as e:
                assert e.args[0] in (1049, 1146)
                seen_errors += 1
        assert proc.poll() is None, "the ingest finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert seen_errors > 0
        with pytest.raises(pymysql.MySQLError):
            query(conn, "SELECT COUNT(*) FROM ikill.Object")
        # the published databases of the other tests are untouched meanwhile
        assert counts_through_czar(icluster, "happy") == expected_rows(manifest)
    finally:
        conn.close()
    again = qserv(icluster, "ingest", str(out), "ikill", "--quiet")
    assert again.returncode == 0, again.stdout
    assert "already committed" in again.stdout and "validate: OK" in again.stdout
    skipped = int(again.stdout.split(" units already committed")[0].split("(")[-1])
    assert skipped >= 4
    assert counts_through_czar(icluster, "ikill") == expected_rows(manifest)
