"""Ingest of a catalog of many small chunks: 200k Objects (and ~4 Sources each) at HEALPix
order 7 over the demo's sky patch (40 x 30 degrees): about 5,600 chunks of a few dozen
Objects, into 3 workers. Issue 14's target: <= 30 s (it took about 2 minutes when the ingest
loaded one transaction per chunk, one HTTP request and one gRPC stream per file, and one DDL
per table and chunk).

    python -m benchmarks.bench_ingest_small                     # this checkout
    git archive <commit> | tar -x -C /tmp/before
    python -m benchmarks.bench_ingest_small --before /tmp/before --repeat 2

With --before, each repeat ingests with both trees, alternating which goes first, and the
medians and their ratio are reported (the machine is shared: compare ratios). Ports: from
--base-port (default $QSERV_TEST_BASE_PORT or 35100) up to base + 510.

Where the time goes (perf of the workers' MariaDB during the load step, py-spy of the
daemons, per-process CPU; December 2026). Before stop 25 (44 s side by side, 51-77 s of
MariaDB CPU): the load step was ~75% of the ingest, paced by the 17,400 CREATE TABLEs (one
chunk table, one FullOverlap table and one Source table per chunk, nearly all non-empty at
this density, so skipping empty tables saves nothing here) and the LOADs' table opens; a
quarter of the servers' CPU was MyISAM walking its list of open tables (test_if_reopen) at
every open and CREATE, with 4,000 tables cached; publish and validate opened every chunk
table again, 3-5 s each. Now (25 s, 28-30 s of MariaDB CPU): the cache is 400 while ingest
calls run (worker/table_cache.py); the bundle's spool files are rewritten in place (reopening
one with O_TRUNC cost ~0.5 ms of a worker's event loop per file). What is left is spread out:
per table a CREATE (~0.5 ms: parse, four new files), a LOAD (~0.4 ms) and two row-count passes
(~0.1 ms each); ~1 ms of Python per file over the client, czar and worker daemons.

The machine's filesystem (ext4 without a journal) makes every new file slower for a few
minutes after many files were deleted (inode allocation skips recently deleted inodes one by
one): an ingest right after removing a previous cluster of this catalog took 35-37 s instead
of 23-27 s. Runs here alternate and delete their clusters, so they see some of it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.common import report
from benchmarks.ingest_runs import HERE, load_average, partitioned_catalog, timed_ingest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", type=int, default=200_000)
    ap.add_argument("--sources-per-object", type=int, default=4)
    ap.add_argument("--order", type=int, default=7, help="chunk order (default 7)")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("-j", "--jobs", type=int, default=2, help="`qserv ingest -j` (default 2)")
    ap.add_argument("--before", help="another source tree to ingest with, side by side")
    ap.add_argument("--after", help="the tree to measure (default: this checkout); a snapshot "
                                    "keeps edits made during the run out of it")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--base-port", type=int,
                    default=int(os.environ.get("QSERV_TEST_BASE_PORT", 35100)))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-small-"))
    try:
        part, info = partitioned_catalog(work, objects=args.objects,
                                         sources_per_object=args.sources_per_object,
                                         order=args.order)
        rows, chunks, files = info["rows"], info["chunks"], info["chunk_files"]

        trees = {"after": Path(args.after).resolve() if args.after else HERE}
        if args.before:
            trees["before"] = Path(args.before).resolve()
        runs: dict[str, list[dict]] = {k: [] for k in trees}
        for i in range(args.repeat):
            order = list(trees) if i % 2 == 0 else list(reversed(trees))
            for name in order:
                r = timed_ingest(trees[name], work, part, workers=args.workers,
                                 jobs=args.jobs, base_port=args.base_port,
                                 frontend_port=args.base_port + 500)
                print(f"{name}: {r['seconds']} s {r['steps']} worker {r['worker']} "
                      f"cpu {r['cluster_cpu_seconds']} load {r['load_average']}", file=sys.stderr)
                runs[name].append(r)

        def median(name, key=lambda r: r["seconds"]):
            return round(statistics.median(key(r) for r in runs[name]), 2)

        def cpu(r):
            return sum(r["cluster_cpu_seconds"].values())

        summary = {"objects": rows.get("Object"), "sources": rows.get("Source"), "chunks": chunks,
                   "chunk_files": files, "workers": args.workers, "jobs_per_worker": args.jobs,
                   "repeat": args.repeat, "target_seconds": 30,
                   "after_seconds": median("after"), "after_runs": runs["after"],
                   "load_average_end": load_average()}
        table = [{"what": f"qserv ingest, this tree ({args.workers} workers, -j {args.jobs})",
                  "seconds": summary["after_seconds"],
                  "cluster CPU s": median("after", cpu),
                  "chunks/s": round(chunks / summary["after_seconds"], 1),
                  "vs before": 1.0}]
        if args.before:
            summary["before_seconds"] = median("before")
            summary["before_runs"] = runs["before"]
            summary["speedup"] = round(summary["before_seconds"] / summary["after_seconds"], 2)
            table[0]["vs before"] = summary["speedup"]
            table.append({"what": f"qserv ingest, {args.before}", "seconds": summary["before_seconds"],
                          "cluster CPU s": median("before", cpu),
                          "chunks/s": round(chunks / summary["before_seconds"], 1), "vs before": 1.0})
        report("bench_ingest_small", summary, table)
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
