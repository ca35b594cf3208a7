"""One plain MariaDB holding a catalog's rows, unpartitioned: the reference answer (the
oracle) that the differential tests, the conformance suite and the benchmarks compare the
cluster with.

The rows are read by the partitioner (same parsing, same validation as `qserv load`), without
overlap, and loaded with one LOAD DATA per table."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from qserv import scisql
from qserv.catalog import CHUNK_COLUMNS, LOAD_FORMAT, DatabaseSpec


def partition_to(spec: DatabaseSpec, out_dir: str, *, overlap: bool = True, show_progress: bool = False,
                 jobs: int = 1) -> dict:
    """Partition `spec` into `out_dir`; returns the manifest."""
    from partitioner import Options, partition
    return partition(spec, Options(out_dir=out_dir, progress=show_progress, force=True,
                                   overlap=overlap, jobs=jobs))


def load_single(conn, spec: DatabaseSpec) -> dict[str, int]:
    """Load the catalog into ONE plain MariaDB (no chunking); `conn` is a pymysql connection.
    Returns the rows per table."""
    with tempfile.TemporaryDirectory(prefix="qserv-single-") as tmp:
        manifest = partition_to(spec, tmp, overlap=False)
        return load_output(conn, spec, manifest, Path(tmp))


def load_output(conn, spec: DatabaseSpec, manifest: dict, out: Path, *,
                chunk_columns: bool = False) -> dict[str, int]:
    """A partitioner output (`manifest`, its files in `out`; overlap files are not read) into
    one plain MariaDB, one LOAD DATA per table; returns the rows per table. `chunk_columns`:
    partitioned tables keep chunkId and subChunkId (INVISIBLE, as on workers), for queries
    that name them."""
    counts = {}
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{spec.name}`")
        cur.execute(f"CREATE DATABASE `{spec.name}`")
        for stmt in scisql.install_statements(spec.name):
            cur.execute(stmt)
        for t in spec.tables:
            cur.execute(t.ddl(spec.name, with_chunk_columns=chunk_columns))
            e = manifest["tables"][t.name]
            if t.partitioned:
                files = [out / c["file"] for c in e["chunks"].values() if c["rows"]]
                ids = [f"`{c}`" for c in CHUNK_COLUMNS] if chunk_columns else ["@chunkId", "@subChunkId"]
                cols = ", ".join([f"`{c}`" for c in t.column_names] + ids)
            else:
                files = [out / e["file"]]
                cols = ", ".join(f"`{c}`" for c in t.column_names)
            whole = out / f"{t.name}.all"
            try:
                with open(whole, "wb") as dst:
                    for f in files:
                        with open(f, "rb") as src:
                            shutil.copyfileobj(src, dst, 8 << 20)
                cur.execute(f"LOAD DATA LOCAL INFILE '{whole}' INTO TABLE `{spec.name}`.`{t.name}` "
                            f"{LOAD_FORMAT} ({cols})")
            finally:
                whole.unlink(missing_ok=True)
            counts[t.name] = e["rows_out"]
    return counts
