"""Orchestration: tasks over a process pool, progress, director index, manifest."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import time
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from partitioner import lines, presample, readers, writers
from partitioner.relay import Relay
from partitioner.chunking import Block, TableJob, process_block, process_lines, reset
from partitioner.dialect import OUTPUT_CSV, CsvDialect
from qserv.catalog import CHILD, CHUNK_COLUMNS, DIRECTOR, REPLICATED, DatabaseSpec, TableSpec
from qserv.geometry import Chunker

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


class PartitionError(Exception):
    """A problem with the input (bad row, missing director, ...) naming the file and line."""


@dataclass
class Options:
    out_dir: str
    fmt: str = "csv"                  # csv | parquet
    jobs: int = 1
    piece_mb: int = 32                # block size: MB of input per block read
    rejects: str | None = None        # write bad rows here instead of failing
    dry_run: bool = False
    progress: bool = True
    tables: list[str] | None = None   # only these tables (default: all of the spec)
    director_index: dict[str, str] = field(default_factory=dict)  # director -> dir of its index
    force: bool = False               # write into a non-empty out_dir
    overlap: bool = True              # False: no overlap rows (a single-database copy)


def _table_files(spec: DatabaseSpec, t: TableSpec) -> list[Path]:
    import glob
    out = []
    for pattern in t.data:
        full = str(Path(spec.source_dir) / pattern)
        hits = sorted(glob.glob(full)) if any(ch in pattern for ch in "*?[") else [full]
        if not hits:
            raise PartitionError(f"{t.name}: no input file matches {pattern!r}")
        for h in hits:
            if not Path(h).exists():
                raise PartitionError(f"{t.name}: input file {h} does not exist")
        out += [Path(h) for h in hits]
    return out


def _pool_init(relay) -> None:
    """In each worker: every append goes to the parent, which writes alone (partitioner/relay.py)."""
    writers.appender.set_remote(relay)


def _run_task(job: TableJob, task: readers.Task) -> dict:
    """Worker side: read a task's blocks and write them; returns counts."""
    stats = {"rows": 0, "out": 0, "rejected": 0, "by_position": 0, "chunks": defaultdict(lambda: [0, 0]),
             "max_offset": -1.0, "offset_unknown": False,
             "bytes": task.nbytes, "path": task.path, "index": task.index}
    malformed: list[str] = []

    def handler(row):
        malformed.append(row.text)
        return "skip"

    row_base = 0
    for table, fast in _blocks(job, task, handler):
        if malformed:
            job.reject_malformed(task, malformed, row_base)
            stats["rejected"] += len(malformed)
            stats["rows"] += len(malformed)
            malformed.clear()
        res = process_lines(job, fast) if isinstance(fast, lines.FastBlock) else None
        if res is None:
            if table is None:
                raw = fast.raw if isinstance(fast, _Raw) else fast.source
                table = readers.read_csv_buffer(raw, job.dialect, job.file_columns[task.path],
                                                job.spec.column_names, handler)
                if malformed:
                    job.reject_malformed(task, malformed, row_base)
                    stats["rejected"] += len(malformed)
                    stats["rows"] += len(malformed)
                    malformed.clear()
            res = process_block(job, Block(task, row_base, table))
        rows = res.rows_out + res.rejected
        row_base += rows
        stats["rows"] += rows
        stats["out"] += res.rows_out
        stats["rejected"] += res.rejected
        stats["by_position"] += res.by_position
        stats["max_offset"] = max(stats["max_offset"], res.max_offset)
        stats["offset_unknown"] |= res.offset_unknown
        for c, n in res.chunk_rows.items():
            stats["chunks"][c][0] += n
        for c, n in res.overlap_rows.items():
            stats["chunks"][c][1] += n
        writers.end_block()
    if malformed:
        job.reject_malformed(task, malformed, row_base)
        stats["rejected"] += len(malformed)
        stats["rows"] += len(malformed)
    if job.close_files:
        writers.close_all()
    else:   # written by the end of the run (a pool worker's appends went to the parent already)
        writers.flush()
    stats["chunks"] = dict(stats["chunks"])
    return stats


