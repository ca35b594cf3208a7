"""`qserv load`: a deliberately thin loader (the transactional ingest will replace it).

The chunking is the partitioner's (one implementation): the catalog is partitioned into a
temporary directory, then the chunk files are shipped as they are. Director rows go to the
chunk of their position, their overlap rows to `<Table>FullOverlap_<chunk>` on the worker
holding that chunk; child rows go to the chunk of their director row (director-child joins are
chunk-local); replicated tables to every worker. Every partitioned table gets a (possibly
empty) table in every chunk of the database, so a query can always name all of them.
"""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from rich.progress import Progress

from qserv import scisql
from qserv.catalog import CHUNK_COLUMNS, DIRECTOR, LOAD_FORMAT, REPLICATED, DatabaseSpec
from qserv.config import ClusterConfig
from qserv.mariadb import MariaDBServer
from qserv.metadata import MetadataStore
from qserv import workers as wk


def place_chunks(chunk_ids: list[int], worker_names: list[str]) -> dict[int, list[str]]:
    """Round-robin over ascending chunk ids: neighbouring chunks land on different workers,
    so a spatially compact query still spreads across the cluster."""
    return {c: [worker_names[i % len(worker_names)]] for i, c in enumerate(sorted(chunk_ids))}


def partition_to(spec: DatabaseSpec, out_dir: str, *, overlap: bool = True, show_progress: bool = False,
                 jobs: int = 1) -> dict:
    from partitioner import Options, partition
    return partition(spec, Options(out_dir=out_dir, progress=show_progress, force=True,
                                   overlap=overlap, jobs=jobs))


def load(config: ClusterConfig, spec: DatabaseSpec, *, show_progress: bool = True,
         jobs: int = 1) -> dict[str, int]:
    """Load every table of `spec` into the cluster; returns rows loaded per table."""
    with tempfile.TemporaryDirectory(prefix="qserv-load-") as tmp:
        manifest = partition_to(spec, tmp, show_progress=show_progress, jobs=jobs)
        return load_partitioned(config, spec, manifest, Path(tmp), show_progress=show_progress)


