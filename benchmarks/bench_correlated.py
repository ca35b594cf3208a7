"""Issue 18 figures for correlated sub-queries, quantified comparisons and derived tables joined
with tables, side by side with one MariaDB holding the same rows (4 workers):

- NOT EXISTS / EXISTS tied by the director key, and a correlated COUNT per object in the select
  list: inside each chunk query (czar/plan_correlated.py);
- a derived table grouped by objectId joined with Object: inside each chunk query
  (czar/plan_derived_join.py);
- `> ALL (SELECT ...)`: two phases, the sub-query summarized by MIN/MAX/counts on the czar
  (czar/plan_quantified.py);
- a correlated scalar sub-query on a non-key column: on the czar over the tables' rows
  (czar/plan_on_czar.py), the plan of last resort.

Each query runs `--repeat` times on each side, alternating; the figure is the median, and the
two sides must return the same rows.

    python -m benchmarks.bench_correlated --objects 100000 --sources-per-object 4
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from benchmarks.bench_sql_breadth import side_by_side
from benchmarks.common import cluster_and_baseline, czar_connection, report
from qserv.admin.demo import generate

QUERIES = [
    ("NOT EXISTS on the key (no detection in filter 3)",
     "SELECT COUNT(*) FROM Object o WHERE NOT EXISTS "
     "(SELECT 1 FROM Source s WHERE s.objectId = o.objectId AND s.filterId = 3)"),
    ("EXISTS on the key (a bright detection)",
     "SELECT COUNT(*), AVG(o.gMag) FROM Object o WHERE EXISTS "
     "(SELECT 1 FROM Source s WHERE s.objectId = o.objectId AND s.psfFlux > 150)"),
    ("correlated COUNT per object in SELECT (flags = 5)",
     "SELECT o.objectId, (SELECT COUNT(*) FROM Source s WHERE s.objectId = o.objectId) AS n "
     "FROM Object o WHERE o.flags = 5"),
    ("derived table by objectId joined with Object",
     "SELECT COUNT(*), AVG(s.n) FROM Object o JOIN (SELECT objectId, COUNT(*) AS n FROM Source "
     "GROUP BY objectId) AS s ON s.objectId = o.objectId WHERE o.flags = 1"),
    ("> ALL (SELECT ...) with NULLs kept out",
     "SELECT COUNT(*) FROM Object WHERE gMag > ALL (SELECT gMag FROM Object WHERE flags = 3 "
     "AND gMag IS NOT NULL AND extendedness = 1)"),
    ("correlated on a non-key column (on the czar)",
     "SELECT COUNT(*) FROM Object o WHERE o.flags = 3 AND o.gMag > "
     "(SELECT AVG(o2.gMag) FROM Object o2 WHERE o2.extendedness = o.extendedness)"),
]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objects", type=int, default=100_000)
    p.add_argument("--sources-per-object", type=int, default=4)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--chunk-order", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--base-port", type=int, default=31306)
    p.add_argument("--work", default=None)
    args = p.parse_args(argv)

    work = Path(args.work or tempfile.mkdtemp(prefix="qserv-bench-corr-"))
    spec_path = generate(work / "data", n_objects=args.objects, sources_per_object=args.sources_per_object,
                         chunk_order=args.chunk_order)
    rows = []
    summary = {"objects": args.objects, "sources_per_object": args.sources_per_object,
               "workers": args.workers, "chunk_order": args.chunk_order, "repeat": args.repeat,
               "load_avg_1m_before": round(os.getloadavg()[0], 2)}
    with cluster_and_baseline(work, spec_path, args.workers, args.base_port) as (config, baseline, load_s):
        summary["cluster_load_s"] = round(load_s, 1)
        czar = czar_connection(config, "demo")
        single = baseline.connect(database="demo")
        side_by_side(czar, single, QUERIES, args.repeat, rows, summary)
        summary["load_avg_1m"] = round(os.getloadavg()[0], 2)
    report("bench_correlated", summary, rows)


if __name__ == "__main__":
    main()
