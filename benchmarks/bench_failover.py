"""Replication and fail-over (issue 15, item 14), on one 3-worker cluster holding the same
catalog twice: `r1` (each chunk on one worker) and `r2` (on two).

1. What R = 2 costs a query with every worker up, side by side (runs alternate r1 / r2;
   medians): a streamed result (time to the first row and to the last: with a replica to fail
   over to, a job's rows are received whole before they go on, czar/dispatch.py) and a merge
   aggregate (unchanged: merge jobs were always received whole).
2. The fault run: `--clients` clients each send one query of a mix at once (streamed, merge,
   look-ups, join) to `r2`, and a worker daemon is killed (kill -9) while they run; every
   answer is compared with the answer the same query gave before the kill. Target: 0 errors,
   0 wrong answers. The same run on `r1` shows what the replicas buy (errors, still never a
   wrong answer).

    python -m benchmarks.bench_failover [--objects 100000] [--clients 100] [--repeat 9]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path

import pymysql
import pymysql.cursors

from benchmarks.common import czar_connection, report
from partitioner.run import Options, partition
from qserv.catalog import DatabaseSpec
from qserv.admin.cluster import down, up
from qserv.config import ClusterConfig
from qserv.admin.demo import generate
from qserv.admin.ingest_client import ingest_command
from qserv.mariadb import read_pid

STREAMED = "SELECT sourceId, objectId, mjd, psfFlux FROM Source WHERE psfFlux > 5"
MERGED = "SELECT filterId, COUNT(*), AVG(psfFlux) FROM Source GROUP BY filterId"
MIX = [
    STREAMED,
    MERGED,
    "SELECT objectId, ra, decl FROM Object WHERE flags = 3",
    "SELECT flags, COUNT(*), MIN(gMag) FROM Object GROUP BY flags",
    "SELECT * FROM Object WHERE objectId IN (13, 1003, 20003, 77773, 150003)",
    "SELECT o.flags, COUNT(*) FROM Object o JOIN Source s ON o.objectId = s.objectId GROUP BY o.flags",
    "SELECT objectId FROM Object ORDER BY gMag DESC, objectId LIMIT 50",
]


def first_and_last(config, db: str, sql: str) -> tuple[float, float, int]:
    """Seconds to the first row and to the last (unbuffered cursor), and the row count."""
    conn = czar_connection(config, db)
    try:
        with conn.cursor(pymysql.cursors.SSCursor) as cur:
            t = time.perf_counter()
            cur.execute(sql)          # returns once the header came: the first rows are ready
            first = cur.fetchone()
            t_first = time.perf_counter() - t
            n = 1 + sum(1 for _ in cur) if first is not None else 0
            return t_first, time.perf_counter() - t, n
    finally:
        conn.close()


def same(a: list, b: list) -> bool:
    """Equal rows; floats equal to 1e-9 relative (an AVG's summation order varies)."""
    return len(a) == len(b) and first_difference(a, b) is None


def first_difference(a: list, b: list):
    for x, y in zip(a, b):
        if len(x) != len(y) or not all(
                u == v or (isinstance(u, float) and isinstance(v, float)
                           and math.isclose(u, v, rel_tol=1e-9)) for u, v in zip(x, y)):
            return x, y
    return None


def answer(config, db: str, sql: str):
    conn = czar_connection(config, db)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return sorted(cur.fetchall(), key=repr)
    finally:
        conn.close()


def fault_run(config, db: str, clients: int, expected: dict, victim: str) -> dict:
    """`clients` queries at once, a worker killed while they run; counts by outcome."""
    outcome = {"correct": 0, "wrong": 0, "errors": 0}
    examples: list[str] = []
    lock, barrier = threading.Lock(), threading.Barrier(clients + 1)

    def client(k: int) -> None:
        sql = MIX[k % len(MIX)]
        try:
            conn = czar_connection(config, db)
        except pymysql.MySQLError as e:
            barrier.wait()
            with lock:
                outcome["errors"] += 1
                examples.append(f"connect: {e}")
            return
        barrier.wait()
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                rows = sorted(cur.fetchall(), key=repr)
            kind = "correct" if same(rows, expected[sql]) else "wrong"
        except pymysql.MySQLError as e:
            kind = "errors"
            with lock:
                examples.append(f"{sql[:40]}: {e.args}")
        finally:
            conn.close()
        with lock:
            outcome[kind] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    time.sleep(0.2)   # the queries are on their way
    os.kill(read_pid(config.pid_file(victim)), signal.SIGKILL)
    started = time.monotonic()
    for t in threads:
        t.join(600)
    outcome["seconds after the kill"] = round(time.monotonic() - started, 2)
    outcome["first error"] = examples[0][:160] if examples else ""
    return outcome


def restart(config, name: str) -> None:
    from qserv.admin.cluster import _spawn, _wait_port
    _spawn(config, name, ["worker", "--name", name])
    _wait_port(config, name, config.worker(name).grpc_port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--base-port", type=int, default=44306)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    config = ClusterConfig.create(work / "cluster", 3, frontend_port=args.base_port + 1000,
                                  base_port=args.base_port)
    try:
        up(config, echo=lambda *_: None)
        spec_path = generate(work / "data", n_objects=args.objects)
        out = work / "part"
        partition(DatabaseSpec.read(spec_path), Options(out_dir=str(out), progress=False))
        for db, r in (("r1", 1), ("r2", 2)):
            assert ingest_command(config, str(out), database=db, replication=r, progress=False) == 0
        rows, summary = [], {}
        for label, sql in (("streamed", STREAMED), ("merge", MERGED)):
            times = {"r1": [], "r2": []}
            for i in range(args.repeat):
                for db in (("r1", "r2") if i % 2 else ("r2", "r1")):
                    times[db].append(first_and_last(config, db, sql))
            med = {db: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
                   for db, ts in times.items()}
            rows.append({"query": label, "rows": times["r1"][0][2],
                         "R=1 first row s": round(med["r1"][0], 3), "R=2 first row s": round(med["r2"][0], 3),
                         "R=1 all rows s": round(med["r1"][1], 3), "R=2 all rows s": round(med["r2"][1], 3),
                         "R=2/R=1 first": round(med["r2"][0] / med["r1"][0], 2),
                         "R=2/R=1 all": round(med["r2"][1] / med["r1"][1], 2)})
            summary[f"{label}_first_row_ratio"] = rows[-1]["R=2/R=1 first"]
            summary[f"{label}_all_rows_ratio"] = rows[-1]["R=2/R=1 all"]
        report_rows = rows
        expected = {sql: answer(config, "r2", sql) for sql in MIX}
        for sql in MIX:   # the two copies answer alike (floats: to summation order)
            other = answer(config, "r1", sql)
            if not same(expected[sql], other):
                raise SystemExit(f"r1 and r2 differ on {sql}: {len(expected[sql])} vs "
                                 f"{len(other)} rows; first: {first_difference(expected[sql], other)}")
        faults = []
        for db in ("r2", "r1"):
            result = fault_run(config, db, args.clients, expected, victim="worker1")
            restart(config, "worker1")
            time.sleep(1.5)   # the czar's reconnect back-off is at most 1 s
            faults.append({"database": db, "clients": args.clients, **result})
            summary[f"fault_{db}_errors"] = result["errors"]
            summary[f"fault_{db}_wrong"] = result["wrong"]
        report("bench_failover", summary, report_rows)
        # the fault table goes below the timing table
        path = Path(__file__).parent / "results" / "bench_failover.md"
        cols = list(faults[0])
        path.write_text(path.read_text() + "\n## kill -9 of worker1 with the queries in flight\n\n"
                        + "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
                        + "".join("| " + " | ".join(str(f[c]) for c in cols) + " |\n" for f in faults))
    finally:
        down(config, echo=lambda *_: None)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
