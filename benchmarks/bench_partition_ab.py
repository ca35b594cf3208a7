"""`qserv partition` of two source trees side by side (A/B), beside the pyarrow floor.

For a change of the partitioner (issue 14: row checksums computed by the rows' producers), on
the catalog of bench_partition (10 columns, chunk order 7, 1 arcmin overlap): each repeat runs
the floor, then -j 1 and -j 2 of both trees, alternating which goes first (a shared machine's
load comes and goes); medians are reported, and the ratios after/before and against the floor.

    git archive <before-commit> | tar -x -C /tmp/before
    python -m qserv.admin.kernels --out-dir /tmp/kb   # in each tree: its own ahead-of-time loops
    python -m benchmarks.bench_partition_ab --before /tmp/before --before-kernels /tmp/kb \\
        --after-kernels /tmp/ka --rows 2000000 --repeat 3

The "after" tree is this checkout."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_partition import floor, generate, spec
from benchmarks.common import report

HERE = Path(__file__).resolve().parents[1]


def run(tree: Path, kernels: str | None, spec_path: Path, out: Path, jobs: int) -> tuple[float, float, float, dict]:
    """(wall seconds, CPU seconds, user CPU seconds, manifest) of one `qserv partition` of
    `tree`'s code (CPU: user + system of the process and its pool workers: steadier than
    wall time when other programs share the cores; user CPU alone steadier still, the
    system time of writes varying with everyone's disk traffic)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    if kernels:
        env["QSERV_KERNELS_DIR"] = kernels
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    subprocess.run([sys.executable, "-m", "qserv.admin.cli", "partition", "-c", str(spec_path), "-o",
                    str(out), "-j", str(jobs), "-q"], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    seconds = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    user = after.ru_utime - before.ru_utime
    cpu = user + (after.ru_stime - before.ru_stime)
    return seconds, cpu, user, json.loads((out / "manifest.json").read_text())


def backend(tree: Path, kernels: str | None) -> str:
    env = dict(os.environ, PYTHONPATH=str(tree), **({"QSERV_KERNELS_DIR": kernels} if kernels else {}))
    return subprocess.run([sys.executable, "-m", "qserv.admin.kernels", "--check"], cwd=tree, env=env,
                          capture_output=True, text=True, check=True).stdout.strip()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", required=True, help="the other source tree (e.g. a git archive)")
    p.add_argument("--before-kernels", help="QSERV_KERNELS_DIR of the before tree")
    p.add_argument("--after-kernels", help="QSERV_KERNELS_DIR of this tree")
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dir", help="work directory (default: a temporary one)")
    args = p.parse_args(argv)
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-partition-ab-"))
    work.mkdir(parents=True, exist_ok=True)
    sides = {"before": (Path(args.before).resolve(), args.before_kernels),
             "after": (HERE, args.after_kernels)}
    try:
        csv = work / f"object-{args.rows}.csv"
        if not csv.exists():
            generate(csv, args.rows)
        mb = csv.stat().st_size / 1e6
        sp = spec(csv, work)
        floors, times = [], {(s, j): [] for s in sides for j in (1, 2)}
        cpus = {(s, j): [] for s in sides for j in (1, 2)}
        users = {(s, j): [] for s in sides for j in (1, 2)}
        for k in range(args.repeat):
            floors.append(floor(csv, work / "floor.csv"))
            (work / "floor.csv").unlink()
            order = list(sides) if k % 2 == 0 else list(reversed(sides))
            for jobs in (1, 2):
                for side in order:
                    out = work / f"out-{side}-j{jobs}-{k}"
                    secs, cpu, user, m = run(*sides[side], sp, out, jobs)
                    users[(side, jobs)].append(user)
                    assert m["tables"]["Object"]["rows_out"] == args.rows
                    times[(side, jobs)].append(secs)
                    cpus[(side, jobs)].append(cpu)
                    shutil.rmtree(out, ignore_errors=True)
        fl = statistics.median(floors)
        summary = {"rows": args.rows, "input_mb": round(mb, 1), "floor_s": round(fl, 2),
                   "floor_runs_s": [round(x, 2) for x in floors],
                   "kernels": {s: backend(*sides[s]) for s in sides}}
        rows_md = []
        for jobs in (1, 2):
            b = statistics.median(times[("before", jobs)])
            a = statistics.median(times[("after", jobs)])
            bc = statistics.median(cpus[("before", jobs)])
            ac = statistics.median(cpus[("after", jobs)])
            summary[f"j{jobs}"] = {"before_s": round(b, 2), "after_s": round(a, 2),
                                   "after_vs_before": round(a / b, 3),
                                   "before_cpu_s": round(bc, 2), "after_cpu_s": round(ac, 2),
                                   "cpu_after_vs_before": round(ac / bc, 3),
                                   "before_user_s": round(statistics.median(users[("before", jobs)]), 2),
                                   "after_user_s": round(statistics.median(users[("after", jobs)]), 2),
                                   "before_vs_floor": round(b / fl, 2), "after_vs_floor": round(a / fl, 2),
                                   "before_runs_s": [round(x, 2) for x in times[("before", jobs)]],
                                   "after_runs_s": [round(x, 2) for x in times[("after", jobs)]]}
            rows_md.append({"rows": f"{args.rows:,}", "jobs": jobs, "before s": round(b, 2),
                            "after s": round(a, 2), "after / before": round(a / b, 3),
                            "CPU s before": round(bc, 2), "CPU s after": round(ac, 2),
                            "CPU after / before": round(ac / bc, 3),
                            "user CPU s before / after": f"{statistics.median(users[('before', jobs)]):.2f} / "
                                                         f"{statistics.median(users[('after', jobs)]):.2f}",
                            "pyarrow floor s": round(fl, 2), "before x floor": round(b / fl, 2),
                            "after x floor": round(a / fl, 2)})
        report("bench_partition_ab", summary, rows_md)
    finally:
        for out in work.glob("out-*"):
            shutil.rmtree(out, ignore_errors=True)
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
