"""What measuring a child table's position margin costs `qserv partition` (issue 18).

A child that declares its own position columns (Source's ra/decl) makes the partitioner keep its
director's positions (positions.part, 24 bytes per Object), parse the child's ra/decl, and
measure every child row's angle from its director (partitioner/kernels.max_offset). The same
demo catalog is partitioned side by side with Source declaring its positions ("margin") and
not ("none": what the partitioner did for Source before), in one tree with the same compiled
loops, alternating which goes first; medians of wall and CPU time (user + system of the process
and its pool workers) for -j 1 and -j 2, and the ratio of the least CPU times (on a shared
machine the least is the steadiest estimate). Two inputs: the demo's Source.csv (3% NULL fluxes:
every block takes pyarrow's general path) and the same rows without NULLs (the line fast path).

    python -m qserv.admin.kernels --out-dir /tmp/kernels      # this tree's ahead-of-time loops
    python -m benchmarks.bench_child_margin --objects 250000 --repeat 3 --kernels /tmp/kernels
"""

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

from benchmarks.common import report
from qserv.admin.demo import generate
from qserv.catalog import DatabaseSpec

HERE = Path(__file__).resolve().parents[1]


def run(spec_path: Path, out: Path, jobs: int, kernels: str | None) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds, manifest) of one `qserv partition`."""
    env = dict(os.environ, PYTHONPATH=str(HERE))
    if kernels:
        env["QSERV_KERNELS_DIR"] = kernels
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    subprocess.run([sys.executable, "-m", "qserv.admin.cli", "partition", "-c", str(spec_path), "-o",
                    str(out), "-j", str(jobs), "-q", "--force"], cwd=HERE, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    seconds = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, json.loads((out / "manifest.json").read_text())


def specs(data: Path, work: Path, variant: str) -> dict[str, Path]:
    """The catalog's spec with and without Source's position columns, for one input variant."""
    out = {}
    for side in ("margin", "none"):
        spec = DatabaseSpec.read(data / "spec.json")
        spec.source_dir = str(data)
        src = spec.table("Source")
        if variant == "plain":
            src.data = ["Source-plain.csv"]
        if side == "none":
            src.ra = src.dec = None
        path = data / f"spec-{variant}-{side}.json"
        path.write_text(spec.to_json())
        out[side] = path
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objects", type=int, default=250_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--kernels", help="QSERV_KERNELS_DIR (ahead-of-time loops of this tree)")
    p.add_argument("--dir", help="work directory (default: a temporary one)")
    args = p.parse_args(argv)
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-child-margin-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        data = work / "data"
        if not (data / "spec.json").exists():
            generate(data, n_objects=args.objects, sources_per_object=4)
        plain = data / "Source-plain.csv"
        if not plain.exists():
            plain.write_bytes((data / "Source.csv").read_bytes().replace(b"\\N", b"1.5"))
        sources = sum(1 for _ in open(data / "Source.csv", "rb")) - 1
        summary = {"objects": args.objects, "sources": sources, "repeat": args.repeat,
                   "kernels": "built" if args.kernels else "jit"}
        rows_md = []
        for variant in ("nulls", "plain"):
            sp = specs(data, work, variant)
            wall = {(s, j): [] for s in sp for j in (1, 2)}
            cpu = {(s, j): [] for s in sp for j in (1, 2)}
            margin = None
            for k in range(args.repeat):
                order = list(sp) if k % 2 == 0 else list(reversed(sp))
                for jobs in (1, 2):
                    for side in order:
                        out = work / f"out-{variant}-{side}-j{jobs}"
                        secs, c, m = run(sp[side], out, jobs, args.kernels)
                        wall[(side, jobs)].append(secs)
                        cpu[(side, jobs)].append(c)
                        assert m["tables"]["Source"]["rows_out"] == sources
                        if side == "margin":
                            margin = m["tables"]["Source"]["position_margin"]
                        shutil.rmtree(out, ignore_errors=True)
            for jobs in (1, 2):
                w = {s: statistics.median(wall[(s, jobs)]) for s in sp}
                c = {s: statistics.median(cpu[(s, jobs)]) for s in sp}
                summary[f"{variant}_j{jobs}"] = {
                    "none_s": round(w["none"], 2), "margin_s": round(w["margin"], 2),
                    "margin_vs_none": round(w["margin"] / w["none"], 3),
                    "none_cpu_s": round(c["none"], 2), "margin_cpu_s": round(c["margin"], 2),
                    "cpu_margin_vs_none": round(c["margin"] / c["none"], 3),
                    "min_cpu_margin_vs_none": round(min(cpu[("margin", jobs)]) / min(cpu[("none", jobs)]), 3),
                    "none_cpu_runs_s": [round(x, 2) for x in cpu[("none", jobs)]],
                    "margin_cpu_runs_s": [round(x, 2) for x in cpu[("margin", jobs)]],
                    "none_runs_s": [round(x, 2) for x in wall[("none", jobs)]],
                    "margin_runs_s": [round(x, 2) for x in wall[("margin", jobs)]]}
                rows_md.append({"input": variant, "jobs": jobs, "objects": f"{args.objects:,}",
                                "sources": f"{sources:,}", "no margin s": round(w["none"], 2),
                                "margin s": round(w["margin"], 2),
                                "margin / none": round(w["margin"] / w["none"], 3),
                                "CPU s no margin": round(c["none"], 2), "CPU s margin": round(c["margin"], 2),
                                "CPU margin / none": round(c["margin"] / c["none"], 3),
                                "min CPU margin / none": round(min(cpu[("margin", jobs)])
                                                               / min(cpu[("none", jobs)]), 3)})
            summary[f"{variant}_position_margin_deg"] = margin
        report("bench_child_margin", summary, rows_md)
    finally:
        for out in work.glob("out-*"):
            shutil.rmtree(out, ignore_errors=True)
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
