"""Async queries and scheduling (issue 17), on one local cluster:

1. Point look-ups from `--clients` concurrent clients (pymysql through the MySQL port), p50
   and p99, alone and while 2 async full scans run (kept running: each is submitted again
   when it ends). Target: p99 with scans <= 3x without.
2. Download of one async result (`SELECT objectId, ra, decl, gMag, flags FROM Object`: rows
   = objects, 5 columns) over HTTP in every format, rows/s, beside pymysql reading the same
   rows through the MySQL port (`SELECT * FROM qserv_result(id)`, and the sync query itself).
   The first HTTP download makes the result's Parquet copy (timed apart: `parquet_build_s`).
   Target: Arrow or Parquet >= 10x the pymysql rate.
3. SUBMIT (MySQL) and POST /query-async (HTTP) to the id, and GET status: p50.
   Targets: submit <= 20 ms, status <= 5 ms.

    python -m benchmarks.bench_async [--objects 200000] [--workers 4] [--clients 50]

The issue asks for 1M Objects; the default here is smaller so that the run takes minutes on
this shared 2-core machine (say so with the figures).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pymysql

from benchmarks.common import report
from qserv.admin.cluster import down, up
from qserv.admin.demo import generate
from qserv.admin.loader import load
from qserv.catalog import DatabaseSpec
from qserv.config import ClusterConfig

SCAN = "SELECT flags, COUNT(*), AVG(gMag), MAX(ra), MIN(decl) FROM Object GROUP BY flags"
DOWNLOAD = "SELECT objectId, ra, decl, gMag, flags FROM Object"
FORMATS = ("arrow", "parquet", "csv", "jsonl", "json")


class Http:
    """One keep-alive HTTP connection with Basic auth."""

    def __init__(self, config):
        self.conn = http.client.HTTPConnection(config.host, config.http_port, timeout=600)
        self.auth = "Basic " + base64.b64encode(f"{config.user}:{config.password}".encode()).decode()

    def call(self, method, path, body=None, raw=False):
        headers = {"Authorization": self.auth}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        payload = self.conn.getresponse().read()
        return payload if raw else json.loads(payload)

    def submit(self, sql):
        return self.call("POST", "/query-async", {"query": sql, "database": "demo"})["queryId"]

    def wait(self, qid):
        while True:
            s = self.call("GET", f"/query-async/status/{qid}?wait=30")["status"]
            if s["status"] not in ("QUEUED", "EXECUTING"):
                return s


def connect(config):
    return pymysql.connect(host=config.host, port=config.frontend_port, user=config.user,
                           password=config.password, database="demo")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def look_ups(config, ids, clients, per_client):
    """Latencies (s) of point look-ups, `clients` threads at once."""
    latencies, lock = [], threading.Lock()

    def client(seed):
        rnd = random.Random(seed)
        conn = connect(config)
        mine = []
        with conn.cursor() as cur:
            for _ in range(per_client):
                t = time.perf_counter()
                cur.execute(f"SELECT * FROM Object WHERE objectId = {rnd.choice(ids)}")
                cur.fetchall()
                mine.append(time.perf_counter() - t)
        conn.close()
        with lock:
            latencies.extend(mine)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


class Scans:
    """Keeps `n` async full scans running until stopped."""

    def __init__(self, config, n):
        self.config, self.stop, self.done = config, threading.Event(), 0
        self.threads = [threading.Thread(target=self.run) for _ in range(n)]

    def run(self):
        h = Http(self.config)
        while not self.stop.is_set():
            h.wait(h.submit(SCAN))
            self.done += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        time.sleep(1.0)   # both scans dispatched
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--objects", type=int, default=200_000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--per-client", type=int, default=20)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--base-port", type=int, default=27300)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-async-"))
    config = ClusterConfig.create(work / "cluster", args.workers, frontend_port=args.base_port + 400,
                                  base_port=args.base_port, async_max_running=4)
    try:
        spec = generate(work / "data", n_objects=args.objects, sources_per_object=1)
        up(config, echo=lambda *_: None)
        t = time.monotonic()
        load(config, DatabaseSpec.read(spec), show_progress=False)
        print(f"loaded {args.objects} objects in {time.monotonic() - t:.0f} s", flush=True)
        conn = connect(config)
        with conn.cursor() as cur:
            cur.execute("SELECT objectId FROM Object")
            ids = [r[0] for r in cur.fetchall()]
        summary, rows = {"objects": args.objects, "workers": args.workers, "clients": args.clients}, []

        # 0. shared scans: what a second scan of the same table at the same time costs (if
        # two concurrent scans take twice one, the work is per query, not the reading)
        h0 = Http(config)
        one = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            h0.wait(h0.submit(SCAN))
            one.append(time.perf_counter() - t)
        two = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            pair = [threading.Thread(target=lambda: Http(config).wait(Http(config).submit(SCAN)))
                    for _ in range(2)]
            for th in pair:
                th.start()
            for th in pair:
                th.join()
            two.append(time.perf_counter() - t)
        summary["scan_alone_s"] = round(statistics.median(one), 2)
        summary["two_concurrent_scans_s"] = round(statistics.median(two), 2)
        summary["two_scans_vs_one"] = round(statistics.median(two) / statistics.median(one), 2)
        rows.append({"measure": "one async full scan (aggregate) / two at once", "p50 ms":
                     f"{round(1000 * statistics.median(one))} / {round(1000 * statistics.median(two))}",
                     "p99 ms": "", "rows/s": ""})

        # 1. look-ups alone, then with 2 async scans
        look_ups(config, ids, 5, 5)   # warm
        alone = look_ups(config, ids, args.clients, args.per_client)
        with Scans(config, 2) as scans:
            during = look_ups(config, ids, args.clients, args.per_client)
        for name, lat in (("alone", alone), ("with_2_scans", during)):
            summary[f"lookup_p50_ms_{name}"] = round(1000 * percentile(lat, 50), 1)
            summary[f"lookup_p99_ms_{name}"] = round(1000 * percentile(lat, 99), 1)
            rows.append({"measure": f"look-up {name} ({len(lat)} look-ups)",
                         "p50 ms": summary[f"lookup_p50_ms_{name}"],
                         "p99 ms": summary[f"lookup_p99_ms_{name}"], "rows/s": ""})
        summary["scans_finished_during_lookups"] = scans.done
        summary["lookup_p99_ratio"] = round(summary["lookup_p99_ms_with_2_scans"]
                                            / summary["lookup_p99_ms_alone"], 2)

        # 2. downloads
        h = Http(config)
        qid = h.submit(DOWNLOAD)
        status = h.wait(qid)
        n = status["finalRows"]
        t = time.perf_counter()
        h.call("GET", f"/query-async/result/{qid}?format=parquet", raw=True)
        summary["parquet_build_s"] = round(time.perf_counter() - t, 2)
        readers = {"arrow": lambda b: ipc.open_stream(b).read_all().num_rows,
                   "parquet": lambda b: pq.read_table(io.BytesIO(b)).num_rows,
                   "csv": lambda b: b.count(b"\n") - 2,
                   "jsonl": lambda b: b.count(b"\n") - 2,
                   "json": lambda b: len(json.loads(b)["rows"])}
        for fmt in FORMATS:
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                got = readers[fmt](h.call("GET", f"/query-async/result/{qid}?format={fmt}", raw=True))
                times.append(time.perf_counter() - t)
                assert got == n, (fmt, got, n)
            rate = n / statistics.median(times)
            summary[f"download_rows_per_s_{fmt}"] = round(rate)
            rows.append({"measure": f"download {fmt} (HTTP, read into Python/Arrow)", "p50 ms":
                         round(1000 * statistics.median(times)), "p99 ms": "", "rows/s": round(rate)})
        for name, sql in (("pymysql_qserv_result", f"SELECT * FROM qserv_result({qid})"),
                          ("pymysql_sync_query", DOWNLOAD)):
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                with conn.cursor() as cur:
                    cur.execute(sql)
                    got = len(cur.fetchall())
                times.append(time.perf_counter() - t)
                assert got == n, (name, got, n)
            rate = n / statistics.median(times)
            summary[f"download_rows_per_s_{name}"] = round(rate)
            rows.append({"measure": f"download {name} (MySQL port)", "p50 ms":
                         round(1000 * statistics.median(times)), "p99 ms": "", "rows/s": round(rate)})
        best = max(summary["download_rows_per_s_arrow"], summary["download_rows_per_s_parquet"])
        summary["arrow_or_parquet_vs_pymysql"] = round(best / summary["download_rows_per_s_pymysql_sync_query"], 1)

        # 3. submit and status latency
        mysql_submit, http_submit, status_t = [], [], []
        for i in range(30):
            t = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute(f"SUBMIT SELECT * FROM Object WHERE objectId = {ids[i]}")
                cur.fetchall()
            mysql_submit.append(time.perf_counter() - t)
            t = time.perf_counter()
            last = h.submit(f"SELECT * FROM Object WHERE objectId = {ids[i]}")
            http_submit.append(time.perf_counter() - t)
        for _ in range(100):
            t = time.perf_counter()
            h.call("GET", f"/query-async/status/{last}")
            status_t.append(time.perf_counter() - t)
        for name, lat in (("submit_mysql", mysql_submit), ("submit_http", http_submit),
                          ("status_http", status_t)):
            summary[f"{name}_p50_ms"] = round(1000 * statistics.median(lat), 2)
            rows.append({"measure": name, "p50 ms": summary[f"{name}_p50_ms"],
                         "p99 ms": round(1000 * percentile(lat, 99), 2), "rows/s": ""})
        conn.close()
        report("bench_async", summary, rows)
    finally:
        down(config, echo=lambda *_: None)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
