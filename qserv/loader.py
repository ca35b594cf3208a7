"""`qserv load`: a deliberately thin loader for CSV catalogs (the partitioner and the
transactional ingest will replace its internals).

Director rows go to the chunk of their position; child rows to the chunk of their director
row (so director-child joins are chunk-local); replicated tables to every worker. Every
partitioned table gets a (possibly empty) table in every chunk of the database, so a query
can always name all of them. Values travel as the original text: nothing is re-formatted.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from rich.progress import Progress

from qserv.catalog import CHILD, CHUNK_COLUMNS, DIRECTOR, REPLICATED, DatabaseSpec, TableSpec
from qserv.config import ClusterConfig
from qserv.geometry import Chunker
from qserv.mariadb import MariaDBServer
from qserv.metadata import MetadataStore
from qserv import workers as wk

NULL_TOKENS = ["\\N"]


@dataclass
class ChunkedTable:
    spec: TableSpec
    table: pa.Table               # all columns as text, rows sorted by chunk
    chunk_ids: np.ndarray         # distinct chunks, ascending
    bounds: np.ndarray            # rows of chunk_ids[i] are table[bounds[i]:bounds[i+1]]


def read_csv(spec: DatabaseSpec, table: TableSpec) -> pa.Table:
    """All files of a table, every column as text (values are loaded byte for byte)."""
    parts = []
    for path in spec.files(table):
        parts.append(pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=64 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in table.column_names},
                include_columns=table.column_names, null_values=NULL_TOKENS,
                strings_can_be_null=True, quoted_strings_can_be_null=False)))
    if not parts:
        return pa.table({c: pa.array([], pa.string()) for c in table.column_names})
    return pa.concat_tables(parts)


def chunk_rows(table_spec: TableSpec, rows: pa.Table, chunk: np.ndarray, sub: np.ndarray) -> ChunkedTable:
    order = np.argsort(chunk, kind="stable")
    rows = rows.append_column(CHUNK_COLUMNS[0], pa.array(chunk[order].astype(np.int32)))
    rows = rows.append_column(CHUNK_COLUMNS[1], pa.array(sub[order].astype(np.int32)))
    # append_column added already-sorted columns; sort the original ones the same way
    data_cols = rows.select(table_spec.column_names).take(pa.array(order))
    rows = pa.Table.from_arrays(
        list(data_cols.columns) + [rows[CHUNK_COLUMNS[0]], rows[CHUNK_COLUMNS[1]]],
        names=table_spec.column_names + list(CHUNK_COLUMNS))
    ids, starts = np.unique(chunk[order], return_index=True)
    return ChunkedTable(table_spec, rows, ids, np.append(starts, len(chunk)))


def key_array(rows: pa.Table, column: str, table: str) -> np.ndarray:
    col = rows[column]
    if col.null_count:
        raise ValueError(f"{table}.{column}: {col.null_count} NULL director keys")
    return pc.cast(col, pa.int64()).to_numpy()


def to_csv(rows: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(rows, buf, pacsv.WriteOptions(include_header=False, null_string="NULL",
                                                  quoting_style="all_valid"))
    return buf.getvalue()


def place_chunks(chunk_ids: list[int], worker_names: list[str]) -> dict[int, list[str]]:
    """Round-robin over ascending chunk ids: neighbouring chunks land on different workers,
    so a spatially compact query still spreads across the cluster."""
    return {c: [worker_names[i % len(worker_names)]] for i, c in enumerate(sorted(chunk_ids))}


def load(config: ClusterConfig, spec: DatabaseSpec, *, show_progress: bool = True) -> dict[str, int]:
    """Load every table of `spec` into the cluster; returns rows loaded per table."""
    czar_db = MariaDBServer(config.instance_dir("czar"), config.czar_mariadb_port, config.mariadb)
    meta = MetadataStore(czar_db.connect())
    meta.initialize()
    chunker = Chunker(spec.chunk_order, spec.subchunk_bits)

    # 1. Read and chunk: directors by position, children through their director's key.
    chunked: list[ChunkedTable] = []
    replicated: list[tuple[TableSpec, pa.Table]] = []
    index: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for t in sorted(spec.tables, key=lambda t: (t.role != DIRECTOR)):
        rows = read_csv(spec, t)
        if t.role == DIRECTOR:
            ra = pc.cast(rows[t.ra], pa.float64()).to_numpy(zero_copy_only=False)
            dec = pc.cast(rows[t.dec], pa.float64()).to_numpy(zero_copy_only=False)
            chunk, sub = chunker.locate(ra, dec)
            keys = key_array(rows, t.director_key, t.name)
            order = np.argsort(keys)
            index[t.name.lower()] = (keys[order], chunk[order], sub[order])
            chunked.append(chunk_rows(t, rows, chunk, sub))
        elif t.role == CHILD:
            keys, ichunk, isub = index[t.director_table.lower()]
            fk = key_array(rows, t.director_key, t.name)
            pos = np.searchsorted(keys, fk)
            pos_ok = np.minimum(pos, max(len(keys) - 1, 0))
            found = (pos < len(keys)) & (keys[pos_ok] == fk) if len(keys) else np.zeros(len(fk), bool)
            if not found.all():
                missing = fk[~found][:5]
                raise ValueError(f"{t.name}: {int((~found).sum())} rows refer to a missing "
                                 f"{t.director_table}.{t.director_key} (e.g. {missing.tolist()})")
            chunked.append(chunk_rows(t, rows, ichunk[pos_ok], isub[pos_ok]))
        else:
            replicated.append((t, rows))

    all_chunks = sorted({int(c) for ct in chunked for c in ct.chunk_ids})
    placement = place_chunks(all_chunks, [w.name for w in config.workers])

    # 2. Register the database (shadow tables in the czar) and create worker tables.
    meta.register_database(spec)
    stubs = {w.name: wk.stub(w) for w in config.workers}
    chunks_of: dict[str, list[int]] = {w: [] for w in stubs}
    for c, ws in placement.items():
        for w in ws:
            chunks_of[w].append(c)
    partitioned = [t for t in spec.tables if t.partitioned]

    def prepare(worker: str):
        stmts = [f"DROP DATABASE IF EXISTS `{spec.name}`", f"CREATE DATABASE `{spec.name}`"]
        stmts += [t.ddl(spec.name) for t in spec.tables if t.role == REPLICATED]
        stmts += [t.ddl(spec.name, t.chunk_table(c)) for c in chunks_of[worker] for t in partitioned]
        wk.execute_ddl(stubs[worker], stmts)

    with ThreadPoolExecutor(max_workers=max(1, len(stubs))) as pool:
        list(pool.map(prepare, stubs))

    # 3. Send the rows.
    jobs = []  # (worker, table, columns, pa.Table slice)
    for ct in chunked:
        cols = ct.spec.column_names + list(CHUNK_COLUMNS)
        for i, c in enumerate(ct.chunk_ids):
            piece = ct.table.slice(ct.bounds[i], ct.bounds[i + 1] - ct.bounds[i])
            for copy, w in enumerate(placement[int(c)]):
                jobs.append((w, ct.spec, ct.spec.chunk_table(int(c)), cols, piece, copy == 0))
    for t, rows in replicated:
        for copy, w in enumerate(stubs):
            jobs.append((w, t, t.name, t.column_names, rows, copy == 0))

    loaded: dict[str, int] = {t.name: 0 for t in spec.tables}
    with Progress(disable=not show_progress) as progress, ThreadPoolExecutor(max_workers=2 * len(stubs)) as pool:
        task = progress.add_task(f"loading {spec.name}", total=sum(j[4].num_rows for j in jobs))

        def send(job):
            w, table_spec, table, cols, rows, first_copy = job
            n = wk.load_table(stubs[w], spec.name, table, cols, to_csv(rows))
            if n != rows.num_rows:
                raise RuntimeError(f"{w}: {spec.name}.{table} loaded {n} of {rows.num_rows} rows")
            progress.advance(task, rows.num_rows)
            return table_spec.name, n if first_copy else 0

        for name, n in pool.map(send, jobs):
            loaded[name] += n

    for t in spec.tables:
        if t.role == DIRECTOR:
            keys, ichunk, isub = index[t.name.lower()]
            meta.store_director_index(spec.name, t.name, keys, ichunk, isub)
    meta.set_placement(spec.name, placement)
    meta.publish(spec.name)
    return loaded


def load_single(conn, spec: DatabaseSpec) -> dict[str, int]:
    """Load the same catalog into ONE plain MariaDB (no chunking): the reference that tests
    and benchmarks compare Qserv against. `conn` is a pymysql connection."""
    import tempfile
    from qserv.catalog import LOAD_FORMAT
    counts = {}
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{spec.name}`")
        cur.execute(f"CREATE DATABASE `{spec.name}`")
        for t in spec.tables:
            cur.execute(t.ddl(spec.name, with_chunk_columns=False))
            rows = read_csv(spec, t)
            with tempfile.NamedTemporaryFile(suffix=".csv") as f:
                f.write(to_csv(rows))
                f.flush()
                cols = ", ".join(f"`{c}`" for c in t.column_names)
                cur.execute(f"LOAD DATA LOCAL INFILE '{f.name}' INTO TABLE `{spec.name}`.`{t.name}` "
                            f"{LOAD_FORMAT} ({cols})")
            counts[t.name] = rows.num_rows
    return counts
