"""`python -m benchmarks run`: generate the catalogs, partition and ingest them through the
real CLIs, load the baseline, run the sections, write results.json, report.md and the plots.

A section that fails is recorded (with its error) and the run goes on: a long run on a shared
machine should not lose everything to one failure. Every process started is stopped at the end.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path

from benchmarks import catalog as catalog_mod
from benchmarks import plots, report, suites, workload
from benchmarks.stack import REPO, Baseline, Cluster, partition
from benchmarks.procstats import peak_rss_mb

SECTIONS = ("alone", "mixed", "shared", "fixed", "gantt", "scaling")


def environment(args, argv: list[str]) -> dict:
    def version(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                                capture_output=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               text=True, capture_output=True).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except OSError:
        commit = "unknown"
    try:
        mariadb = subprocess.run(["mariadbd", "--version"], text=True,
                                 capture_output=True).stdout.split(" Ver ")[-1].split()[0]
    except OSError:
        mariadb = None
    mem_kb = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")))
    from qserv import __version__
    return {"command": "python -m benchmarks " + " ".join(argv), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "seed": args.seed, "workers": args.workers, "quick": args.quick, "repeat": args.repeat,
            "git_commit": commit, "cpu_count": os.cpu_count(),
            "cpu_affinity": len(os.sched_getaffinity(0)), "memory_gb": round(mem_kb / 1024 ** 2, 1),
            "load_avg_start": round(os.getloadavg()[0], 2), "platform": platform.platform(),
            "versions": {"qserv-py": __version__, "python": platform.python_version(),
                         "mariadb": mariadb, **{p: version(p) for p in (
                             "sqlglot", "numpy", "grpcio", "PyMySQL", "pyarrow", "matplotlib")}}}


def run(args, argv: list[str], echo=print) -> dict:
    started = time.monotonic()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="qserv-harness-"))
    work.mkdir(parents=True, exist_ok=True)
    sections = set(args.sections.split(",")) if args.sections else set(SECTIONS)
    classes, mixed_cfg = workload.load(Path(args.workload))
    if args.classes:
        classes = {k: v for k, v in classes.items() if k in args.classes.split(",")}
    res: dict = {"meta": environment(args, argv), "catalogs": {}, "load": {}, "section_errors": {},
                 "section_seconds": {}, "memory": {}}
    echo(f"harness: work dir {work}, results to {out}")

    def section(name, fn):
        t = time.monotonic()
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - recorded in the report, the run goes on
            res["section_errors"][name] = f"{e!r}"
            echo(f"section {name} FAILED: {e!r}")
            traceback.print_exc()
            return None
        finally:
            res["section_seconds"][name] = round(time.monotonic() - t, 1)

    # A first partition compiles the partitioner's loops (numba) if they are not cached yet:
    # not a cost of the catalogs measured below.
    warm = catalog_mod.generate(work / "data" / "warmup", "warmup", 200, args.seed)
    partition(warm, work / "partitioned" / "warmup", work / "cli.log")
    # catalogs, partitioned once (the cluster ingests and the baseline loads the same files)
    cats, parts = {}, {}
    for label, n in (("small", args.small), ("large", args.large)):
        if n <= 0:
            continue
        name = f"dp0{label[0]}"
        cats[name] = catalog_mod.generate(work / "data" / name, name, n,
                                          args.seed + (0 if label == "small" else 1),
                                          chunk_order=args.chunk_order)
        res["catalogs"][name] = {**cats[name].as_dict(), "size": label}
        parts[name] = work / "partitioned" / name
        res["load"][name] = {"partition": partition(cats[name], parts[name], work / "cli.log")}
        p = res["load"][name]["partition"]
        echo(f"{name}: {cats[name].objects:,} objects, {cats[name].sources:,} sources; partition "
             f"{p['seconds']} s ({p['vs_floor']}x the CSV read floor)")
    big = max(cats, key=lambda c: cats[c].objects)
    scaling_db = args.scaling_db or big

    baseline = Baseline(work / "baseline", args.base_port - 6)
    base_port = args.base_port
    main = Cluster(work / f"cluster{args.workers}", args.workers, base_port, base_port + 300)
    clusters_started: list[Cluster] = []
    try:
        baseline.start()
        for name in cats:
            res["load"][name]["baseline_load"] = baseline.load(cats[name], parts[name])
        clusters_started.append(main)
        res["meta"]["cluster_up_s"] = main.up()
        for name in cats:
            ing = main.ingest(cats[name], parts[name])
            floor = res["load"][name]["baseline_load"]["seconds"]
            rows = cats[name].objects + cats[name].sources
            ing.update(rows_per_s=round(rows / ing["seconds"]), vs_floor=round(ing["seconds"] / floor, 2))
            res["load"][name]["ingest"] = ing
            echo(f"{name}: ingest into {args.workers} workers {ing['seconds']} s "
                 f"({ing['vs_floor']}x LOAD DATA into one MariaDB, {floor} s)")
        sysm = suites.Systems(main, baseline, cats, classes, args.seed)

        if "alone" in sections:
            res["alone"] = {}
            for name in cats:
                echo(f"each class alone, {name}:")
                r = section(f"alone:{name}", lambda: suites.classes_alone(sysm, name, args.repeat, echo))
                if r:
                    res["alone"][name] = r
        if "mixed" in sections:
            echo("mixed load:")
            scales = [float(x) for x in args.mixed_scales.split(",")]
            res["mixed"] = section("mixed", lambda: suites.mixed_load(
                sysm, big, mixed_cfg, args.mixed_seconds, scales, echo))
        if "shared" in sections:
            echo("shared scans:")
            ks = [int(x) for x in args.shared_k.split(",")]
            res["shared"] = section("shared", lambda: suites.shared_scans(sysm, big, ks, echo))
        if "fixed" in sections:
            echo("fixed costs:")
            res["fixed"] = section("fixed", lambda: suites.fixed_costs(sysm, big, args.repeat, echo))
        if "gantt" in sections:
            res["gantt"] = section("gantt", lambda: suites.gantt(sysm, big))
        points = []
        counts = sorted({int(x) for x in args.scaling.split(",") if x}) if "scaling" in sections else []
        if args.workers in counts:
            echo(f"scaling, {args.workers} workers:")
            p = section(f"scaling:{args.workers}",
                        lambda: suites.scaling_point(sysm, scaling_db, args.repeat, echo))
            if p:
                points.append(p)
        res["memory"].update({f"{k} ({args.workers}-worker cluster)": v
                              for k, v in main.peak_memory().items()})
        sysm.close()
        main.down()
        clusters_started.remove(main)
        for n in [c for c in counts if c != args.workers]:
            echo(f"scaling, {n} workers:")
            cl = Cluster(work / f"cluster{n}", n, base_port, base_port + 300)
            clusters_started.append(cl)

            def one_point(cl=cl, n=n):
                cl.up()
                cl.ingest(cats[scaling_db], parts[scaling_db])
                s = suites.Systems(cl, baseline, cats, classes, args.seed)
                try:
                    return suites.scaling_point(s, scaling_db, args.repeat, echo)
                finally:
                    s.close()
            p = section(f"scaling:{n}", one_point)
            if p:
                p["ingest_s"] = cl.loads.get(scaling_db, {}).get("seconds")
                points.append(p)
            cl.down()
            clusters_started.remove(cl)
        if points:
            points.sort(key=lambda p: p["workers"])
            res["scaling"] = {"db": scaling_db, "points": points,
                              "calibration": suites.calibrate(points)}
        res["memory"]["baseline mariadbd"] = peak_rss_mb(baseline.pid())
    finally:
        for cl in clusters_started:
            cl.down()
        baseline.stop()
    for name, x in res["load"].items():
        res["memory"][f"qserv partition ({name})"] = x["partition"]["peak_rss_mb"]
        if "ingest" in x:
            res["memory"][f"qserv ingest client ({name})"] = x["ingest"]["peak_rss_mb"]
    res["memory"]["harness (this process)"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    res["meta"]["load_avg_end"] = round(os.getloadavg()[0], 2)
    res["meta"]["seconds"] = round(time.monotonic() - started, 1)
    try:
        written = plots.write_all(res, out)
    except ImportError as e:      # matplotlib missing: results and report still written
        written = []
        res["plot_errors"] = [f"no plots: {e}"]
    (out / "results.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    report.write(res, out, written)
    print(json.dumps({"benchmark": "harness", "workers": args.workers, "seed": args.seed,
                      "seconds": res["meta"]["seconds"], "headlines": report.headlines(res),
                      "section_errors": res["section_errors"]}))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return res


if __name__ == "__main__":   # pragma: no cover
    sys.exit("use: python -m benchmarks run --help")
