"""Issue 3 benchmark: the same queries through the czar (4 workers) and on one plain MariaDB
holding the same rows, side by side in one run.

- a full-scan aggregate (COUNT, AVG, GROUP BY) over all Objects: target czar/single <= 1.2
- a ~100k-row result fetched by pymysql through port 4040: target >= 100k rows/s

    python benchmarks/bench_query.py --objects 1000000
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.common import cluster_and_baseline, czar_connection, report, time_query
from qserv.demo import generate

QUERIES = {
    "full_scan_aggregate": "SELECT flags, COUNT(*) AS n, AVG(gMag) AS g, AVG(rMag) AS r "
                           "FROM Object GROUP BY flags",
    "count": "SELECT COUNT(*) FROM Object",
    "rows_100k": "SELECT objectId, ra, decl, gMag, rMag, flags FROM Object WHERE (objectId DIV 10) % 10 = 0",
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objects", type=int, default=1_000_000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--chunk-order", type=int, default=5)
    p.add_argument("--repeat", type=int, default=5)
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
            # interleave runs so that machine noise hits both sides alike
            t_single, n_single = time_query(single, sql, args.repeat)
            t_czar, n_czar = time_query(czar, sql, args.repeat)
            assert n_single == n_czar, f"{name}: {n_czar} rows through the czar, {n_single} single"
            rows.append({"query": name, "rows": n_czar, "single_s": round(t_single, 4),
                         "czar_s": round(t_czar, 4), "ratio": round(t_czar / t_single, 2),
                         "czar_rows_per_s": round(n_czar / t_czar)})
            summary[f"{name}_ratio"] = round(t_czar / t_single, 2)
            summary[f"{name}_czar_s"] = round(t_czar, 4)
        summary["rows_per_s_100k"] = rows[-1]["czar_rows_per_s"]
    report("bench_query", summary, rows)


if __name__ == "__main__":
    main()