def load_partitioned(config: ClusterConfig, spec: DatabaseSpec, manifest: dict, out: Path, *,
                     show_progress: bool = True) -> dict[str, int]:
    """Ship the files of a partitioner output directory (`manifest`) to the workers."""
    czar_db = MariaDBServer.for_czar(config)
    meta = MetadataStore(czar_db.connect())
    meta.initialize()
    tables = manifest["tables"]
    partitioned = [t for t in spec.tables if t.partitioned]
    # chunks holding rows of some table (chunks with only overlap rows are useless: no row
    # of theirs to join with)
    all_chunks = sorted({int(c) for t in partitioned for c, e in tables[t.name]["chunks"].items()
                         if e["rows"]})
    placement = place_chunks(all_chunks, [w.name for w in config.workers])

    meta.register_database(spec)
    stubs = {w.name: wk.stub(w, config.grpc_token) for w in config.workers}
    chunks_of: dict[str, list[int]] = {w: [] for w in stubs}
    for c, ws in placement.items():
        for w in ws:
            chunks_of[w].append(c)

    def prepare(worker: str):
        stmts = [f"DROP DATABASE IF EXISTS `{spec.name}`", f"CREATE DATABASE `{spec.name}`"]
        stmts += scisql.install_statements(spec.name)
        stmts += [t.ddl(spec.name) for t in spec.tables if t.role == REPLICATED]
        for c in chunks_of[worker]:
            for t in partitioned:
                stmts.append(t.ddl(spec.name, t.chunk_table(c)))
                if t.role == DIRECTOR:
                    stmts.append(t.ddl(spec.name, t.overlap_table(c)))
        wk.execute_ddl(stubs[worker], stmts)

    with ThreadPoolExecutor(max_workers=max(1, len(stubs))) as pool:
        list(pool.map(prepare, stubs))

    jobs = []  # (worker, table spec name, worker table, columns, file, rows, counts)
    for t in partitioned:
        cols = t.column_names + list(CHUNK_COLUMNS)
        for c, e in tables[t.name]["chunks"].items():
            c = int(c)
            if c not in placement:
                continue
            for copy, w in enumerate(placement[c]):
                if e["rows"]:
                    jobs.append((w, t.name, t.chunk_table(c), cols, out / e["file"], e["rows"], copy == 0))
                if e["overlap_rows"]:
                    jobs.append((w, t.name, t.overlap_table(c), cols, out / e["overlap_file"],
                                 e["overlap_rows"], False))
    for t in spec.tables:
        if t.role == REPLICATED:
            e = tables[t.name]
            for copy, w in enumerate(stubs):
                jobs.append((w, t.name, t.name, t.column_names, out / e["file"], e["rows_out"], copy == 0))

    loaded: dict[str, int] = {t.name: 0 for t in spec.tables}
    with Progress(disable=not show_progress) as progress, \
            ThreadPoolExecutor(max_workers=2 * len(stubs)) as pool:
        task = progress.add_task(f"loading {spec.name}", total=sum(j[5] for j in jobs) or 1)

        def send(job):
            w, name, table, cols, path, rows, counts = job
            n = wk.load_table(stubs[w], spec.name, table, cols, path.read_bytes()) if rows else 0
            if n != rows:
                raise RuntimeError(f"{w}: {spec.name}.{table} loaded {n} of {rows} rows")
            progress.advance(task, rows)
            return name, n if counts else 0

        for name, n in pool.map(send, jobs):
            loaded[name] += n

    for t in spec.tables:
        if t.role == DIRECTOR:
            raw_path = out / tables[t.name]["index"]["raw"]
            raw = np.fromfile(raw_path, dtype=[("key", "<i8"), ("chunk", "<i4"), ("sub", "<i4")]) \
                if raw_path.exists() else np.zeros(0, [("key", "<i8"), ("chunk", "<i4"), ("sub", "<i4")])
            meta.store_director_index(spec.name, t.name, raw["key"], raw["chunk"], raw["sub"])
    meta.set_placement(spec.name, placement)
    meta.publish(spec.name)
    return loaded


def load_single(conn, spec: DatabaseSpec) -> dict[str, int]:
    """Load the same catalog into ONE plain MariaDB (no chunking): the reference that tests
    and benchmarks compare Qserv against. `conn` is a pymysql connection. Rows are read by
    the partitioner too (same parsing, same validation), without overlap."""
    counts = {}
    with tempfile.TemporaryDirectory(prefix="qserv-single-") as tmp:
        manifest = partition_to(spec, tmp, overlap=False)
        out = Path(tmp)
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{spec.name}`")
            cur.execute(f"CREATE DATABASE `{spec.name}`")
            for stmt in scisql.install_statements(spec.name):
                cur.execute(stmt)
            for t in spec.tables:
                cur.execute(t.ddl(spec.name, with_chunk_columns=False))
                e = manifest["tables"][t.name]
                if t.partitioned:
                    files = [out / c["file"] for c in e["chunks"].values() if c["rows"]]
                    cols = ", ".join([f"`{c}`" for c in t.column_names] + ["@chunkId", "@subChunkId"])
                else:
                    files = [out / e["file"]]
                    cols = ", ".join(f"`{c}`" for c in t.column_names)
                whole = out / f"{t.name}.all"
                with open(whole, "wb") as dst:
                    for f in files:
                        with open(f, "rb") as src:
                            shutil.copyfileobj(src, dst, 8 << 20)
                cur.execute(f"LOAD DATA LOCAL INFILE '{whole}' INTO TABLE `{spec.name}`.`{t.name}` "
                            f"{LOAD_FORMAT} ({cols})")
                counts[t.name] = e["rows_out"]
    return counts
