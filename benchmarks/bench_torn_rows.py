"""Issue 14's figure: how many of N `qserv partition -j 2` runs write a torn row, on a realistic
catalog (the demo generator's Object and Source at chunk order 7: by default 400k Objects and
~1.6M Sources, ~2M rows), every output checked line by line by the test suite's content checker
(tests/partition_check.py: fields and types of every line, counts, CRCs and row checksums
against the manifest, input rows = chunk rows, overlap rows and the index).

Real runs: no test hook forces an interleaving here (tests/unit/test_partition_content.py
does that); the relay's pieces interleave as the machine's timing makes them. `--tree DIR`
runs another source tree's partitioner (e.g. `git archive <commit> | tar -x -C DIR`), to see
the same loop before a fix.

    python -m benchmarks.bench_torn_rows --runs 20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import report
from qserv.admin.demo import generate
from tests.partition_check import PartitionCheckError, check

HERE = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--objects", type=int, default=400_000)
    p.add_argument("--sources-per-object", type=int, default=4)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--tree", help="the source tree whose partitioner runs (default: this one)")
    p.add_argument("--kernels", help="QSERV_KERNELS_DIR for that tree")
    p.add_argument("--dir", help="work directory (default: a temporary one)")
    args = p.parse_args(argv)
    tree = Path(args.tree).resolve() if args.tree else HERE
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-torn-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(tree))
    if args.kernels:
        env["QSERV_KERNELS_DIR"] = args.kernels
    try:
        src = work / f"catalog-{args.objects}-{args.sources_per_object}"
        spec = src / "spec.json"
        if not spec.exists():
            generate(src, n_objects=args.objects, sources_per_object=args.sources_per_object,
                     chunk_order=7)
        torn_runs, results, seconds = 0, [], []
        for k in range(args.runs):
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            t = time.monotonic()
            subprocess.run([sys.executable, "-m", "qserv.admin.cli", "partition", "-c", str(spec), "-o",
                            str(out), "-j", str(args.jobs), "-q"], cwd=tree, env=env, check=True,
                           stdout=subprocess.DEVNULL)
            seconds.append(time.monotonic() - t)
            try:
                stats = check(out)
                problems = 0
            except PartitionCheckError as e:
                problems = len(e.problems)
                torn_runs += 1
                print(f"run {k + 1}: {str(e)[:400]}", file=sys.stderr)
                stats = None
            results.append({"run": k + 1, "seconds": round(seconds[-1], 2), "problems": problems,
                            "rows checked": f"{stats.primary_rows + stats.overlap_rows:,}" if stats else "",
                            "row checksums checked": stats.row_checksums if stats else ""})
            print(f"run {k + 1}/{args.runs}: {seconds[-1]:.1f} s, "
                  f"{'OK' if not problems else f'{problems} problems'}", file=sys.stderr, flush=True)
        m = (out / "manifest.json").read_text() if (out / "manifest.json").exists() else "{}"
        tables = json.loads(m).get("tables", {})
        summary = {"runs": args.runs, "torn_runs": torn_runs, "jobs": args.jobs,
                   "rows": sum(t.get("rows", 0) for t in tables.values()),
                   "chunks": len(tables.get("Object", {}).get("chunks", {})),
                   "tree": str(tree), "median_run_s": round(sorted(seconds)[len(seconds) // 2], 2)}
        report("bench_torn_rows", summary, results)
    finally:
        shutil.rmtree(work / "out", ignore_errors=True)
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
