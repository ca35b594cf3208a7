"""Load (issue 15, "Tests and figures"): many concurrent clients sending a mix of look-ups,
cones and scans for a while, at 50 clients and then at 200 on the same cluster, side by
side in one run.

Every answer is checked against the oracle (one plain MariaDB with the same rows, loaded by
the same code), so the run counts wrong answers, not only errors; errors are counted by
MariaDB code, 1040 (too many connections) apart. The czar's memory (RSS) is sampled twice a
second. Reported per run and per class: queries/s, p50 and p99 latency.

Clients are real MySQL connections (pymysql), one per client, kept for the whole run (a
connection lost to an error is opened again), spread over a few processes so the Python
clients themselves do not serialize on one GIL. Think time 0: each client sends its next
query as soon as it has the answer.

    python -m benchmarks.bench_load [--objects 50000] [--seconds 120] [--clients 50,200]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pymysql

from benchmarks.common import report
from qserv.catalog import DatabaseSpec
from qserv.admin.cluster import down, up
from qserv.config import ClusterConfig, MariaDBSettings
from qserv.admin.demo import generate
from qserv.admin.ingest_client import load
from qserv.admin.oracle import load_single
from qserv.mariadb import MariaDBServer, read_pid

CLASSES = ("lookup", "cone", "scan")
WEIGHTS = (0.6, 0.3, 0.1)
SCANS = [
    "SELECT flags, COUNT(*), SUM(gMag) FROM Object GROUP BY flags ORDER BY flags",
    "SELECT COUNT(*), MIN(ra), MAX(decl) FROM Object WHERE gMag > 22",
    "SELECT filterId, COUNT(*), AVG(psfFlux) FROM Source GROUP BY filterId ORDER BY filterId",
]


def workload(objects: int, seed: int = 11) -> dict[str, list[tuple[str, str]]]:
    """Per class, (czar SQL, oracle SQL) pairs; clients draw from these pools."""
    rng = np.random.default_rng(seed)
    ids = (rng.integers(1, objects + 1, 400) * 10 + 3).tolist()
    lookups = [(f"SELECT objectId, ra, decl, gMag, flags FROM Object WHERE objectId = {i}",) * 2
               for i in ids]
    cones = []
    for _ in range(80):
        ra, dec = float(rng.uniform(-18, 18)) % 360, float(rng.uniform(-13, 13))
        cols = "SELECT objectId, ra, decl, gMag FROM Object WHERE "
        cones.append((cols + f"qserv_areaspec_circle({ra:.5f}, {dec:.5f}, 0.2)",
                      cols + f"scisql_s2PtInCircle(ra, decl, {ra:.5f}, {dec:.5f}, 0.2) = 1"))
    return {"lookup": lookups, "cone": cones, "scan": [(s, s) for s in SCANS]}


def canonical(rows) -> list[tuple]:
    """Rows sorted (by their first column: object ids, group keys), Decimals as floats."""
    out = [tuple(float(v) if isinstance(v, Decimal) else v for v in r) for r in rows]
    return sorted(out, key=lambda r: (r[0] is None, r[0]))


def same(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if len(x) != len(y):
            return False
        for u, v in zip(x, y):
            if u == v:
                continue
            if isinstance(u, float) and isinstance(v, float) and math.isclose(u, v, rel_tol=1e-9):
                continue
            return False
    return True


def connect(port: int, user: str, password: str):
    return pymysql.connect(host="127.0.0.1", port=port, user=user, password=password,
                           database="demo", connect_timeout=30, read_timeout=600)


def client_process(port, user, password, threads, deadline, pools, expected, seed, out):
    """`threads` clients in this process until `deadline` (a time.time()); puts its records
    on `out`: [(class, seconds, outcome)] with outcome "ok", "wrong" or an error code."""
    records, lock = [], threading.Lock()

    def client(k: int) -> None:
        rnd = random.Random(seed * 1000 + k)
        conn = None
        mine = []
        while time.time() < deadline:
            if conn is None:
                try:
                    conn = connect(port, user, password)
                    if not mine or all(r[0] == "connect" for r in mine):
                        mine.append(("connected", 0.0, "ok"))
                except pymysql.MySQLError as e:
                    mine.append(("connect", 0.0, e.args[0] if e.args else -1))
                    time.sleep(0.2)
                    continue
            cls = rnd.choices(CLASSES, WEIGHTS)[0]
            i = rnd.randrange(len(pools[cls]))
            sql = pools[cls][i][0]
            t = time.perf_counter()
            try:
                with conn.cursor() as cur:
                    cur.execute(sql)
                    rows = cur.fetchall()
                dt = time.perf_counter() - t
                outcome = "ok" if same(canonical(rows), expected[cls][i]) else "wrong"
            except pymysql.MySQLError as e:
                dt = time.perf_counter() - t
                outcome = e.args[0] if e.args and isinstance(e.args[0], int) else -1
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
                conn = None
            if time.time() < deadline:   # only what finished within the run counts
                mine.append((cls, dt, outcome))
        if conn is not None:
            conn.close()
        with lock:
            records.extend(mine)

    ts = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(records)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_load(config, clients: int, seconds: float, pools, expected, procs: int) -> dict:
    czar = read_pid(config.pid_file("czar"))
    start_rss = rss_mb(czar)
    deadline = time.time() + seconds
    out: mp.Queue = mp.Queue()
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    ps = [mp.Process(target=client_process, args=(config.frontend_port, config.user,
                                                  config.password, n, deadline, pools, expected,
                                                  i + 1, out))
          for i, n in enumerate(per) if n]
    for p in ps:
        p.start()
    samples = []
    while time.time() < deadline:
        samples.append(rss_mb(czar))
        time.sleep(0.5)
    records = [r for _ in ps for r in out.get()]
    for p in ps:
        p.join()
    end_rss = rss_mb(czar)
    result = {"clients": clients, "seconds": seconds, "czar_rss_start_mb": round(start_rss),
              "czar_rss_peak_mb": round(max(samples + [end_rss])), "czar_rss_end_mb": round(end_rss)}
    result["clients_connected"] = sum(1 for r in records if r[0] == "connected")
    errors: dict[str, int] = {}
    for cls, _, outcome in records:
        if outcome not in ("ok", "wrong"):
            errors[str(outcome)] = errors.get(str(outcome), 0) + 1
    result["errors_by_code"] = errors
    result["errors_1040"] = errors.get("1040", 0)
    result["wrong"] = sum(1 for r in records if r[2] == "wrong")
    result["classes"] = {}
    for cls in CLASSES:
        ok = sorted(dt for c, dt, o in records if c == cls and o == "ok")
        n_err = sum(1 for c, _, o in records if c == cls and o not in ("ok", "wrong"))
        result["classes"][cls] = {
            "answered": len(ok), "errors": n_err,
            "qps": round(len(ok) / seconds, 2),
            "p50_ms": round(1000 * statistics.median(ok), 1) if ok else None,
            "p99_ms": round(1000 * ok[min(len(ok) - 1, int(0.99 * len(ok)))], 1) if ok else None}
    result["qps"] = round(sum(c["answered"] for c in result["classes"].values()) / seconds, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=50_000)
    parser.add_argument("--sources-per-object", type=int, default=2)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", default="50,200", help="client counts, run in this order")
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--base-port", type=int,
                        default=int(os.environ.get("QSERV_TEST_BASE_PORT", "23306")) + 600)
    parser.add_argument("--frontend-port", type=int, default=None,
                        help="the czar's MySQL port (default: base port + 380)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    config = ClusterConfig.create(work / "cluster", args.workers,
                                  frontend_port=args.frontend_port or args.base_port + 380,
                                  base_port=args.base_port)
    oracle = MariaDBServer(work / "oracle", args.base_port - 6,
                           MariaDBSettings(innodb_buffer_pool_size="256M", key_buffer_size="128M"))
    try:
        spec_path = generate(work / "data", n_objects=args.objects,
                             sources_per_object=args.sources_per_object)
        spec = DatabaseSpec.read(spec_path)
        up(config, echo=lambda *_: None)
        oracle.start(open(work / "oracle.log", "ab"))
        load(config, spec, show_progress=False)
        conn = oracle.connect()
        load_single(conn, spec)
        conn.close()
        pools = workload(args.objects)
        ref = oracle.connect(database="demo")
        expected = {}
        with ref.cursor() as cur:
            for cls, pairs in pools.items():
                expected[cls] = []
                for _, oracle_sql in pairs:
                    cur.execute(oracle_sql)
                    expected[cls].append(canonical(cur.fetchall()))
        ref.close()
        oracle.stop()   # it would take CPU from the cluster during the runs
        runs = []
        for n in [int(x) for x in args.clients.split(",")]:
            runs.append(run_load(config, n, args.seconds, pools, expected, args.procs))
            time.sleep(3)
        rows = []
        for r in runs:
            for cls in CLASSES:
                c = r["classes"][cls]
                rows.append({"clients": r["clients"], "class": cls, "q/s": c["qps"],
                             "p50 ms": c["p50_ms"], "p99 ms": c["p99_ms"],
                             "answered": c["answered"], "errors": c["errors"]})
            rows.append({"clients": r["clients"], "class": "all", "q/s": r["qps"], "p50 ms": "",
                         "p99 ms": "", "answered": sum(c["answered"] for c in r["classes"].values()),
                         "errors": sum(r["errors_by_code"].values())})
            rows.append({"clients": r["clients"], "class": "(run)",
                         "q/s": f"{r['clients_connected']} clients connected",
                         "p50 ms": f"1040s: {r['errors_1040']}", "p99 ms": f"wrong: {r['wrong']}",
                         "answered": f"czar RSS {r['czar_rss_start_mb']}->{r['czar_rss_peak_mb']} MB peak",
                         "errors": ", ".join(f"{k}: {v}" for k, v in r["errors_by_code"].items())
                         or "none"})
        summary = {"objects": args.objects, "workers": args.workers, "seconds": args.seconds,
                   "mix": dict(zip(CLASSES, WEIGHTS)), "load_avg_1m": round(os.getloadavg()[0], 2),
                   "runs": [{k: v for k, v in r.items()} for r in runs]}
        report("bench_load", summary, rows)
    finally:
        down(config, echo=lambda *_: None)
        oracle.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
