"""Issue 4 benchmark: `qserv partition` on a 10-column Object CSV at chunk_order 7 with a
1 arcmin overlap, with -j 1 and -j 2, beside the floor: reading and writing the same file with
pyarrow alone (streaming CSV read, CSV write), in the same run on the same file. Also the peak
RSS of the partitioner (largest process) for 1M and 10M rows, and for the 10M-row file
listed three times (30M rows), to show that it stops growing.

Targets (issue 4): >= 1M rows/s per core; within 2x of the pyarrow floor; peak RSS bounded and
independent of the input size.

    python -m benchmarks.bench_partition --rows 10000000 --repeat 3

The catalog covers a 40 x 30 degree patch straddling RA 0 (about 5,700 chunks of order 7).
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

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from benchmarks.common import report

RSS_PROBE = ("import os, resource, subprocess, sys, time; "
             "cpu = os.environ.pop('BENCH_PIN_CPU', ''); cpu and os.sched_setaffinity(0, {int(cpu)}); "
             "t = time.monotonic(); "
             "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
             "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
             "print(time.monotonic() - t, u.ru_maxrss, rc, u.ru_utime + u.ru_stime, u.ru_stime)")


def generate(path: Path, rows: int, seed: int = 1, batch: int = 1_000_000) -> None:
    rng = np.random.default_rng(seed)
    s0, s1 = np.sin(np.radians([-15.0, 15.0]))
    with pacsv.CSVWriter(path, pa.schema([("objectId", pa.int64()), ("ra", pa.float64()),
                                          ("decl", pa.float64())] +
                                         [(f"{b}Mag", pa.float64()) for b in "ugriz"] +
                                         [("flags", pa.int32()), ("extendedness", pa.int8())]),
                         write_options=pacsv.WriteOptions(null_string="\\N")) as w:
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            cols = {"objectId": np.arange(start, start + n, dtype=np.int64) * 10 + 3,
                    "ra": np.mod(rng.uniform(-20, 20, n), 360).round(7),
                    "decl": np.degrees(np.arcsin(rng.uniform(s0, s1, n))).round(7)}
            for i, b in enumerate("ugriz"):
                cols[f"{b}Mag"] = rng.normal(22 - 0.3 * i, 1.5, n).round(4)
            cols["flags"] = rng.integers(0, 1 << 16, n).astype(np.int32)
            cols["extendedness"] = rng.integers(0, 2, n).astype(np.int8)
            w.write_table(pa.table(cols))


def spec(path: Path, directory: Path, copies: int = 1) -> Path:
    cols = ([("objectId", "BIGINT NOT NULL"), ("ra", "DOUBLE NOT NULL"), ("decl", "DOUBLE NOT NULL")]
            + [(f"{b}Mag", "DOUBLE NULL") for b in "ugriz"]
            + [("flags", "INT NOT NULL"), ("extendedness", "TINYINT NULL")])
    s = {"name": "bench", "chunk_order": 7, "subchunk_bits": 3, "overlap_deg": 1 / 60,
         "tables": [{"name": "Object", "role": "director", "ra": "ra", "dec": "decl",
                     "director_key": "objectId", "data": [str(path)] * copies,
                     "columns": [{"name": n, "type": t} for n, t in cols]}]}
    out = directory / f"spec-{path.stem}{f'-x{copies}' if copies > 1 else ''}.json"
    out.write_text(json.dumps(s))
    return out


def floor(path: Path, out: Path) -> float:
    """pyarrow alone: stream the CSV in (values as bytes, as the partitioner reads them) and
    write it out as CSV (the partitioner's output options)."""
    from partitioner.writers import CSV_OPTIONS, for_csv
    t = time.monotonic()
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=64 << 20, use_threads=False),
                            convert_options=pacsv.ConvertOptions(
                                column_types={c: pa.binary() for c in
                                              pacsv.open_csv(path).schema.names}))
    writer = None
    for batch in reader:
        table = for_csv(pa.Table.from_batches([batch]))
        if writer is None:
            writer = pacsv.CSVWriter(out, table.schema, write_options=CSV_OPTIONS)
        writer.write_table(table)
    writer.close()
    return time.monotonic() - t