def _blocks(job: TableJob, task: readers.Task, handler):
    """(pa.Table, None) blocks of the general path, or (None, FastBlock-or-raw) of the line
    path (splittable CSV whose columns are the table's, in order): a FastBlock when
    lines.fast_block accepts the block, else a stand-in holding the raw bytes to parse."""
    path = Path(task.path)
    if readers.is_parquet(path):
        for t in readers.read_parquet_blocks(task, job.spec.column_names, job.block_rows):
            yield t, None
        return
    names = job.file_columns[task.path]
    if not job.dialect.splittable or names != job.spec.column_names:
        for t in readers.read_csv_blocks(task, job.dialect, names, job.spec.column_names,
                                         job.block_bytes, handler):
            yield t, None
        return
    want = {}
    if job.spec.partitioned:
        want[job.spec.director_key] = int
        if job.spec.role == DIRECTOR or job.spec.has_position:   # (a child's: its margin)
            want[job.spec.ra] = want[job.spec.dec] = float
    for buf in lines.raw_blocks(task, job.dialect, job.block_bytes):
        fb = lines.fast_block(buf, job.dialect, names, want) if job.fmt == "csv" else None
        yield None, (fb if fb is not None else _Raw(buf))


class _Raw:
    """A block the line path declined: its bytes, parsed by pyarrow instead."""
    def __init__(self, raw: bytes):
        self.raw = raw


