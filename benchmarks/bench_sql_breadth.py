"""Issue 18 figures: the new SQL side by side with one MariaDB holding the same rows (4
workers; the issue asks for 1M Objects / 4M Sources, which this 2-core machine shared by
several engineers does not load in minutes: the size is a parameter, the figures say which):

- `IN (SELECT objectId ...)` with ~`--inner` ids (two phases: the sub-query, then a
  director-index look-up of its ids: each chunk gets only its own ids, czar/chunk_keys.py),
  and each phase alone as a plain query;
- `COUNT(DISTINCT objectId)` over Source (counted per chunk: a key's rows are in one chunk);
- a derived-table histogram (objects per number of sources; run in the chunks, czar/plan_derived.py);
- LEFT JOIN "objects without sources";
- an empty plan (a look-up of ids no chunk holds): answered by the czar at once.

Each query runs `--repeat` times on each side, alternating; the figure is the median, and the
two sides must return the same rows.

    python -m benchmarks.bench_sql_breadth --objects 100000 --sources-per-object 4
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from benchmarks.common import cluster_and_baseline, czar_connection, report, time_pair
from qserv.admin.demo import generate


def queries(single, inner: int) -> list[tuple[str, str]]:
    """(name, SQL); the IN sub-query's bound is read from the data so that it names `inner` ids."""
    with single.cursor() as cur:
        cur.execute(f"SELECT gMag FROM Object WHERE gMag IS NOT NULL ORDER BY gMag LIMIT 1 OFFSET {inner - 1}")
        bound = cur.fetchone()[0]
        cur.execute(f"SELECT objectId FROM Object WHERE gMag <= {bound!r}")
        ids = ", ".join(str(r[0]) for r in cur.fetchall())
    return [
        (f"  phase 1 alone: the {inner} ids", f"SELECT DISTINCT objectId FROM Object WHERE gMag <= {bound!r}"),
        (f"  phase 2 alone: IN ({inner} literal ids)",
         f"SELECT COUNT(*), AVG(psfFlux) FROM Source WHERE objectId IN ({ids})"),
        (f"IN (SELECT objectId ...) {inner} ids",
         f"SELECT COUNT(*), AVG(psfFlux) FROM Source WHERE objectId IN "
         f"(SELECT objectId FROM Object WHERE gMag <= {bound!r})"),
        ("COUNT(DISTINCT objectId) over Source", "SELECT COUNT(DISTINCT objectId) FROM Source"),
        ("derived-table histogram",
         "SELECT n, COUNT(*) FROM (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) AS t "
         "GROUP BY n ORDER BY n"),
        ("LEFT JOIN objects without sources",
         "SELECT COUNT(*) FROM Object o LEFT JOIN Source s ON o.objectId = s.objectId "
         "WHERE s.sourceId IS NULL"),
        ("empty plan (ids no chunk holds)",
         "SELECT COUNT(*), AVG(gMag) FROM Object WHERE objectId IN (900000000001, 900000000002)"),
    ]


def canonical(rows):
    return sorted(tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows)


def side_by_side(czar, single, named_queries, repeat: int, rows: list, summary: dict) -> None:
    """Each (name, sql) timed on the czar and on one MariaDB, alternating, and its rows
    compared: a table row in `rows` and an entry in `summary` per query."""
    for name, sql in named_queries:
        (t_czar, _), (t_single, _) = time_pair(czar, single, sql, repeat)
        with czar.cursor() as a, single.cursor() as b:
            a.execute(sql)
            b.execute(sql)
            same = canonical(a.fetchall()) == canonical(b.fetchall())
        rows.append({"query": name, "single_ms": round(t_single * 1e3, 1),
                     "czar_ms": round(t_czar * 1e3, 1), "ratio": round(t_czar / t_single, 2),
                     "same_rows": same})
        summary[name] = {"czar_ms": round(t_czar * 1e3, 1), "single_ms": round(t_single * 1e3, 1),
                         "same_rows": same}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objects", type=int, default=100_000)
    p.add_argument("--sources-per-object", type=int, default=4)
    p.add_argument("--inner", type=int, default=10_000, help="ids named by the IN sub-query")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--chunk-order", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--base-port", type=int, default=31306)
    p.add_argument("--work", default=None)
    args = p.parse_args(argv)

    work = Path(args.work or tempfile.mkdtemp(prefix="qserv-bench18-"))
    spec_path = generate(work / "data", n_objects=args.objects, sources_per_object=args.sources_per_object,
                         chunk_order=args.chunk_order)
    rows = []
    summary = {"objects": args.objects, "sources_per_object": args.sources_per_object,
               "workers": args.workers, "chunk_order": args.chunk_order, "repeat": args.repeat}
    summary["load_avg_1m_before"] = round(os.getloadavg()[0], 2)
    with cluster_and_baseline(work, spec_path, args.workers, args.base_port) as (config, baseline, load_s):
        summary["cluster_load_s"] = round(load_s, 1)
        czar = czar_connection(config, "demo")
        single = baseline.connect(database="demo")
        side_by_side(czar, single, queries(single, args.inner), args.repeat, rows, summary)
        summary["load_avg_1m"] = round(os.getloadavg()[0], 2)
    report("bench_sql_breadth", summary, rows)


if __name__ == "__main__":
    main()