def run_partition(spec_path: Path, out: Path, jobs: int, pin: bool = False) -> tuple[float, int, dict, float, float]:
    """(wall seconds, peak RSS KiB of the largest process, manifest, CPU seconds, of which
    kernel) of one `qserv partition` run, process start-up included; with `pin`, the run is
    confined to one CPU (the per-core figure: its writer thread shares that core). `out` must be new: the
    outputs of earlier runs are deleted only at the end of the benchmark, since ext4 creates
    files several times slower beside thousands of inodes freed seconds before (measured:
    ~3 CPU-s of a 10M-row run in `recently_deleted`), which is not the partitioner's cost."""
    cmd = [sys.executable, "-m", "qserv.admin.cli", "partition", "-c", str(spec_path), "-o", str(out),
           "-j", str(jobs), "-q"]
    env = dict(os.environ, BENCH_PIN_CPU=str(sorted(os.sched_getaffinity(0))[-1])) if pin else None
    res = subprocess.run([sys.executable, "-c", RSS_PROBE] + cmd, capture_output=True, text=True,
                         check=True, env=env)
    seconds, rss_kb, rc, cpu, sys_cpu = res.stdout.split()
    if rc != "0":
        raise RuntimeError(f"partition failed: {' '.join(cmd)}")
    manifest = json.loads((out / "manifest.json").read_text())
    return float(seconds), int(rss_kb), manifest, float(cpu), float(sys_cpu)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--small-rows", type=int, default=1_000_000, help="second size, for peak RSS")
    p.add_argument("--dir", help="work directory (default: a temporary one)")
    p.add_argument("--rss-copies", type=int, default=3, help="one more -j1 run over the large "
                   "file listed this many times (its rows repeated), for peak RSS only: 0 skips it")
    p.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the median "
                   "run is reported (a shared machine's load comes and goes)")
    args = p.parse_args(argv)
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-partition-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results, rows_md = {}, []
        for n in (args.small_rows, args.rows):
            csv = work / f"object-{n}.csv"
            if not csv.exists():
                generate(csv, n)
            mb = csv.stat().st_size / 1e6
            sp = spec(csv, work)
            floors = sorted(floor(csv, work / "floor.csv") for _ in range(args.repeat))
            fl = floors[len(floors) // 2]
            (work / "floor.csv").unlink()
            entry = {"rows": n, "input_mb": round(mb, 1), "floor_s": round(fl, 2),
                     "floor_runs_s": [round(x, 2) for x in floors],
                     "floor_mb_s": round(mb / fl, 1)}
            for jobs in (1, "1pinned", 2):
                if n != args.rows and jobs != 1:
                    continue
                j, pin = (1, True) if jobs == "1pinned" else (jobs, False)
                runs = sorted((run_partition(sp, work / f"out-{n}-j{jobs}-{k}", j, pin)   # a fresh
                               for k in range(args.repeat)), key=lambda r: r[0])    # directory each
                secs, rss, m, cpu, sys_cpu = runs[len(runs) // 2]
                rss = max(r[1] for r in runs)
                t = m["tables"]["Object"]
                assert t["rows"] == n and t["rows_out"] == n, t
                entry[f"j{jobs}"] = {"s": round(secs, 2), "rows_s": round(n / secs),
                                     "mb_s": round(mb / secs, 1), "vs_floor": round(secs / fl, 2),
                                     "runs_s": [round(r[0], 2) for r in runs],
                                     "cpu_s": round(cpu, 2), "sys_s": round(sys_cpu, 2),
                                     "rows_per_cpu_s": round(n / cpu),
                                     "peak_rss_mb": round(rss / 1024, 1), "chunks": len(t["chunks"]),
                                     "overlap_rows": t["overlap_rows"]}
                rows_md.append({"rows": f"{n:,}", "jobs": "1, on one CPU" if pin else jobs,
                                "seconds": round(secs, 2),
                                "rows/s": f"{n / secs:,.0f}", "MB/s": round(mb / secs, 1),
                                "pyarrow floor s": round(fl, 2), "x floor": round(secs / fl, 2),
                                "CPU s (kernel)": f"{cpu:.1f} ({sys_cpu:.1f})",
                                "peak RSS MB": round(rss / 1024, 1),
                                "overlap rows": f"{t['overlap_rows']:,}"})
            results[str(n)] = entry
        big = results[str(args.rows)]
        if args.rss_copies > 1:
            csv = work / f"object-{args.rows}.csv"
            secs, rss, m, cpu, sys_cpu = run_partition(spec(csv, work, args.rss_copies),
                                                       work / "out-rss", 1)
            n = args.rows * args.rss_copies
            assert m["tables"]["Object"]["rows"] == n
            big["rss_run"] = {"rows": n, "s": round(secs, 2), "peak_rss_mb": round(rss / 1024, 1)}
            rows_md.append({"rows": f"{n:,} (the large file {args.rss_copies}x)", "jobs": 1,
                            "seconds": round(secs, 2), "rows/s": f"{n / secs:,.0f}",
                            "MB/s": round(big["input_mb"] * args.rss_copies / secs, 1),
                            "pyarrow floor s": "", "x floor": "",
                            "CPU s (kernel)": f"{cpu:.1f} ({sys_cpu:.1f})",
                            "peak RSS MB": round(rss / 1024, 1), "overlap rows": ""})
        summary = {"rows": args.rows, "chunk_order": 7, "overlap_deg": round(1 / 60, 5),
                   "j1_rows_s": big["j1"]["rows_s"], "j2_rows_s": big["j2"]["rows_s"],
                   "j1_one_cpu_rows_s": big["j1pinned"]["rows_s"],
                   "j1_mb_s": big["j1"]["mb_s"], "j2_mb_s": big["j2"]["mb_s"],
                   "floor_mb_s": big["floor_mb_s"], "j1_vs_floor": big["j1"]["vs_floor"],
                   "j2_vs_floor": big["j2"]["vs_floor"],
                   "peak_rss_mb_small": results[str(args.small_rows)]["j1"]["peak_rss_mb"],
                   "peak_rss_mb_large": big["j1"]["peak_rss_mb"],
                   "peak_rss_mb_large_j2": big["j2"]["peak_rss_mb"],
                   "peak_rss_mb_largest": big.get("rss_run", {}).get("peak_rss_mb"),
                   "j1_rows_per_cpu_s": big["j1"]["rows_per_cpu_s"],
                   "j2_rows_per_cpu_s": big["j2"]["rows_per_cpu_s"],
                   "overlap_share": round(big["j1"]["overlap_rows"] / args.rows, 3),
                   "detail": results}
        report("bench_partition", summary, rows_md)
    finally:
        for out in work.glob("out-*"):
            shutil.rmtree(out, ignore_errors=True)
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
