"""Issue 5 benchmark: `qserv ingest` of a partitioned Object + Source catalog into 4 workers,
beside the floor measured in the same run: `LOAD DATA INFILE` of the same unpartitioned CSV
files into ONE MariaDB (same engine, same table definitions, same memory settings as one
worker).

    python -m benchmarks.bench_ingest --rows 10000000

Rows: Objects + Sources (about 1 Object for 4 Sources). The catalog covers a patch of
`--patch` x `--patch` degrees at chunk order 7 (Qserv-sized chunks), 1 arcmin overlap.
Reported: rows/s and MB/s of the input CSV for both, their ratio (target >= 0.9, issue 14),
the per-step timings of the ingest, the partitioning time (not part of the ratio: issue 4's
benchmark), and the bytes actually shipped (chunk files carry chunkId/subChunkId and the
overlap rows).

    git archive <commit> | tar -x -C /tmp/before
    python -m benchmarks.bench_ingest --rows 10000000 --before /tmp/before --floor-nice 0,10

--before: the ingest of another source tree too, in the same run (same partitioned files,
a fresh cluster each), so before/after is a ratio measured side by side. --floor-nice: the
floor's CPU priority (the workers' MariaDB servers run at `worker_nice`, 10: on a machine
busy with other programs a nice-0 floor gets a larger share of the CPU than they do); several
values measure several floors. Ports: --base-port (default $QSERV_TEST_BASE_PORT or 35100)
up to base + 510.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import report
from benchmarks.ingest_runs import HERE, load_average, timed_ingest
from qserv.catalog import DatabaseSpec
from qserv.config import MariaDBSettings
from qserv.admin.demo import generate
from qserv.mariadb import MariaDBServer


def floor_load(work: Path, spec: DatabaseSpec, port: int, nice: int = 0) -> tuple[float, dict[str, int]]:
    """LOAD DATA INFILE of each unpartitioned CSV into one MariaDB; seconds and rows."""
    shutil.rmtree(work / "floor", ignore_errors=True)
    server = MariaDBServer(work / "floor", port, MariaDBSettings(), nice=nice)
    server.start(open(work / "floor.log", "ab"))
    try:
        conn = server.connect()
        rows = {}
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{spec.name}`")
            for t in spec.tables:
                cur.execute(t.ddl(spec.name, with_chunk_columns=False))
            local = {}
            for t in spec.tables:   # the server reads its own disk: copy first, untimed
                local[t.name] = []
                for path in spec.files(t):
                    shutil.copy(path, server.outfile_dir / f"{t.name}-{path.name}")
                    local[t.name].append(server.outfile_dir / f"{t.name}-{path.name}")
            started = time.monotonic()
            for t in spec.tables:
                for path in local[t.name]:
                    cur.execute(f"LOAD DATA INFILE '{path}' INTO TABLE `{spec.name}`.`{t.name}` "
                                "CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED "
                                "BY '\"' LINES TERMINATED BY '\\n' IGNORE 1 LINES")
                    rows[t.name] = rows.get(t.name, 0) + cur.rowcount
            seconds = time.monotonic() - started
        conn.close()
        return seconds, rows
    finally:
        server.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="Object + Source rows (default 10M)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--patch", type=float, default=12.0, help="side of the sky patch, degrees")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="transactions at once per worker")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--before", help="another source tree to ingest with, side by side")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of floor + ingests (alternating order); medians reported")
    ap.add_argument("--after", help="the tree to measure (default: this checkout); a snapshot "
                                    "keeps edits made during the run out of it")
    ap.add_argument("--floor-nice", default="0",
                    help="CPU priority of the floor's MariaDB; a list (0,10) measures several")
    ap.add_argument("--base-port", type=int,
                    default=int(os.environ.get("QSERV_TEST_BASE_PORT", 35100)))
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        n_objects = max(1, args.rows // 5)      # ~4 Sources per Object
        half = args.patch / 2
        t = time.monotonic()
        spec_path = generate(work / "src", n_objects=n_objects, sources_per_object=4,
                             name="bench", chunk_order=7, ra_range=(-half, half),
                             dec_range=(-half, half))
        gen_seconds = time.monotonic() - t
        spec = DatabaseSpec.read(spec_path)
        csv_bytes = sum(p.stat().st_size for tb in spec.tables for p in spec.files(tb))

        t = time.monotonic()
        subprocess.run([sys.executable, "-m", "qserv.admin.cli", "partition", "-c", str(spec_path),
                        "-o", str(work / "part"), "-j", "2", "-q"], check=True)
        partition_seconds = time.monotonic() - t
        manifest = json.loads((work / "part" / "manifest.json").read_text())
        rows = {name: e["rows"] for name, e in manifest["tables"].items()}
        total_rows = sum(rows.values())
        shipped = sum(p.stat().st_size for p in (work / "part").rglob("*.csv")
                      if p.name != "index.csv")
        n_chunks = len(manifest["tables"]["Object"]["chunks"])

        trees = {"after": Path(args.after).resolve() if args.after else HERE}
        if args.before:
            trees["before"] = Path(args.before).resolve()
        floor_runs: dict[int, list[float]] = {}
        all_runs: dict[str, list[dict]] = {k: [] for k in trees}
        for i in range(args.repeat):     # floors and ingests interleaved: the load moves
            for nice in [int(x) for x in args.floor_nice.split(",")]:
                seconds, floor_rows = floor_load(work, spec, args.base_port + 200, nice)
                assert floor_rows == rows, (floor_rows, rows)
                floor_runs.setdefault(nice, []).append(seconds)
                print(f"floor (nice {nice}): {seconds:.1f} s, load {load_average()}", file=sys.stderr)
            order = sorted(trees, reverse=(i % 2 == 1))     # after, before / before, after
            for name in order:
                r = timed_ingest(trees[name], work, work / "part", workers=args.workers,
                                 jobs=args.jobs, base_port=args.base_port,
                                 frontend_port=args.base_port + 500)
                all_runs[name].append(r)
                print(f"{name}: {r}", file=sys.stderr)
        floors = {k: statistics.median(v) for k, v in floor_runs.items()}
        # The run of each tree from the round whose `after` is the median one: figures of one
        # round stay together (the load of a round moves every figure of it).
        after_times = [r["seconds"] for r in all_runs["after"]]
        pick = after_times.index(sorted(after_times)[(len(after_times) - 1) // 2])
        runs = {k: v[pick] for k, v in all_runs.items()}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    mb = csv_bytes / 1e6
    nice0 = min(floors)

    def per_round(num: list[float], den: list[dict]) -> float:
        """The median over rounds of num[i] / den[i] (ratios measured side by side)."""
        return round(statistics.median(a / b["seconds"] for a, b in zip(num, den)), 3)
    floor_seconds = floor_runs[nice0][pick]
    after = runs["after"]
    ingest_seconds = after["seconds"]
    summary = {
        "rows": total_rows, "objects": rows.get("Object"), "sources": rows.get("Source"),
        "csv_mb": round(mb, 1), "shipped_mb": round(shipped / 1e6, 1), "chunks": n_chunks,
        "workers": args.workers, "jobs_per_worker": args.jobs,
        "ingest_seconds": round(ingest_seconds, 2),
        "ingest_rows_per_s": round(total_rows / ingest_seconds),
        "ingest_mb_per_s": round(mb / ingest_seconds, 1),
        "floor_seconds": round(floor_seconds, 2),
        "floor_nice": min(floors),
        "floor_rows_per_s": round(total_rows / floor_seconds),
        "floor_mb_per_s": round(mb / floor_seconds, 1),
        "ratio_to_floor": per_round(floor_runs[nice0], all_runs["after"]),
        "floors_by_nice": {str(k): round(v, 2) for k, v in floors.items()},
        "ratios_by_floor_nice": {str(k): per_round(v, all_runs["after"]) for k, v in floor_runs.items()},
        "target_ratio": 0.9,
        "partition_seconds": round(partition_seconds, 2),
        "end_to_end_ratio": round(floor_seconds / (ingest_seconds + partition_seconds), 3),
        "generate_seconds": round(gen_seconds, 1),
        "steps": after["steps"], "worker": after["worker"],
        "load_average": after["load_average"],
        "repeat": args.repeat,
        "runs_seconds": {k: [r["seconds"] for r in v] for k, v in all_runs.items()},
        "floor_runs_seconds": {str(k): [round(x, 2) for x in v] for k, v in floor_runs.items()},
    }
    table = [
        {"what": f"qserv ingest ({args.workers} workers, -j {args.jobs})",
         "seconds": summary["ingest_seconds"], "rows/s": f"{summary['ingest_rows_per_s']:,}",
         "MB/s (input CSV)": summary["ingest_mb_per_s"], "vs floor": summary["ratio_to_floor"]},
    ]
    if "before" in runs:
        b = runs["before"]["seconds"]
        summary.update({"before_seconds": b,
                        "before_ratio_to_floor": per_round(floor_runs[nice0], all_runs["before"]),
                        "before_ratios_by_floor_nice": {
                            str(k): per_round(v, all_runs["before"]) for k, v in floor_runs.items()},
                        "before_steps": runs["before"]["steps"],
                        "before_worker": runs["before"]["worker"],
                        "before_load_average": runs["before"]["load_average"],
                        "speedup": per_round([r["seconds"] for r in all_runs["before"]],
                                             all_runs["after"])})
        table.append({"what": f"qserv ingest of {args.before}", "seconds": b,
                      "rows/s": f"{round(total_rows / b):,}", "MB/s (input CSV)": round(mb / b, 1),
                      "vs floor": summary["before_ratio_to_floor"]})
    for nice, values in floor_runs.items():
        seconds = values[pick]
        table.append({"what": f"floor: LOAD DATA INFILE, one MariaDB (nice {nice})",
                      "seconds": round(seconds, 2), "rows/s": f"{round(total_rows / seconds):,}",
                      "MB/s (input CSV)": round(mb / seconds, 1),
                      "vs floor": round(floor_seconds / seconds, 3)})
    table.append({"what": "qserv partition -j 2 + qserv ingest",
                  "seconds": round(partition_seconds + ingest_seconds, 2),
                  "rows/s": f"{round(total_rows / (partition_seconds + ingest_seconds)):,}",
                  "MB/s (input CSV)": round(mb / (partition_seconds + ingest_seconds), 1),
                  "vs floor": summary["end_to_end_ratio"]})
    report("bench_ingest", summary, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
