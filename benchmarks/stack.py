"""The systems under test: a local cluster of N workers loaded through the real CLIs
(`qserv partition`, then `qserv ingest`, each its own process, timed, peak memory taken), and
one plain MariaDB holding the same rows (the baseline).

The baseline is loaded from the partitioner's own chunk files (overlap left out), so both
sides hold exactly the same rows parsed by the same code; its tables keep chunkId/subChunkId
as INVISIBLE columns, as the workers' do, so `SELECT *` matches and HV3's GROUP BY chunkId
has an answer to compare with. Its load time is the ingest floor (LOAD DATA into one server).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.csv as pacsv

from benchmarks.catalog import Catalog
from benchmarks.procstats import cpu_seconds, peak_rss_mb
from qserv.catalog import DatabaseSpec
from qserv.config import ClusterConfig, MariaDBSettings
from qserv.admin import cluster as admin_cluster
from qserv.mariadb import MariaDBServer, read_pid

REPO = Path(__file__).resolve().parent.parent
BASELINE_SETTINGS = MariaDBSettings(innodb_buffer_pool_size="512M", key_buffer_size="512M")


def run_cli(args: list[str], log: Path) -> dict:
    """`qserv ARGS` in its own process; wall seconds, CPU seconds and peak RSS (from wait4)."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    code = "import sys; from qserv.admin.cli import main; sys.exit(main(sys.argv[1:]))"
    t = time.monotonic()
    with open(log, "ab") as out:
        p = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=out, env=env,
                             cwd=REPO)
        _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - t
    if p.returncode != 0:
        raise RuntimeError(f"qserv {' '.join(args)} failed ({p.returncode}); see {log}")
    return {"seconds": round(seconds, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


class Cluster:
    """A started local cluster; `down()` stops every process of it."""

    def __init__(self, root: Path, workers: int, base_port: int, frontend_port: int):
        self.config = ClusterConfig.create(root, workers, frontend_port=frontend_port,
                                           base_port=base_port)
        self.workers = workers
        self.log = root.parent / f"{root.name}.log"
        self.loads: dict[str, dict] = {}

    def up(self) -> float:
        t = time.monotonic()
        admin_cluster.up(self.config, echo=lambda *_: None)
        return round(time.monotonic() - t, 2)

    def down(self) -> None:
        admin_cluster.down(self.config, echo=lambda *_: None)

    def pid(self, name: str) -> int | None:
        return admin_cluster.component_pid(self.config, name)

    def worker_pids(self) -> dict[str, list[int | None]]:
        """Per worker: its daemon and its mariadbd."""
        return {w.name: [self.pid(w.name), self.pid(f"{w.name}-mariadb")] for w in self.config.workers}

    def czar_pids(self) -> list[int | None]:
        return [self.pid("czar"), self.pid("czar-mariadb")]

    def peak_memory(self) -> dict[str, float | None]:
        names = ["czar", "czar-mariadb"] + [n for w in self.config.workers
                                            for n in (w.name, f"{w.name}-mariadb")]
        return {n: peak_rss_mb(self.pid(n)) for n in names}

    def cpu_total(self) -> float:
        return sum(cpu_seconds(p) for ps in [self.czar_pids(), *self.worker_pids().values()]
                   for p in ps)

    def ingest(self, catalog: Catalog, partitioned: Path) -> dict:
        """`qserv ingest` of a partitioner output directory."""
        r = run_cli(["ingest", str(partitioned), "--dir", str(self.config.root), "--quiet"], self.log)
        self.loads[catalog.name] = r
        return r


def partition(catalog: Catalog, out: Path, log: Path, jobs: int = 2) -> dict:
    """`qserv partition -c spec.json -o OUT`, and the floor it is compared with: reading
    (parsing) the same CSV files with pyarrow's multithreaded reader."""
    if out.exists():
        shutil.rmtree(out)
    r = run_cli(["partition", "-c", str(catalog.spec_path), "-o", str(out), "-j", str(jobs), "-q"], log)
    t = time.monotonic()
    for name in ("Object.csv", "Source.csv"):
        pacsv.read_csv(catalog.spec_path.parent / name,
                       convert_options=pacsv.ConvertOptions(strings_can_be_null=True,
                                                            null_values=["\\N"]))
    r["floor_read_csv_s"] = round(time.monotonic() - t, 2)
    rows = catalog.objects + catalog.sources
    r["rows"], r["mb"] = rows, round(catalog.bytes / 1e6, 1)
    r["rows_per_s"] = round(rows / r["seconds"])
    r["mb_per_s"] = round(catalog.bytes / 1e6 / r["seconds"], 1)
    r["vs_floor"] = round(r["seconds"] / max(r["floor_read_csv_s"], 1e-3), 2)
    return r


class Baseline:
    """One plain MariaDB."""

    def __init__(self, root: Path, port: int):
        self.server = MariaDBServer(root, port, BASELINE_SETTINGS)
        self.log = root.parent / "baseline.log"

    def start(self) -> None:
        self.server.start(open(self.log, "ab"))

    def stop(self) -> None:
        self.server.stop()

    def pid(self) -> int | None:
        return read_pid(self.server.pid_file)

    def connect(self, db: str | None = None):
        return self.server.connect(database=db)

    def load(self, catalog: Catalog, partitioned: Path) -> dict:
        """The partitioner's chunk files (no overlap) into one server; seconds = ingest floor."""
        from qserv.admin.oracle import load_output
        spec = DatabaseSpec.read(catalog.spec_path)
        manifest = json.loads((partitioned / "manifest.json").read_text())
        t = time.monotonic()
        conn = self.connect()
        try:
            load_output(conn, spec, manifest, partitioned, chunk_columns=True)
        finally:
            conn.close()
        return {"seconds": round(time.monotonic() - t, 2)}
