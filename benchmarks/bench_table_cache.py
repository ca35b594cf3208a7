"""The workers' table cache during an ingest (ClusterConfig.ingest_table_open_cache;
worker/table_cache.py) side by side: for each value, a fresh cluster ingests a catalog of many small chunks (200k Objects at order 7:
~5,800 chunks, ~17,400 chunk tables over 3 workers), then answers queries that open every
chunk table (scans, a director-child join), a region and point look-ups. Runs alternate
between the values, so both sides see the same moments of a shared machine.

    python -m benchmarks.bench_table_cache                  # 400 against 0 (left at 4,000)
    python -m benchmarks.bench_table_cache --caches 400,1000,0 --repeat 2

The queries run after the ingest, once the query-time cache (mariadb.table_open_cache,
4,000) is back (the linger waited out): their times should not differ between the values.
A cache of 400 for good would cost them: on this catalog the Object scan took 0.63-0.97 s
against 0.32-0.45 s, the Object-Source join 1.3-1.5 s against 0.46-0.66 s (December 2026,
two runs each), since all chunk tables of a scan fit in 4,000 and none of them in 400.

Why a small cache during an ingest: MyISAM keeps one list of every open table and walks it whole at each
table open and each CREATE TABLE (to share a table opened twice), so thousands of cached
chunk tables make every open and every CREATE slower; a perf profile of the 5,800-chunk
ingest with 4,000 showed a quarter of the workers' MariaDB CPU in that walk. A catalog
with more chunk tables than the cache reopens them on every scan anyway.

The answers of every query are compared across the values (they must not differ). Ports:
from --base-port (default $QSERV_TEST_BASE_PORT or 35100) up to base + 510.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pymysql

from benchmarks.common import report
from benchmarks.ingest_runs import HERE, load_average, partitioned_catalog, timed_ingest
from qserv.config import ClusterConfig
from worker.table_cache import LINGER_S

QUERIES = {
    "scan Object": "SELECT COUNT(*), ROUND(SUM(rMag), 3) FROM {db}.Object WHERE rMag < 22",
    "join Object-Source": ("SELECT COUNT(*) FROM {db}.Object o JOIN {db}.Source s "
                           "ON s.objectId = o.objectId WHERE o.rMag < 20"),
    "region 4x4 deg": ("SELECT COUNT(*) FROM {db}.Object "
                       "WHERE scisql_s2PtInBox(ra, decl, 0, 0, 4, 4) = 1"),
}
LOOKUPS = 20     # point look-ups by objectId, spread over the catalog


def timed_queries(cluster: Path, db: str, objects: int, repeat: int) -> dict:
    """Median seconds and the answer of each query (and of the look-ups, all together), with
    the query-time table cache back."""
    time.sleep(LINGER_S + 1)
    config = ClusterConfig.load(cluster)
    conn = pymysql.connect(host="127.0.0.1", port=config.frontend_port, user=config.user,
                           password=config.password, database=db)
    ids = [(i * objects // LOOKUPS + 1) * 10 + 3 for i in range(LOOKUPS)]   # demo's ids
    statements = {name: [sql.format(db=db)] for name, sql in QUERIES.items()}
    statements[f"{LOOKUPS} look-ups"] = [
        f"SELECT objectId, rMag FROM {db}.Object WHERE objectId = {i}" for i in ids]
    out = {}
    try:
        for name, sqls in statements.items():
            times, answer = [], []
            for _ in range(repeat):
                t = time.perf_counter()
                answer = []
                for sql in sqls:
                    with conn.cursor() as cur:
                        cur.execute(sql)
                        answer.append([list(r) for r in cur.fetchall()])
                times.append(time.perf_counter() - t)
            out[name] = {"seconds": round(statistics.median(times), 3), "answer": repr(answer)}
    finally:
        conn.close()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--caches", default="400,0",
                    help="ingest_table_open_cache values, comma-separated (default 400,0; "
                         "0: the cache left at its query-time size)")
    ap.add_argument("--objects", type=int, default=200_000)
    ap.add_argument("--sources-per-object", type=int, default=4)
    ap.add_argument("--order", type=int, default=7, help="chunk order (default 7)")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=1, help="ingests per value")
    ap.add_argument("--query-repeat", type=int, default=3, help="runs of each query per ingest")
    ap.add_argument("--base-port", type=int,
                    default=int(os.environ.get("QSERV_TEST_BASE_PORT", 35100)))
    args = ap.parse_args(argv)
    caches = [int(c) for c in args.caches.split(",")]

    work = Path(tempfile.mkdtemp(prefix="bench-table-cache-"))
    try:
        part, info = partitioned_catalog(work, objects=args.objects,
                                         sources_per_object=args.sources_per_object,
                                         order=args.order)
        runs: dict[int, list[dict]] = {c: [] for c in caches}
        for i in range(args.repeat):
            for cache in (caches if i % 2 == 0 else list(reversed(caches))):
                r = timed_ingest(HERE, work, part, workers=args.workers, jobs=2,
                                 base_port=args.base_port, frontend_port=args.base_port + 500,
                                 env_extra={"QSERV_INGEST_TABLE_OPEN_CACHE": str(cache)},
                                 then=lambda cluster: timed_queries(cluster, "small", args.objects,
                                                                    args.query_repeat))
                print(f"cache {cache}: ingest {r['seconds']} s {r['steps']} "
                      f"cpu {r['cluster_cpu_seconds']} queries "
                      f"{ {q: v['seconds'] for q, v in r['then'].items()} }", file=sys.stderr)
                runs[cache].append(r)
        answers = {c: [{q: v["answer"] for q, v in r["then"].items()} for r in rs]
                   for c, rs in runs.items()}
        first = answers[caches[0]][0]
        same = all(a == first for rs in answers.values() for a in rs)

        def median(cache: int, key) -> float:
            return round(statistics.median(key(r) for r in runs[cache]), 3)
        reference = caches[-1]
        table = []
        for cache in caches:
            row = {"ingest_table_open_cache": cache,
                   "ingest s": median(cache, lambda r: r["seconds"]),
                   "publish s": median(cache, lambda r: r["steps"].get("publish", 0)),
                   "validate s": median(cache, lambda r: r["steps"].get("validate", 0)),
                   "MariaDB CPU s": median(cache, lambda r: r["cluster_cpu_seconds"]["mariadbd"])}
            for q in runs[cache][0]["then"]:
                row[f"{q} s"] = median(cache, lambda r: r["then"][q]["seconds"])
            table.append(row)
        for row in table:
            ref = next(r for r in table if r["ingest_table_open_cache"] == reference)
            row[f"ingest vs {reference}"] = round(row["ingest s"] / ref["ingest s"], 2)
        summary = {"chunks": info["chunks"], "chunk_files": info["chunk_files"],
                   "rows": info["rows"], "workers": args.workers, "repeat": args.repeat,
                   "same_answers": same, "table": table, "load_average_end": load_average(),
                   "runs": {str(c): [{k: v for k, v in r.items() if k != "then"} for r in rs]
                            for c, rs in runs.items()}}
        report("bench_table_cache", summary, table)
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
