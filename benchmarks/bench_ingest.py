"""Issue 5 benchmark: `qserv ingest` of a partitioned Object + Source catalog into 4 workers,
beside the floor measured in the same run: `LOAD DATA INFILE` of the same unpartitioned CSV
files into ONE MariaDB (same engine, same table definitions, same memory settings as one
worker).

    python -m benchmarks.bench_ingest --rows 10000000

Rows: Objects + Sources (about 1 Object for 4 Sources). The catalog covers a patch of
`--patch` x `--patch` degrees at chunk order 7 (Qserv-sized chunks), 1 arcmin overlap.
Reported: rows/s and MB/s of the input CSV for both, their ratio (target >= 0.7), the per-step
timings of the ingest, the partitioning time (not part of the ratio: issue 4's benchmark), and
the bytes actually shipped (chunk files carry chunkId/subChunkId and the overlap rows).
Ports 35000-35999 only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import report
from qserv.catalog import DatabaseSpec
from qserv.cluster import down, up
from qserv.config import ClusterConfig, MariaDBSettings
from qserv.demo import generate
from qserv.mariadb import MariaDBServer

BASE = 35100


def floor_load(work: Path, spec: DatabaseSpec) -> tuple[float, dict[str, int]]:
    """LOAD DATA INFILE of each unpartitioned CSV into one MariaDB; seconds and rows."""
    server = MariaDBServer(work / "floor", BASE - 50, MariaDBSettings())
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
        subprocess.run([sys.executable, "-m", "qserv.cli", "partition", "-c", str(spec_path),
                        "-o", str(work / "part"), "-j", "2", "-q"], check=True)
        partition_seconds = time.monotonic() - t
        manifest = json.loads((work / "part" / "manifest.json").read_text())
        rows = {name: e["rows"] for name, e in manifest["tables"].items()}
        total_rows = sum(rows.values())
        shipped = sum(p.stat().st_size for p in (work / "part").rglob("*.csv")
                      if p.name != "index.csv")
        n_chunks = len(manifest["tables"]["Object"]["chunks"])

        floor_seconds, floor_rows = floor_load(work, spec)
        assert floor_rows == rows, (floor_rows, rows)

        config = ClusterConfig.create(work / "cluster", args.workers, frontend_port=BASE + 500,
                                      base_port=BASE)
        up(config, echo=lambda *_: None)
        try:
            t = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "qserv.cli", "ingest", str(work / "part"),
                                   "--dir", str(config.root), "-j", str(args.jobs), "--quiet"],
                                  capture_output=True, text=True)
            ingest_seconds = time.monotonic() - t
            print(proc.stdout, file=sys.stderr)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            steps = {}
            for line in proc.stdout.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] in ("queue", "register", "allocate", "load",
                                                    "index", "publish", "validate"):
                    steps[parts[0]] = float(parts[1])
        finally:
            down(config, echo=lambda *_: None)

        mb = csv_bytes / 1e6
        summary = {
            "rows": total_rows, "objects": rows.get("Object"), "sources": rows.get("Source"),
            "csv_mb": round(mb, 1), "shipped_mb": round(shipped / 1e6, 1), "chunks": n_chunks,
            "workers": args.workers, "jobs_per_worker": args.jobs,
            "ingest_seconds": round(ingest_seconds, 2),
            "ingest_rows_per_s": round(total_rows / ingest_seconds),
            "ingest_mb_per_s": round(mb / ingest_seconds, 1),
            "floor_seconds": round(floor_seconds, 2),
            "floor_rows_per_s": round(total_rows / floor_seconds),
            "floor_mb_per_s": round(mb / floor_seconds, 1),
            "ratio_to_floor": round(floor_seconds / ingest_seconds, 3),
            "target_ratio": 0.7,
            "partition_seconds": round(partition_seconds, 2),
            "end_to_end_ratio": round(floor_seconds / (ingest_seconds + partition_seconds), 3),
            "generate_seconds": round(gen_seconds, 1),
            "steps": steps,
        }
        table = [
            {"what": f"qserv ingest ({args.workers} workers, -j {args.jobs})",
             "seconds": summary["ingest_seconds"], "rows/s": f"{summary['ingest_rows_per_s']:,}",
             "MB/s (input CSV)": summary["ingest_mb_per_s"], "vs floor": summary["ratio_to_floor"]},
            {"what": "floor: LOAD DATA INFILE, one MariaDB", "seconds": summary["floor_seconds"],
             "rows/s": f"{summary['floor_rows_per_s']:,}", "MB/s (input CSV)": summary["floor_mb_per_s"],
             "vs floor": 1.0},
            {"what": "qserv partition -j 2 + qserv ingest",
             "seconds": round(partition_seconds + ingest_seconds, 2),
             "rows/s": f"{round(total_rows / (partition_seconds + ingest_seconds)):,}",
             "MB/s (input CSV)": round(mb / (partition_seconds + ingest_seconds), 1),
             "vs floor": summary["end_to_end_ratio"]},
        ]
        report("bench_ingest", summary, table)
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
