"""Issue 3 benchmark: the same queries through the czar (4 workers) and on one plain MariaDB
holding the same rows, side by side in one run (runs alternate between the two; medians).

- a full-scan aggregate (COUNT, AVG, GROUP BY) over all Objects: target czar/single <= 1.2
- a ~100k-row result fetched by pymysql through port 4040: target >= 100k rows/s. pymysql
  decodes every value in Python, so on this 2-core machine the client itself is the limit
  (one MariaDB reaches about the same rate); the same result is also fetched with the C
  client (`mariadb --quick -B`, output counted and dropped), which shows what port 4040
  delivers when the client keeps up, and once more by pymysql with the client pinned to a
  core of its own and every server process (cluster and baseline) to the other.

    python benchmarks/bench_query.py --objects 1000000
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import cluster_and_baseline, czar_connection, report, time_pair
from qserv.admin.demo import generate

QUERIES = {
    "full_scan_aggregate": "SELECT flags, COUNT(*) AS n, AVG(gMag) AS g, AVG(rMag) AS r "
                           "FROM Object GROUP BY flags",
    "count": "SELECT COUNT(*) FROM Object",
    "rows_100k": "SELECT objectId, ra, decl, gMag, rMag, flags FROM Object WHERE (objectId DIV 10) % 10 = 0",
}


def time_cli(port: int, user: str, password: str, db: str, sql: str, repeat: int) -> tuple[float, int]:
    """Median wall time of the `mariadb` C client streaming every row (--quick: no client
    buffering) into a pipe, and the row count."""
    cmd = ["mariadb", "-h", "127.0.0.1", "-P", str(port), "-u", user, f"--password={password}",
           "--quick", "-B", "--skip-column-names", db, "-e", sql]
    times, n = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
        times.append(time.perf_counter() - t)
        n = out.count(b"\n")
    return statistics.median(times), n


def pin(work: Path, cpus: set[int]) -> int:
    """Pin every thread of every process whose command line names `work` (the cluster's
    daemons and MariaDB servers, the baseline MariaDB) to `cpus`; returns the processes."""
    n = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if str(work).encode() not in (proc / "cmdline").read_bytes():
                continue
            for task in (proc / "task").iterdir():
                os.sched_setaffinity(int(task.name), cpus)
            n += 1
        except OSError:          # gone meanwhile
            continue
    return n


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objects", type=int, default=1_000_000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--chunk-order", type=int, default=5)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--base-port", type=int, default=31306)
    p.add_argument("--work", default=None, help="scratch dir (default: a temp dir)")
    args = p.parse_args(argv)

    work = Path(args.work or tempfile.mkdtemp(prefix="qserv-bench-"))
    spec_path = generate(work / "data", n_objects=args.objects, sources_per_object=0,
                         chunk_order=args.chunk_order)
    rows, summary = [], {"objects": args.objects, "workers": args.workers,
                         "chunk_order": args.chunk_order}
    with cluster_and_baseline(work, spec_path, args.workers, args.base_port) as (config, baseline, load_s):
        summary["load_seconds"] = round(load_s, 2)
        czar = czar_connection(config, "demo")
        single = baseline.connect(database="demo")
        for name, sql in QUERIES.items():
            # alternate runs so that machine noise hits both sides alike
            (t_single, n_single), (t_czar, n_czar) = time_pair(single, czar, sql, args.repeat)
            assert n_single == n_czar, f"{name}: {n_czar} rows through the czar, {n_single} single"
            rows.append({"query": name, "rows": n_czar, "single_s": round(t_single, 4),
                         "czar_s": round(t_czar, 4), "ratio": round(t_czar / t_single, 2),
                         "czar_rows_per_s": round(n_czar / t_czar)})
            summary[f"{name}_ratio"] = round(t_czar / t_single, 2)
            summary[f"{name}_czar_s"] = round(t_czar, 4)
        summary["rows_per_s_100k"] = rows[-1]["czar_rows_per_s"]
        summary["single_rows_per_s_100k"] = round(rows[-1]["rows"] / rows[-1]["single_s"])
        if shutil.which("mariadb"):
            sql = QUERIES["rows_100k"]
            t_single, n_single = time_cli(baseline.port, "root", "", "demo", sql, args.repeat)
            t_czar, n_czar = time_cli(config.frontend_port, config.user, config.password, "demo",
                                      sql, args.repeat)
            assert n_single == n_czar, f"C client: {n_czar} rows through the czar, {n_single} single"
            rows.append({"query": "rows_100k (mariadb C client)", "rows": n_czar,
                         "single_s": round(t_single, 4), "czar_s": round(t_czar, 4),
                         "ratio": round(t_czar / t_single, 2), "czar_rows_per_s": round(n_czar / t_czar)})
            summary["rows_per_s_100k_c_client"] = round(n_czar / t_czar)
            summary["single_rows_per_s_100k_c_client"] = round(n_single / t_single)
        if len(os.sched_getaffinity(0)) >= 2:
            # The client on a core of its own, everything else on the other: pymysql decodes
            # every value in Python and otherwise competes with the cluster for 2 cores.
            everything = os.sched_getaffinity(0)
            client_cpu = max(everything)
            rest = everything - {client_cpu}
            pinned = pin(work, rest)
            os.sched_setaffinity(0, {client_cpu})
            try:
                sql = QUERIES["rows_100k"]
                (t_single, n_single), (t_czar, n_czar) = time_pair(single, czar, sql, args.repeat)
            finally:
                os.sched_setaffinity(0, everything)
                pin(work, everything)
            assert n_single == n_czar
            rows.append({"query": "rows_100k (pymysql on its own core)", "rows": n_czar,
                         "single_s": round(t_single, 4), "czar_s": round(t_czar, 4),
                         "ratio": round(t_czar / t_single, 2), "czar_rows_per_s": round(n_czar / t_czar)})
            summary["pinned_processes"] = pinned
            summary["rows_per_s_100k_pinned"] = round(n_czar / t_czar)
            summary["single_rows_per_s_100k_pinned"] = round(n_single / t_single)
    report("bench_query", summary, rows)


if __name__ == "__main__":
    main()
