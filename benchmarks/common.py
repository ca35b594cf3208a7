"""Shared benchmark plumbing: a local cluster and a single-MariaDB baseline on the same data,
timing helpers, and the JSON-line + Markdown-table report every benchmark prints."""

from __future__ import annotations

import json
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import pymysql

from qserv.catalog import DatabaseSpec
from qserv.admin.cluster import down, up
from qserv.config import ClusterConfig, MariaDBSettings
from qserv.admin.ingest_client import load
from qserv.admin.oracle import load_single
from qserv.mariadb import MariaDBServer

RESULTS = Path(__file__).parent / "results"


@contextmanager
def cluster_and_baseline(work: Path, spec_path: Path, workers: int, base_port: int):
    """A loaded cluster of `workers` and one plain MariaDB (same memory settings) with the
    same rows; both torn down on exit."""
    config = ClusterConfig.create(work / "cluster", workers, frontend_port=base_port + 1000,
                                  base_port=base_port)
    baseline = MariaDBServer(work / "baseline", base_port - 6,
                             MariaDBSettings(innodb_buffer_pool_size="512M", key_buffer_size="256M"))
    spec = DatabaseSpec.read(spec_path)
    try:
        up(config, echo=lambda *_: None)
        baseline.start(open(work / "baseline.log", "ab"))
        t = time.monotonic()
        load(config, spec, show_progress=True)
        load_seconds = time.monotonic() - t
        conn = baseline.connect()
        load_single(conn, spec)
        conn.close()
        yield config, baseline, load_seconds
    finally:
        down(config, echo=lambda *_: None)
        baseline.stop()


def czar_connection(config: ClusterConfig, db: str):
    return pymysql.connect(host=config.host, port=config.frontend_port, user=config.user,
                           password=config.password, database=db)


def time_pair(first, second, sql: str, repeat: int) -> tuple[tuple[float, int], tuple[float, int]]:
    """time_query on two connections, alternating run by run (a shared machine's load comes
    and goes: back-to-back series put different moments on each side)."""
    a, b = [], []
    for _ in range(repeat):
        a.append(time_query(first, sql, 1))
        b.append(time_query(second, sql, 1))
    return ((statistics.median(t for t, _ in a), a[-1][1]),
            (statistics.median(t for t, _ in b), b[-1][1]))


def time_query(conn, sql: str, repeat: int) -> tuple[float, int]:
    """Median wall time of fetching every row, and the row count."""
    times, n = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(sql)
            n = len(cur.fetchall())
        times.append(time.perf_counter() - t)
    return statistics.median(times), n


def report(name: str, summary: dict, rows: list[dict]) -> None:
    """Print one JSON line and write benchmarks/results/<name>.md."""
    print(json.dumps({"benchmark": name, **summary}))
    RESULTS.mkdir(exist_ok=True)
    cols = list(rows[0].keys())
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    (RESULTS / f"{name}.md").write_text(f"# {name}\n\n" + "\n".join(lines) + "\n\n```json\n"
                                        + json.dumps(summary, indent=2) + "\n```\n")
