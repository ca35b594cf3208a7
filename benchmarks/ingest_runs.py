"""One timed `qserv ingest` of a partitioner output into a fresh local cluster, with the code of
any source tree (this checkout, or an older one unpacked beside it), so that a benchmark can
put the ingest before and after a change side by side in one run: a shared machine's load
comes and goes, and only ratios measured together mean something.

Every command runs as a subprocess with the tree first on PYTHONPATH (the cluster's daemons
inherit it), so nothing of this checkout's ingest code is in the timed path of the other."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

STEP_NAMES = ("queue", "register", "allocate", "load", "index", "publish", "validate")
HERE = Path(__file__).resolve().parents[1]


def _env(tree: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(tree))


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def worker_log_totals(cluster: Path) -> dict:
    """Sums of the workers' per-contribution timings (worker/ingest.py logs `receive`, `DDL`
    and `LOAD` seconds of every contribution or bundle), over all workers."""
    totals: dict[str, float] = defaultdict(float)
    pattern = re.compile(r"\((receive|spool) ([0-9.]+), DDL ([0-9.]+), LOAD ([0-9.]+)\)")
    n = 0
    for log in (cluster / "logs").glob("worker*.log") if (cluster / "logs").exists() else []:
        for line in log.read_text(errors="replace").splitlines():
            m = pattern.search(line)
            if m:
                n += 1
                totals["receive"] += float(m.group(2))
                totals["ddl"] += float(m.group(3))
                totals["load"] += float(m.group(4))
    return {"worker_calls": n, **{k: round(v, 2) for k, v in totals.items()}}


def cluster_cpu(cluster: Path) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the processes of a local cluster (those whose
    command line names its directory), per kind: the MariaDB servers and the daemons. On a
    shared machine these move less with the load than wall times do."""
    out = {"mariadbd": 0.0, "daemons": 0.0}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if str(cluster) not in cmd:
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = "mariadbd" if "mariadbd" in cmd else "daemons"
        out[kind] += (int(fields[11]) + int(fields[12])) / tick
    return out


def timed_ingest(tree: Path, work: Path, part: Path, *, workers: int, jobs: int, base_port: int,
                 frontend_port: int, extra: list[str] | None = None, env_extra: dict | None = None,
                 then: Callable[[Path], dict] | None = None) -> dict:
    """Start a cluster of `workers` with `tree`'s code (and `env_extra` in its environment:
    QSERV_<FIELD> settings), time `qserv ingest part`, run `then(cluster_dir)` while the
    cluster is still up (its result under "then"), stop it. Returns seconds, the ingest's
    step timings, the worker-side sums and the load average."""
    cluster = work / f"cluster-{int(time.time() * 1000)}"
    env = {**_env(tree), **(env_extra or {})}
    cli = [sys.executable, "-m", "qserv.admin.cli"]
    subprocess.run(cli + ["up", "--dir", str(cluster), "--workers", str(workers),
                          "--port", str(frontend_port), "--base-port", str(base_port)],
                   cwd=tree, env=env, check=True, capture_output=True)
    try:
        load_before = load_average()
        cpu_before = cluster_cpu(cluster)
        t = time.monotonic()
        proc = subprocess.run(cli + ["ingest", str(part), "--dir", str(cluster), "-j", str(jobs),
                                     "--quiet", *(extra or [])],
                              cwd=tree, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - t
        cpu = {k: round(v - cpu_before[k], 1) for k, v in cluster_cpu(cluster).items()}
        if proc.returncode != 0:
            raise RuntimeError(f"ingest with {tree} failed:\n{proc.stdout}\n{proc.stderr}")
        steps = {}
        for line in proc.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in STEP_NAMES:
                steps[parts[0]] = float(parts[1])
        # The time before the first step's clock starts: process start, plan, manifest check.
        out = {"seconds": round(seconds, 2), "steps": steps,
               "worker": worker_log_totals(cluster), "cluster_cpu_seconds": cpu,
               "load_average": [load_before, load_average()]}
        if then is not None:
            out["then"] = then(cluster)
        return out
    finally:
        subprocess.run(cli + ["down", "--dir", str(cluster)], cwd=tree, env=env,
                       capture_output=True)
        shutil.rmtree(cluster, ignore_errors=True)


def partitioned_catalog(work: Path, *, objects: int, sources_per_object: int, order: int,
                        name: str = "small") -> tuple[Path, dict]:
    """The demo catalog generated at this size and chunk order and partitioned with `qserv
    partition -j 2` under `work`; (partitioner output dir, {rows per table, chunks, chunk
    files})."""
    from qserv.admin.demo import generate
    spec_path = generate(work / "src", n_objects=objects, sources_per_object=sources_per_object,
                         name=name, chunk_order=order)
    part = work / "part"
    subprocess.run([sys.executable, "-m", "qserv.admin.cli", "partition", "-c", str(spec_path),
                    "-o", str(part), "-j", "2", "-q"], check=True)
    manifest = json.loads((part / "manifest.json").read_text())
    tables = manifest["tables"]
    return part, {
        "rows": {t: e["rows"] for t, e in tables.items()},
        "chunks": len(tables["Object"]["chunks"]),
        "chunk_files": sum(bool(e.get("file")) + bool(e.get("overlap_file"))
                           for t in tables.values() for e in t.get("chunks", {}).values())}
