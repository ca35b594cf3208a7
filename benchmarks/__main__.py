"""Benchmark harness of Qserv-py against one plain MariaDB holding the same rows.

    python -m benchmarks run --workers 15            # the full suite (~20 min here)
    python -m benchmarks run --quick                 # the same sections, small: < 5 min
    python -m benchmarks run --sections alone,fixed  # only some sections
    python -m benchmarks list                        # the focused micro-benchmarks (cases)
    python -m benchmarks run --case query -- --objects 100000   # run one of them

`run` generates a seeded DP0-like catalog (Object; Source ~10 per object; a dense field, a
sparse field, the RA wrap) at two sizes, partitions it with `qserv partition` and ingests it
with `qserv ingest` into a local cluster of N workers, loads the same rows into one MariaDB,
and measures, side by side in one run:
  alone    each query class of workload.yaml (LV1-LV4, HV1-HV7) on both sides, alternating,
           repeated: min/median/p95, rows, bytes; every answer checked against the baseline
  mixed    closed-loop clients (LV with HV2/HV4/HV6 scans running): LV p50/p95/p99, QPS
  shared   K = 1, 2, 5, 10 concurrent HV2 against K times one
  fixed    HV1 against chunk count (ms per chunk), czar CPU per chunk, merge cost per row
  gantt    one HV2's jobs per worker, from the czar's log
  scaling  a few classes at 1, 2, 4, 8, 15 workers: measured, and projected to one host per
           worker (busiest worker's CPU + the czar's), with per-worker busy time
plus partition and ingest throughput against their floors and the peak memory of every
process. Output in --out: results.json (with seed, versions, git commit, CPUs, memory, data
sizes), report.md, and PNG plots. Ports: --base-port B uses B-6 (baseline), B..B+15
(MariaDB), B+101..B+115 (gRPC), B+300 and B+308 (czar MySQL and HTTP).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).parent


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the cases (benchmarks/bench_*.py) that `run --case` runs")
    r = sub.add_parser("run", help="run the harness (or one case with --case)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("--case", help="run this micro-benchmark instead (see `list`); arguments "
                                  "after `--` go to it")
    r.add_argument("--workers", type=int, default=None,
                   help="workers of the main cluster (default 15; quick 4)")
    r.add_argument("--quick", action="store_true",
                   help="small data, short runs, fewer points: under 5 minutes")
    r.add_argument("--seed", type=int, default=20, help="catalog and parameter draws")
    r.add_argument("--out", default=None,
                   help="results directory (default benchmarks/results/harness, or "
                        "benchmarks/results/harness-quick with --quick)")
    r.add_argument("--small", type=int, default=None, help="Objects in the small catalog "
                   "(default 30000; quick 2000)")
    r.add_argument("--large", type=int, default=None, help="Objects in the large catalog "
                   "(default 300000; quick 10000); Sources ~10 per Object")
    r.add_argument("--chunk-order", type=int, default=None,
                   help="HEALPix order of the chunks (default 5: ~450 chunks; quick 4: ~120)")
    r.add_argument("--repeat", type=int, default=None, help="draws per class (default 7; quick 3)")
    r.add_argument("--sections", default=None,
                   help="comma-separated subset of alone,mixed,shared,fixed,gantt,scaling")
    r.add_argument("--classes", default=None, help="comma-separated subset of the classes")
    r.add_argument("--mixed-seconds", type=float, default=None,
                   help="length of each mixed-load run (default 40; quick 8)")
    r.add_argument("--mixed-scales", default=None,
                   help="LV client counts as fractions of workload.yaml's (default "
                        "0.25,0.5,1; quick 1)")
    r.add_argument("--shared-k", default=None, help="K values (default 1,2,5,10; quick 1,2,5)")
    r.add_argument("--scaling", default=None,
                   help="worker counts (default 1,2,4,8,15; quick 1 and --workers)")
    r.add_argument("--scaling-db", default=None, help="database for scaling (default: the large)")
    r.add_argument("--workload", default=str(HERE / "workload.yaml"), help="query classes")
    r.add_argument("--base-port", type=int,
                   default=int(os.environ.get("QSERV_BENCH_BASE_PORT", "39400")),
                   help="ports: see above (env QSERV_BENCH_BASE_PORT)")
    r.add_argument("--work", default=None, help="scratch directory (default: a temp dir)")
    r.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return p


def defaults(args) -> None:
    """Fill what the user left out, by mode (--quick or full)."""
    q = args.quick
    if args.workers is None:
        args.workers = 4 if q else 15
    for name, full, quick in (("chunk_order", 5, 4), ("small", 30_000, 2_000), ("large", 300_000, 10_000),
                              ("repeat", 7, 3), ("mixed_seconds", 40.0, 8.0),
                              ("mixed_scales", "0.25,0.5,1", "1"), ("shared_k", "1,2,5,10", "1,2,5"),
                              ("scaling", "1,2,4,8,15", f"1,{args.workers}")):
        if getattr(args, name) is None:
            setattr(args, name, quick if q else full)
    if args.out is None:
        args.out = str(HERE / "results" / ("harness-quick" if q else "harness"))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    rest: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1:]
    args = build_parser().parse_args(argv)
    if args.command == "list":
        from benchmarks.cases import cases
        for name, doc in cases().items():
            print(f"{name:<16} {doc}")
        print("\nrun one: python -m benchmarks run --case NAME [-- ITS ARGS]   "
              "(its own --help: ... -- --help)")
        return 0
    if args.case:
        from benchmarks.cases import run_case
        return run_case(args.case, rest)
    defaults(args)
    from benchmarks.harness import run
    res = run(args, argv)
    return 1 if res["section_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