def _keep_freed_memory() -> None:
    """Ask glibc to serve large arrays from the heap and to keep 64 MB spare at its top:
    every block allocates the same few hundred MB of numpy temporaries, and fresh mmaps (or
    heap pages trimmed and grown again) cost a page fault per 4 KiB each time, each also a
    fault in the hypervisor on this VM. The spare 64 MB halved the faults of a 10M-row run
    (153-160k -> 81-83k) with the same peak RSS (498-503 MB). glibc's trim threshold stays as
    it is: never giving memory back made RSS creep by ~1.6 MB per block with fragmentation
    (547 -> 612 MB over 30M rows), where now it stays within 490-555 MB however long the run."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)    # M_MMAP_THRESHOLD
        libc.mallopt(-2, 64 << 20)   # M_TOP_PAD
    except (OSError, AttributeError):
        pass


def partition(spec: DatabaseSpec, options: Options) -> dict:
    """Partition the tables of `spec` into `options.out_dir`; returns the manifest (a dict),
    also written to `<out_dir>/manifest.json` (not for a dry run)."""
    import gc
    gc_was_enabled = gc.isenabled()
    gc.disable()       # no cycles are made here; collections walked every object per block
    try:
        return _partition(spec, options)
    finally:
        if gc_was_enabled:
            gc.enable()


def _partition(spec: DatabaseSpec, options: Options) -> dict:
    reset()
    writers.forget_checksums()
    _keep_freed_memory()
    out = Path(options.out_dir)
    if options.fmt not in ("csv", "parquet"):
        raise PartitionError(f"unknown output format {options.fmt!r} (csv or parquet)")
    old = None
    if not options.dry_run:
        if out.exists() and any(out.iterdir()):
            if not options.force:
                raise PartitionError(f"output directory {out} is not empty (use --force to replace it)")
            # set aside, deleted once the new output is written: ext4 creates files slowly
            # (up to ~0.5 ms each) next to thousands of inodes freed in the last seconds
            old = out.with_name(f".{out.name}.replaced-{os.getpid()}")
            out.rename(old)
        out.mkdir(parents=True, exist_ok=True)
    scratch = Path(options.out_dir if not options.dry_run else
                   os.path.join(os.environ.get("TMPDIR", "/tmp"), f"qserv-dry-{os.getpid()}"))
    scratch.mkdir(parents=True, exist_ok=True)
    chunker = Chunker(spec.chunk_order, spec.subchunk_bits)
    names = options.tables or [t.name for t in spec.tables]
    tables = [spec.table(n) for n in names]
    # directors first (children need their index), then children, then replicated tables
    tables.sort(key=lambda t: {DIRECTOR: 0, CHILD: 1, REPLICATED: 2}[t.role])
    if options.rejects and not options.dry_run:
        Path(options.rejects).parent.mkdir(parents=True, exist_ok=True)
        Path(options.rejects).write_bytes(b"")

    manifest = {
        "version": MANIFEST_VERSION, "database": spec.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "chunk_order": spec.chunk_order, "subchunk_bits": spec.subchunk_bits,
        "overlap_deg": spec.overlap_deg, "format": options.fmt,
        "csv": OUTPUT_CSV if options.fmt == "csv" else None,
        "spec": json.loads(spec.to_json()), "tables": {},
    }
    index_dirs = dict(options.director_index)
    started = time.monotonic()
    progress = _Progress(options.progress)
    try:
        with progress:
            for t in tables:
                manifest["tables"][t.name] = _partition_table(
                    spec, t, chunker, options, scratch, index_dirs, progress)
                if t.role == DIRECTOR:
                    index_dirs.setdefault(t.name, str(scratch / t.name))
    finally:
        if options.dry_run:
            shutil.rmtree(scratch, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    manifest["seconds"] = round(time.monotonic() - started, 3)
    if not options.dry_run:
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _partition_table(spec, t: TableSpec, chunker: Chunker, options: Options, scratch: Path,
                     index_dirs: dict, progress) -> dict:
    """Partition one table's input files into `scratch/<table>`; its manifest entry."""
    files = _table_files(spec, t)
    dialect = CsvDialect.from_spec(t.csv)
    tdir = scratch / t.name
    tdir.mkdir(parents=True, exist_ok=True)
    index_dir = None
    if t.role == CHILD:
        index_dir = index_dirs.get(t.director_table)
        if index_dir is None:
            raise PartitionError(f"child table {t.name}: the director index of {t.director_table} is "
                                 f"unknown (partition {t.director_table} in the same run, or give "
                                 f"--director-index {t.director_table}=DIR)")
        _prepare_index(Path(index_dir), t.director_table)
        if t.has_position:
            _prepare_positions(Path(index_dir))
    job = TableJob(spec=t, dialect=dialect, chunker=chunker,
                   overlap=spec.overlap_of(t) if options.overlap else 0.0,
                   out_dir=str(tdir), fmt=options.fmt, lock=False,   # one writer per file: see relay.py
                   write=not options.dry_run, rejects=options.rejects,
                   file_columns=_file_columns(files, t, dialect),
                   index_dir=index_dir, block_bytes=max(1 << 20, options.piece_mb << 20),
                   positions=t.role == DIRECTOR and _children_have_positions(spec, t))
    piece = options.piece_mb << 20
    if options.jobs > 1:     # fewer, larger tasks (two per worker): less per-task overhead;
        total = sum(f.stat().st_size for f in files)   # blocks unchanged
        piece = max(piece, min(4 * piece, total // (2 * options.jobs) + 1))
    tasks = readers.plan_tasks(t.name, files, dialect, piece)
    expected = []
    if t.role == DIRECTOR and job.write and job.overlap >= 0:
        expected = presample.chunk_files(job, tasks, tdir)
        if not (options.jobs > 1 and len(tasks) > 1):
            writers.prepare(expected)             # created by the I/O thread while block 1 is read
    try:
        results = progress.run(t.name, job, tasks, options.jobs, create=expected)
    finally:
        writers.close_all()
    chunks, entry = _table_entry(spec, t, options, files, results)
    if options.dry_run:
        entry["chunks"] = {str(c): {"rows": n, "overlap_rows": o} for c, (n, o) in sorted(chunks.items())}
        return entry
    if options.fmt == "parquet":
        for part in sorted(tdir.glob("*.parquet.part")):
            writers.finish_parquet(part)
    if t.role == REPLICATED:
        return _replicated_files(entry, t, tdir, options.fmt, bool(chunks))
    return _chunk_files(entry, t, tdir, options, chunks)


def _children_have_positions(spec: DatabaseSpec, director: TableSpec) -> bool:
    """Whether a child of `director` has a position of its own: then the director's positions
    are kept (positions.part) to measure the child's offsets (TableSpec.position_margin)."""
    return any(t.role == CHILD and t.director_table == director.name and t.has_position
               for t in spec.tables)


def _position_margin(t: TableSpec, results: list[dict]) -> dict:
    """A child with positions of its own: the largest offset of a row's position from its
    director's (degrees), the bound the czar widens regions by (`position_margin`); None when
    the director's positions were not kept (an index of another run: --director-index)."""
    if t.role != CHILD or not t.has_position:
        return {}
    if any(r["offset_unknown"] for r in results):
        return {"position_margin": None}
    return {"position_margin": max([0.0] + [r["max_offset"] for r in results])}


def _file_columns(files: list[Path], t: TableSpec, dialect) -> dict[str, list[str]]:
    """The columns of each CSV input file, in its order: its header's (which must name
    every column of the table) or the table's."""
    file_columns = {}
    for f in files:
        if readers.is_parquet(f):
            continue
        if dialect.header:
            cols = readers.read_header(f, dialect)
            missing = [c for c in t.column_names if c not in cols]
            if missing:
                raise PartitionError(f"{f}: header lacks column(s) {missing} of table {t.name}")
        else:
            cols = t.column_names
        file_columns[str(f)] = cols
    return file_columns


def _table_entry(spec, t: TableSpec, options: Options, files: list[Path],
                 results: list[dict]) -> tuple[dict[int, list[int]], dict]:
    """The tasks' results summed: rows and overlap rows per chunk, and the table's manifest
    entry without its files."""
    per_file: dict[str, int] = defaultdict(int)
    for r in results:
        per_file[r["path"]] += r["rows"]
    chunks: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for r in results:
        for c, (n, o) in r["chunks"].items():
            chunks[int(c)][0] += n
            chunks[int(c)][1] += o
    entry = {
        "role": t.role, "columns": t.column_names + (list(CHUNK_COLUMNS) if t.partitioned else []),
        "ra": t.ra, "dec": t.dec, "director_key": t.director_key, "director_table": t.director_table,
        "overlap_deg": spec.overlap_of(t) if options.overlap else 0.0,
        "inputs": [{"path": str(f), "rows": per_file[str(f)], "bytes": f.stat().st_size} for f in files],
        "rows": sum(r["rows"] for r in results), "rows_out": sum(r["out"] for r in results),
        "rejected": sum(r["rejected"] for r in results),
        "placed_by_position": sum(r["by_position"] for r in results),
        "overlap_rows": sum(o for _, o in chunks.values()),
        **_position_margin(t, results),
    }
    return chunks, entry


def _replicated_files(entry: dict, t: TableSpec, tdir: Path, ext: str, any_rows: bool) -> dict:
    """A replicated table's one file (its rows were written under chunk id -1)."""
    path = tdir / f"{t.name}.{ext}"
    rows_sum = None
    if any_rows:
        rows_sum = writers.row_checksum(tdir / f"chunk_-1.{ext}")
        (tdir / f"chunk_-1.{ext}").rename(path)
    else:
        _empty_file(path, t, ext)
    entry["file"] = f"{t.name}/{path.name}"
    entry["checksum"] = writers.checksum(path)
    if rows_sum:
        entry["row_checksum"] = rows_sum
    return entry


def _chunk_files(entry: dict, t: TableSpec, tdir: Path, options: Options,
                 chunks: dict[int, list[int]]) -> dict:
    """A partitioned table's chunk and overlap files in the manifest, with their checksums;
    a director's index file is finished meanwhile."""
    ext = options.fmt
    entry["chunks"] = {}
    names = [f"chunk_{c}{kind}.{ext}" for c, (n, o) in sorted(chunks.items())
             for kind, k in (("", n), ("_overlap", o)) if k]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as side:     # the index file is written meanwhile
        index = side.submit(_finish_index, tdir, t, ext) if t.role == DIRECTOR else None
        sums = dict(zip(names, _checksums([tdir / x for x in names], options.jobs)))
    for c, (n, o) in sorted(chunks.items()):
        e = {"rows": n, "overlap_rows": o}
        for kind, k, key in (("", n, ""), ("_overlap", o, "overlap_")):
            if k:
                e[f"{key}file"] = f"{t.name}/chunk_{c}{kind}.{ext}"
                e[f"{key}checksum"] = sums[f"chunk_{c}{kind}.{ext}"]
                rows_sum = writers.row_checksum(tdir / f"chunk_{c}{kind}.{ext}")
                if rows_sum:
                    e[f"{key}row_checksum"] = rows_sum
        entry["chunks"][str(c)] = e
    if index is not None:
        entry["index"] = index.result()
    return entry


def _checksums(paths: list[Path], jobs: int) -> list[str]:
    """writers.checksum of each file, by a few threads (reads and zlib.crc32 release the GIL:
    thousands of chunk files are read back faster side by side)."""
    if len(paths) < 64:
        return [writers.checksum(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor
    groups = [paths[i:i + 64] for i in range(0, len(paths), 64)]
    with ThreadPoolExecutor(max(2, min(8, 2 * jobs))) as pool:
        return [s for g in pool.map(lambda g: [writers.checksum(p) for p in g], groups) for s in g]


def _empty_file(path: Path, t: TableSpec, ext: str) -> None:
    if ext == "csv":
        path.write_bytes(b"")
    else:
        import pyarrow.parquet as pq
        pq.write_table(pa.table({c: pa.array([], pa.string()) for c in t.column_names}), path)


def _finish_index(tdir: Path, t: TableSpec, ext: str, slice_rows: int = 1 << 20) -> dict:
    """The director index as a LOAD-ready file `<Table>/index.<ext>` (key, chunkId, subChunkId).
    CSV: written block by block already (chunking._place_directors), in the order of
    index.part; Parquet: converted from index.part slice by slice (memory does not grow)."""
    part = tdir / "index.part"
    total = part.stat().st_size // writers.INDEX_DTYPE.itemsize if part.exists() else 0
    schema = pa.schema([(t.director_key, pa.int64()), ("chunkId", pa.int32()), ("subChunkId", pa.int32())])
    path = tdir / f"index.{ext}"
    if ext == "csv":
        if not path.exists():
            path.write_bytes(b"")
    else:
        import pyarrow.parquet as pq
        with pq.ParquetWriter(path, schema) as out:
            for start in range(0, total, slice_rows):
                raw = np.fromfile(part, dtype=writers.INDEX_DTYPE, count=min(slice_rows, total - start),
                                  offset=start * writers.INDEX_DTYPE.itemsize)
                out.write_table(pa.table([raw["key"], raw["chunk"], raw["sub"]], schema=schema))
    rows_sum = writers.row_checksum(path) if ext == "csv" and total else None
    return {"file": f"{t.name}/{path.name}", "rows": int(total), "columns": schema.names,
            "checksum": writers.checksum(path), **({"row_checksum": rows_sum} if rows_sum else {}),
            # the same as fixed-size binary records (int64 key, int32 chunkId, int32 subChunkId)
            "raw": f"{t.name}/index.part"}


def _prepare_index(index_dir: Path, director: str) -> None:
    """Sorted arrays (keys.npy, chunks.npy, subs.npy) of a director's index, for children.
    Memory grows with the number of directors (16 bytes each); children map them read-only."""
    if (index_dir / "keys.npy").exists():
        return
    part = index_dir / "index.part"
    if not part.exists():
        raise PartitionError(f"no director index of {director} in {index_dir}")
    raw = np.fromfile(part, dtype=writers.INDEX_DTYPE)
    order = np.argsort(raw["key"], kind="stable")
    keys = raw["key"][order]
    dup = np.flatnonzero(keys[1:] == keys[:-1])
    if len(dup):
        raise PartitionError(f"{director}: director key {int(keys[dup[0]])} appears more than once "
                             f"({len(dup)} duplicate keys)")
    np.save(index_dir / "keys.npy", keys)
    np.save(index_dir / "chunks.npy", raw["chunk"][order])
    np.save(index_dir / "subs.npy", raw["sub"][order])


def _prepare_positions(index_dir: Path) -> None:
    """ras.npy, decs.npy: the directors' positions in keys.npy's order, when positions.part was
    kept (partitioner/chunking.py: a director whose children have positions of their own)."""
    part = index_dir / "positions.part"
    if (index_dir / "ras.npy").exists() or not part.exists():
        return
    raw = np.fromfile(part, dtype=writers.POSITION_DTYPE)
    keys = np.load(index_dir / "keys.npy", mmap_mode="r")
    order = np.argsort(raw["key"], kind="stable")
    if len(raw) != len(keys) or not np.array_equal(raw["key"][order], keys):
        return    # not the same rows as the index: no positions (offsets unknown)
    np.save(index_dir / "ras.npy", raw["ra"][order])
    np.save(index_dir / "decs.npy", raw["dec"][order])


class _NoBar:
    """The progress bar's interface, showing nothing (progress disabled)."""

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        pass

    def __exit__(self, *exc) -> None:
        return None


class _Progress:
    """A rich progress bar (rows, MB/s, ETA) over the tasks of each table; plain periodic
    lines when stdout is no terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        if not self.enabled:          # (-q: rich is not even imported, ~0.06 s)
            self.bar = _NoBar()
            return self
        from qserv.progress import PlainProgress, interactive
        if not interactive():         # a log or a pipe: plain lines, not a redrawn bar
            self.bar = PlainProgress()
            return self
        from rich.progress import (BarColumn, Progress, TextColumn, TimeRemainingColumn,
                                   TransferSpeedColumn)
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.fields[rows]:>12,} rows"), TransferSpeedColumn(),
                            TimeRemainingColumn(), disable=not self.enabled, transient=False)
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def run(self, name: str, job: TableJob, tasks: list, jobs: int, create=()) -> list[dict]:
        bar = self.bar.add_task(f"partition {name}", total=sum(t.nbytes for t in tasks) or 1, rows=0)
        rows = 0
        results = []
        if jobs <= 1 or len(tasks) <= 1:
            for task in tasks:
                r = _run_task(job, task)
                rows += r["rows"]
                self.bar.update(bar, advance=task.nbytes, rows=rows)
                results.append(r)
            return results
        ctx = multiprocessing.get_context("fork")
        relay = Relay(ctx, jobs)
        relay.start_writer(writers.appender.write_now,
                           before=lambda: writers.appender.create_now(create))
        with contextlib.ExitStack() as stack:
            stack.callback(relay.finish)     # after the pool is gone: every piece was sent
            pool = stack.enter_context(ProcessPoolExecutor(
                max_workers=jobs, mp_context=ctx, initializer=_pool_init, initargs=(relay,)))
            pending = {pool.submit(_run_task, job, task): task for task in tasks}
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        task = pending.pop(f)
                        r = f.result()
                        rows += r["rows"]
                        self.bar.update(bar, advance=task.nbytes, rows=rows)
                        results.append(r)
            except BaseException:
                for f in pending:
                    f.cancel()
                raise
        return results
